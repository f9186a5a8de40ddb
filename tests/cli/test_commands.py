"""Every command module is registered, loads, is listed by `--help`, describes `--json` alike."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tfstudio.cli import COMMAND_MODULES, build_parser
from tfstudio.cli.command_index import COMMANDS
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
        "cli.COMMANDS = (*cli.COMMANDS, ('renamed', 'renamed_cmd', 'gone'))\n"
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


def test_the_command_index_is_what_the_modules_register() -> None:
    """`--help` lists commands from the index without importing them: it must not drift."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    registered = [(a.dest, a.help) for a in sub._choices_actions]
    assert registered == [(name, help_text) for name, _, help_text in COMMANDS]
    for module in COMMAND_MODULES:  # each name is indexed under the module that registers it
        alone = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(module).register(alone)
        assert [n for n, m, _ in COMMANDS if f"tfstudio.cli.{m}" == module] == list(alone.choices)


def test_help_lists_every_command_and_loads_no_command_module() -> None:
    code = (
        "import contextlib, io, json, sys\n"
        "from tfstudio.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "loaded = sorted(m for m in sys.modules if m.endswith('_cmd'))\n"
        "print(json.dumps({'out': out.getvalue(), 'loaded': loaded}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    found = json.loads(proc.stdout)
    assert found["loaded"] == []
    listed = {line.split()[0] for line in found["out"].splitlines() if line.startswith("    ")}
    assert set(_subcommands(build_parser())) <= listed


def test_a_command_whose_module_is_broken_fails_when_run(tmp_path: Path) -> None:
    """The lazy parser imports the named command's module: a broken one is an error, not a gap."""
    code = (
        "import tfstudio.cli as cli\n"
        "cli.COMMANDS = (*cli.COMMANDS, ('renamed', 'renamed_cmd', 'gone'))\n"
        "try:\n"
        "    cli.build_parser(['renamed', '--help'])\n"
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
