"""One CLI grammar (issue 19): where a command acts is `--on NAME[,NAME...]|all` in every
command (the old spellings still parse), options are never abbreviated (an unknown
one is named, with the option meant), a command group alone does its listing,
positional names are spelled one way, and a table wider than the terminal drops
columns rather than breaking a value across lines."""

from __future__ import annotations

import argparse
import io
import re
from pathlib import Path

import pytest

from tfstudio.cli import build_parser, main
from tfstudio.cli.output import print_table


def _commands() -> dict[str, argparse.ArgumentParser]:
    """Every command and subcommand by its words ('devices add')."""
    found: dict[str, argparse.ArgumentParser] = {}
    pending = [("", build_parser())]
    while pending:
        words, parser = pending.pop()
        found[words] = parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                pending.extend((f"{words} {k}".strip(), v) for k, v in action.choices.items())
    return found


@pytest.mark.parametrize(
    "argv",
    [
        ["deploy", "m.tflite", "--on", "a,b"],
        ["deploy", "m.tflite", "--to", "a,b"],  # the old spelling
        ["bench", "m.tflite", "--on", "a,b"],
        ["eval", "m.tflite", "--on", "a,b", "--eval-data", "d.npz"],
        ["report", "--on", "a,b"],
        ["watch", "dir", "--on", "a,b"],
        ["watch", "dir", "--deploy-to", "a,b"],  # the old spelling
        ["models", "--on", "a,b"],
    ],
)
def test_where_is_on_in_every_command(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert args.on == "a,b"


def test_the_demo_says_where_with_on_too() -> None:
    parser = build_parser()
    assert parser.parse_args(["demo", "--on", "cam1"]).on == "cam1"
    assert parser.parse_args(["demo", "--device", "cam1"]).on == "cam1"  # the old spelling
    assert parser.parse_args(["demo"]).on == "local"


def test_help_says_the_grammar_once_and_each_command_the_same_way(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "--on NAME[,NAME...]|all" in capsys.readouterr().out
    for words in ("deploy", "bench", "eval", "report", "watch", "models"):
        with pytest.raises(SystemExit):
            main([*words.split(), "--help"])
        text = capsys.readouterr().out
        assert "--on NAME[,NAME...]|all" in text, words
        assert "--to " not in text and "--deploy-to" not in text, words  # aliases unlisted


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["eval", "m.tflite", "--to", "local"], "unknown option --to (did you mean --on?)"),
        (["bench", "m.tflite", "--o", "local"], "unknown option --o (did you mean --on?)"),
        (["deploy", "m.tflite", "--on", "local", "--max-p99", "3"], "(did you mean --max-p99-ms?)"),
        (["devices", "add", "x", "--hots", "h"], "unknown option --hots (did you mean --host?)"),
        (["jobs", "list", "--zzz"], "unknown option --zzz\n"),
    ],
)
def test_options_are_never_abbreviated_and_an_unknown_one_is_named(
    argv: list[str], said: str, capsys
) -> None:
    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert said in err + "\n", err
    assert "invalid float value" not in err and "required" not in err


def test_a_command_group_alone_does_its_listing() -> None:
    parser = build_parser()
    for group, default in (
        ("devices", "list"),
        ("engines", "list"),
        ("jobs", "list"),
        ("images", "list"),
        ("agent", "list"),
        ("pipeline", "log"),
    ):
        alone = parser.parse_args([group])
        explicit = parser.parse_args([group, default])
        assert alone.handler is explicit.handler, group


def test_a_group_alone_runs_without_a_usage_error(capsys) -> None:
    for group in ("devices", "agent", "pipeline"):
        assert main([group]) == 0, group
        out = capsys.readouterr().out
        assert "usage:" not in out, group


def test_positional_names_are_spelled_one_way() -> None:
    for words, parser in _commands().items():
        for action in parser._actions:
            if action.option_strings or isinstance(action, argparse._SubParsersAction):
                continue
            if action.nargs == argparse.REMAINDER:
                continue  # train's `-- CMD ...`: the command to run
            shown = action.metavar or action.dest
            assert re.fullmatch(r"[A-Z][A-Z0-9.,_=\[\]|a-z-]*", str(shown)), (words, shown)
            assert str(shown)[:4].isupper() or len(str(shown)) < 4, (words, shown)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("width", [80, 120])
def test_a_wide_table_drops_columns_and_never_breaks_a_value(
    width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    headers = ["device", "address", "online", "agent", "runtime", "p50", "last seen", "note"]
    rows = [
        ["camera-front-left", "pi@192.168.100.201:2222", "yes", "0.9.1",
         "ai-edge-litert 2.3.0", 12.345, "2026-11-20T10:09:00+00:00",
         "a long note that would never fit beside everything else on one line"],
        ["local", "this machine", "yes", "built in", "tflite-runtime 2.14.0", 0.021,
         "2026-11-20T10:09:00+00:00", "-"],
    ]  # fmt: skip
    out = _Terminal()
    print_table(headers, rows, file=out)
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())  # the colours, not the text
    lines = text.rstrip("\n").splitlines()
    assert all(len(line) <= width for line in lines), lines
    body = [line for line in lines if "camera" in line or "local" in line]
    assert len(body) == 2, lines  # one line per row: nothing wrapped
    for value in ("camera-front-left", "yes", "0.9.1", "built in"):
        assert value in text, (value, lines)
    if width == 120:
        assert "12.345" in text and "0.021" in text  # numbers are whole or not shown
    assert "note hidden" in text  # says which columns it left out


def test_report_on_lists_only_those_devices(capsys, studio_home: Path) -> None:
    import json

    from tfstudio.studio import Studio
    from tfstudio.studio.types import Device

    Studio().add_device(Device(name="cam1", host="192.0.2.10"))
    measured = {"time": "2026-11-20T10:00:00+00:00", "device": "local", "sha256": "ab" * 32,
                "model": "m.tflite", "p50_ms": 0.02, "p99_ms": 0.04}  # fmt: skip
    (studio_home / "bench.jsonl").write_text(json.dumps(measured) + "\n")
    assert main(["report", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["devices"] == ["local"]
    assert main(["report", "--on", "cam1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["devices"] == ["cam1"]  # only where asked
