"""The one grammar of every command: the parser they share and the `--on` flag.

- Where a command puts or measures a model is `--on NAME[,NAME...]|all`, in every
  command (`add_where`). Older spellings (`deploy --to`, `watch --deploy-to`,
  `demo --device`) still parse, as hidden aliases of the same flag.
- Options are never abbreviated (`--to` is not `--tolerance`): an option argparse
  does not know is named, with the one meant when one is close, as docker and
  kubectl do: `unknown option --to (did you mean --on?)`.
- A command group alone does its listing (`set_default`): `devices`, `engines`,
  `jobs`, `images`, `agent` list, `pipeline` shows its log.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

WHERE_METAVAR = "NAME[,NAME...]|all"
"""How every command shows the devices it acts on."""
GRAMMAR = """\
one grammar:
  where     a command that puts or measures a model somewhere says where with
            --on NAME[,NAME...]|all  (deploy, bench, eval, report, watch, demo,
            models), or a selector of labels: --on site=lab,group:cameras;
            a command about one device takes its NAME first
            (devices check NAME, agent install NAME, rollback NAME)
  options   never abbreviated: --to is not --tolerance
  groups    devices, engines, jobs, images and agent alone list;
            pipeline alone shows its log
  --json    one JSON document on stdout, errors too
"""
"""The grammar, for `tfstudio --help` (drawn as written)."""


class StudioParser(argparse.ArgumentParser):
    """An ArgumentParser without abbreviations that names an unknown option and the
    option meant; subcommands' parsers are of this class too (argparse's default)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self.seen: list[str] = []
        self.where_required = False

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self.seen = list(sys.argv[1:] if args is None else args)
        unknown = self.unknown_option()
        if unknown is not None:
            self.error_unknown(*unknown)
        parsed, extras = super().parse_known_args(args, namespace)
        if self.where_required and getattr(parsed, "on", None) is None:
            self.error(f"the following arguments are required: --on {WHERE_METAVAR}")
        return parsed, extras

    def _long_options(self) -> list[str]:
        return [o for a in self._actions for o in a.option_strings if o.startswith("--")]

    def _commands(self) -> dict[str, StudioParser]:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return {}

    def unknown_option(self) -> tuple[StudioParser, str] | None:
        """Returns (parser, option) for the first `--option` of the command line no parser
        on its path knows, or None. Words after `--` are arguments, never options."""
        words = self.seen
        subparsers = self._commands()
        by_option = {o: a for a in self._actions for o in a.option_strings}
        rest = any(a.nargs == argparse.REMAINDER for a in self._actions)
        i = 0
        while i < len(words):
            word = words[i]
            if word == "--":
                return None
            if word in subparsers:
                child = subparsers[word]
                child.seen = words[i + 1 :]
                return child.unknown_option()
            name = word.split("=", 1)[0]
            if word.startswith("--") and name not in by_option:
                return self, name
            if word.startswith("-") and name in by_option and "=" not in word:
                i += _values(by_option[name])  # an option's value is not an option
            elif not word.startswith("-") and rest:
                return None  # the command to run starts here: its options are its own
            i += 1
        return None

    def error_unknown(self, parser: StudioParser, option: str) -> NoReturn:
        """Exits 2 naming `option`, and the option of `parser` closest to it."""
        options = parser._long_options()
        close = difflib.get_close_matches(option, options, n=1, cutoff=0.6)
        if not close:
            close = [o for o in options if o.startswith(option)][:1]
        if not close:
            close = [o for o in options if option.startswith(o + "-")][:1]
        meant = f" (did you mean {close[0]}?)" if close else ""
        parser.error(f"unknown option {option}{meant}")


def _values(action: argparse.Action) -> int:
    """How many words an option takes after it (the common cases)."""
    if action.nargs == 0 or isinstance(
        action, (argparse._StoreConstAction, argparse._CountAction, argparse._HelpAction)
    ):
        return 0
    if isinstance(action.nargs, int):
        return action.nargs
    return 1 if action.nargs is None else 0


def add_where(
    parser: argparse.ArgumentParser,
    *aliases: str,
    required: bool = False,
    default: str | None = None,
    help: str | None = None,  # noqa: A002 - argparse's name
    one: bool = False,
) -> None:
    """Adds `--on` (and hidden `aliases`, the old spellings) to a command. With `one`,
    the command acts on a single device (metavar NAME)."""
    metavar = "NAME" if one else WHERE_METAVAR
    text = help or "the devices to act on: names, comma-separated, or all"
    if default is not None:
        text += f" (default: {default})"
    parser.add_argument("--on", dest="on", metavar=metavar, default=default, help=text)
    for alias in aliases:
        parser.add_argument(alias, dest="on", metavar=metavar, help=argparse.SUPPRESS)
    if required and isinstance(parser, StudioParser):
        parser.where_required = True


def set_default(group: argparse.ArgumentParser, listing: argparse.ArgumentParser) -> None:
    """Makes `group` alone do what `group LISTING` does (same handler, same defaults)."""
    defaults = {
        a.dest: a.default
        for a in listing._actions
        if a.dest not in ("help",) and a.default is not argparse.SUPPRESS
    }
    group.set_defaults(**defaults, handler=listing.get_default("handler"))
