"""Every command module is registered, loads, and describes `--json` the same way."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tfstudio.cli import COMMAND_MODULES, build_parser
from tfstudio.cli.output import JSON_HELP


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_command_module_in_the_folder_is_registered() -> None:
    found = {f"tfstudio.cli.{p.stem}" for p in (REPO / "tfstudio" / "cli").glob("*_cmd.py")}
    assert found == set(COMMAND_MODULES)


def test_a_command_module_that_fails_to_import_fails_the_parser(tmp_path: Path) -> None:
    """A broken or renamed command must not vanish quietly from `--help`."""
    code = (
        "import sys, tfstudio.cli as cli\n"
        "cli.COMMAND_MODULES = (*cli.COMMAND_MODULES, 'tfstudio.cli.renamed_cmd')\n"
        "try:\n"
        "    cli.build_parser()\n"
        "except ModuleNotFoundError as exc:\n"
        "    print('refused', exc.name)\n"
        "else:\n"
        "    print('accepted')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert proc.stdout.strip() == "refused tfstudio.cli.renamed_cmd", proc.stderr


def test_every_json_flag_is_described_the_same_way() -> None:
    seen = 0
    pending = list(_subcommands(build_parser()).items())
    while pending:
        name, parser = pending.pop()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                pending.extend((f"{name} {k}", v) for k, v in action.choices.items())
            elif "--json" in action.option_strings:
                seen += 1
                assert action.help == JSON_HELP, name
    assert seen >= 30
