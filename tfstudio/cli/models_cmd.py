"""`tfstudio models --on NAME` (what a device stores), `tfstudio rollback NAME` and
`tfstudio prune NAME --keep N` (free space: never the active model nor its rollback target)."""

from __future__ import annotations

import argparse
from typing import Any

from tfstudio.cli.output import add_json, human_bytes, print_json, print_table, show, wants_json
from tfstudio.cli.studio_cli import cli_studio


def register(subparsers: Any) -> None:
    """Adds `models` and `rollback`."""
    models = subparsers.add_parser("models", help="list the models stored on a device")
    models.add_argument("--on", required=True, metavar="NAME")
    add_json(models)
    models.set_defaults(handler=_models)
    rollback = subparsers.add_parser("rollback", help="re-activate a device's previous model")
    rollback.add_argument("name")
    add_json(rollback)
    rollback.set_defaults(handler=_rollback)
    prune = subparsers.add_parser(
        "prune", help="remove stored models from a device (never the active one or rollback target)"
    )
    prune.add_argument("name")
    prune.add_argument(
        "--keep",
        type=int,
        required=True,
        metavar="N",
        help="keep the N most recent models; the active model and its rollback target "
        "are always kept",
    )
    prune.add_argument(
        "--drop-rollback",
        action="store_true",
        help="remove the rollback target too, when nothing else frees enough (asks first: "
        "rollback then has nothing to return to)",
    )
    prune.add_argument("--yes", action="store_true", help="do not ask before --drop-rollback")
    add_json(prune)
    prune.set_defaults(handler=_prune)


def _models(args: argparse.Namespace) -> int:
    listing = cli_studio().models_on(args.on)
    if wants_json(args):
        print_json(listing)
        return 0
    rows = [
        [
            "*"
            if m.get("active")
            else ("prev" if m.get("sha256") == listing.get("previous") else ""),
            str(m.get("sha256", ""))[:12],
            m.get("name"),
            human_bytes(m.get("size_bytes") or 0),
            m.get("min_runtime_version"),
            m.get("installed_at"),
        ]
        for m in listing.get("models", [])
    ]
    print_table(["", "sha256", "name", "size", "min_runtime", "installed"], rows)
    return 0


def _rollback(args: argparse.Namespace) -> int:
    answer = cli_studio().rollback(args.name)
    show(
        args,
        answer,
        lambda _: print(f"{args.name}: rolled back; active {str(answer.get('active'))[:12]}"),
    )
    return 0


def _prune(args: argparse.Namespace) -> int:
    studio = cli_studio()
    if args.drop_rollback and not args.yes:
        _confirm_drop(args.name)
    answer = studio.prune(args.name, args.keep, drop_rollback=args.drop_rollback)
    if wants_json(args):
        print_json(answer)
    elif not answer.get("removed"):
        kept = answer.get("kept") or []
        print(f"{args.name}: nothing to remove ({len(kept)} models stored)")
        if answer.get("rollback_target") and len(kept) <= 2 and not args.drop_rollback:
            print(
                "  only the active model and its rollback target are stored, which prune "
                f"keeps; to remove the rollback target: tfstudio prune {args.name} --keep 1 "
                "--drop-rollback"
            )
    else:
        removed = ", ".join(str(s)[:12] for s in answer["removed"])
        print(
            f"{args.name}: removed {removed}; {human_bytes(answer.get('freed_bytes') or 0)} "
            f"freed, {len(answer.get('kept') or [])} models kept"
        )
    return 0


def _confirm_drop(name: str) -> None:
    """Asks on a terminal before the rollback target goes; raises UsageError without one."""
    import sys

    from tfstudio.errors import CancelledError, UsageError

    question = (
        f"remove {name}'s rollback target as well? `tfstudio rollback {name}` will then have "
        "nothing to return to [y/N] "
    )
    if not sys.stdin.isatty():
        raise UsageError(
            "--drop-rollback removes the model rollback would return to: confirm with --yes"
        )
    if input(question).strip().lower() not in ("y", "yes"):
        raise CancelledError("nothing removed")
