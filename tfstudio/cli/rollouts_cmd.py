"""`tfstudio rollouts [ID]`: the staged rollouts recorded in the deploy log.

Without an id: one line per rollout, newest first (state, waves passed, devices,
model, selector, why it halted). With an id (or a unique prefix): its waves
(state, timings, verdict) and devices (wave, result, rollback), or `--json`.
"""

from __future__ import annotations

import argparse
from typing import Any

from tfstudio.cli.output import add_json, print_json, print_table, show, wants_json


def register(subparsers: Any) -> None:
    """Adds `rollouts`."""
    parser = subparsers.add_parser("rollouts", help="staged rollouts: list, or show one")
    parser.add_argument("id", nargs="?", metavar="ID", help="show this rollout")
    add_json(parser)
    parser.set_defaults(handler=_rollouts)


def _rollouts(args: argparse.Namespace) -> int:
    from tfstudio.cli.rollout_opts import print_rollout, summary_rows
    from tfstudio.cli.studio_cli import cli_studio

    studio = cli_studio()
    if args.id:
        record = studio.rollout_record(args.id).to_json()
        show(args, record, print_rollout)
        return 0
    records = studio.rollouts()
    if wants_json(args):
        print_json([r.to_json() for r in records])
        return 0
    if not records:
        print("no rollouts yet: tfstudio deploy MODEL --on SELECTOR --waves 1,10%,100%")
        return 0
    headers = ["id", "state", "waves", "devices", "model", "selector", "started", "halted"]
    print_table(headers, summary_rows(records))
    return 0
