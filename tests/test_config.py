"""tfstudio.toml: a value of the wrong type is refused in one line that names its key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tfstudio.config import load_config
from tfstudio.errors import ConfigError

KEYS = [
    ("deploy", "fanout"),
    ("deploy", "keep"),
    ("ssh", "connect_timeout"),
    ("ssh", "command_timeout"),
    ("ssh", "stall_timeout"),
    ("deploy", "install_timeout"),
    ("deploy", "lock_wait"),
    ("deploy", "reconnect_timeout"),
]
WRONG = {'"abc"': "a string", "[1]": "an array", "true": "a boolean", "{ a = 1 }": "a table"}


@pytest.mark.parametrize(("table", "key"), KEYS)
@pytest.mark.parametrize("value", list(WRONG))
def test_a_wrong_type_names_the_key_and_what_it_got(
    tmp_path: Path, table: str, key: str, value: str
) -> None:
    (tmp_path / "tfstudio.toml").write_text(f"[{table}]\n{key} = {value}\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    message = info.value.message
    assert f"[{table}] {key} must be a " in message and "number" in message, message
    assert str(tmp_path / "tfstudio.toml") in message and WRONG[value] in message


def test_numbers_of_either_kind_are_taken(tmp_path: Path) -> None:
    text = "[ssh]\nstall_timeout = 15\n[deploy]\nlock_wait = 2.5\n"
    (tmp_path / "tfstudio.toml").write_text(text)
    config = load_config(tmp_path)
    assert config.stall_timeout_s == 15.0 and config.lock_wait_s == 2.5


def test_the_cli_says_it_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "tfstudio.toml").write_text('[ssh]\nstall_timeout = "15s"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "tfstudio", "devices", "list"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "TFSTUDIO_HOME": str(tmp_path), "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"tfstudio: error: {tmp_path / 'tfstudio.toml'}: [ssh] stall_timeout must be a number "
        "of seconds, not a string ('15s')"
    )
