"""`deploy --waves`: the staged-rollout options of `tfstudio deploy`, running one, resuming one,
and printing how it ended. Imported by `deploy_cmd` (and `rollouts_cmd` for the tables)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from tfstudio.cli.output import print_table, show, wants_json

if TYPE_CHECKING:
    from tfstudio.operations import CancelToken
    from tfstudio.studio.types import RolloutRecord, RolloutResult, WaveGates

ROLLOUT_ONLY = ("seed", "canary", "max_failures", "soak", "max_error_rate", "max_request_p99_ms")


def add_rollout_options(parser: argparse.ArgumentParser) -> None:
    """Adds --waves, --seed, --canary, --max-failures, --soak, --max-error-rate,
    --max-request-p99-ms, --plan and --resume."""
    group = parser.add_argument_group("staged rollout")
    group.add_argument(
        "--waves",
        metavar="N|P%,...",
        help="roll out in waves, canary first: how many devices have the model after each "
        "wave (counts or percentages, ending at 100%%), e.g. 1,10%%,100%%",
    )
    group.add_argument(
        "--seed",
        type=int,
        help="order of the devices into waves (default 0; same seed, same order)",
    )
    group.add_argument("--canary", metavar="NAME[,NAME...]", help="devices that go first")
    group.add_argument(
        "--max-failures",
        type=int,
        metavar="K",
        help="a wave halts the rollout when more than K of its devices fail (default 0)",
    )
    group.add_argument(
        "--soak",
        type=duration,
        metavar="TIME",
        help="after each wave, watch the devices' live traffic this long (60s, 2m) where the "
        "agent's service runs",
    )
    group.add_argument(
        "--max-error-rate",
        type=float,
        metavar="FRACTION",
        help="soak gate: the share of failed requests a device may show (default 0.01)",
    )
    group.add_argument(
        "--max-request-p99-ms", type=float, metavar="MS", help="soak gate: request latency p99"
    )
    group.add_argument("--plan", action="store_true", help="print the waves; deploy nothing")
    group.add_argument(
        "--resume",
        metavar="ID",
        help="continue a halted or interrupted rollout (tfstudio rollouts)",
    )


def duration(text: str) -> float:
    """Parses `60`, `60s`, `2m`, `1m30s`, `1h` into seconds (argparse type)."""
    from tfstudio.errors import UsageError
    from tfstudio.studio.types import parse_duration

    try:
        return float(parse_duration(text))
    except UsageError as exc:
        raise argparse.ArgumentTypeError(f"{exc.message} ({exc.hint})") from None


def wants_rollout(args: argparse.Namespace) -> bool:
    """True when the command line asks for a staged rollout (or its plan, or a resume).

    Raises UsageError for rollout options without --waves or --resume.
    """
    from tfstudio.errors import UsageError

    if args.waves or args.resume:
        return True
    given = [o for o in ROLLOUT_ONLY if getattr(args, o) is not None] + (["plan"] * args.plan)
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise UsageError(f"{flag} is for staged rollouts", hint="add --waves 1,10%,100%")
    return False


def gates(args: argparse.Namespace) -> WaveGates:
    """Returns the wave gates of the command line. Raises UsageError."""
    from tfstudio.errors import UsageError
    from tfstudio.studio.types import SoakGate, WaveGates

    if args.max_failures is not None and args.max_failures < 0:
        raise UsageError("--max-failures is a count of devices, at least 0")
    soak = None
    if args.soak:
        soak = SoakGate(args.soak, **_soak_limits(args))
    elif args.max_error_rate is not None or args.max_request_p99_ms is not None:
        raise UsageError("--max-error-rate and --max-request-p99-ms need --soak TIME")
    return WaveGates(args.max_failures or 0, soak)


def _soak_limits(args: argparse.Namespace) -> dict[str, Any]:
    from tfstudio.errors import UsageError

    out: dict[str, Any] = {}
    if args.max_error_rate is not None:
        if not 0 <= args.max_error_rate <= 1:
            raise UsageError("--max-error-rate is a fraction, from 0 to 1 (e.g. 0.01)")
        out["max_error_rate"] = args.max_error_rate
    if args.max_request_p99_ms is not None:
        out["max_p99_ms"] = args.max_request_p99_ms
    return out


def run(args: argparse.Namespace, options_of: Any) -> int:
    """Runs `deploy --waves`, `--plan` or `--resume`; returns the exit code.

    `options_of(studio)` returns the DeployOptions of the command line (deploy_cmd's).
    """
    from tfstudio.cli.progress import EventPrinter
    from tfstudio.cli.studio_cli import cli_studio
    from tfstudio.errors import UsageError

    studio = cli_studio()
    canaries = [c.strip() for c in (args.canary or "").split(",") if c.strip()]
    if args.resume:
        if args.model is not None or args.on or args.waves or args.seed is not None or canaries:
            raise UsageError(
                "--resume takes the model, devices and waves from the rollout's record",
                hint=f"run: tfstudio deploy --resume {args.resume} [gate options]",
            )
        with _ctrl_c_cancels() as cancel, EventPrinter(enabled=not wants_json(args)) as progress:
            result = studio.resume_rollout(
                args.resume, changes=_changes(args), on_event=progress, cancel=cancel
            )
        return _finish(args, result)
    if args.model is None or not args.on:
        raise UsageError("deploy --waves needs MODEL and --on SELECTOR")
    studio.inspect(args.model)
    if args.plan:
        plan = studio.rollout_plan(args.on, args.waves, seed=args.seed or 0, canaries=canaries)
        show(args, {"waves": plan}, lambda data: _print_plan(data["waves"]))
        return 0
    options = options_of(studio)
    eval_source = None
    if args.eval_data is not None:
        eval_source = {
            "data": str(args.eval_data.resolve()),
            "min_accuracy": args.min_accuracy,
            "reference": str(args.eval_reference.resolve()) if args.eval_reference else None,
        }
    with _ctrl_c_cancels() as cancel, EventPrinter(enabled=not wants_json(args)) as progress:
        result = studio.rollout(
            args.model,
            args.on,
            args.waves,
            options,
            gates(args),
            seed=args.seed or 0,
            canaries=canaries,
            eval_source=eval_source,
            on_event=progress,
            cancel=cancel,
        )
    return _finish(args, result)


@contextlib.contextmanager
def _ctrl_c_cancels() -> Iterator[CancelToken]:
    """Yields the rollout's cancel token: the first Ctrl-C only sets it, and the rollout
    stops at its next safe point and rolls the wave back; a second one interrupts that
    rollback (the default handler again).

    Why a handler: a KeyboardInterrupt raised at an arbitrary point of the soak's wait
    (inside threading's own locks) could be lost, and the wave soaked on. The token is
    set from a thread: the handler runs in the main thread, which may hold the token's
    own lock at that moment.
    """
    import threading

    from tfstudio.operations import CancelToken

    token = CancelToken()

    def first(_sig: int, _frame: Any) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        threading.Thread(target=token.cancel, name="ctrl-c", daemon=True).start()

    previous = signal.signal(signal.SIGINT, first)
    try:
        yield token
    finally:
        signal.signal(signal.SIGINT, previous)


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    """The options a resume was given explicitly (the rest come from the record)."""
    changes: dict[str, Any] = {}
    if args.bench:
        changes["bench"] = True
    for key in ("max_p99_ms", "keep", "workers", "max_failures"):
        if getattr(args, key) is not None:
            changes[key] = getattr(args, key)
    if args.soak is not None:
        changes["soak_s"] = args.soak
    if args.max_error_rate is not None:
        changes["max_error_rate"] = args.max_error_rate
    if args.max_request_p99_ms is not None:
        changes["max_request_p99_ms"] = args.max_request_p99_ms
    if args.eval_data is not None:
        changes["eval"] = {
            "data": str(args.eval_data.resolve()),
            "min_accuracy": args.min_accuracy,
            "reference": str(args.eval_reference.resolve()) if args.eval_reference else None,
        }
    elif args.min_accuracy is not None:
        changes["min_accuracy"] = args.min_accuracy  # on the rollout's own eval data
    return changes


def _print_plan(waves: list[list[str]]) -> None:
    for i, names in enumerate(waves, 1):
        print(f"wave {i} ({len(names)}): {', '.join(names)}")


def _finish(args: argparse.Namespace, result: RolloutResult) -> int:
    show(args, result, lambda r: print_rollout(r.record))
    if result.state == "done":
        return 0
    halted = result.halted or {}
    print(
        f"tfstudio: error: rollout {result.id} {result.state}: {halted.get('reason', '')}",
        file=sys.stderr,
    )
    print(f"fix it, then continue: tfstudio deploy --resume {result.id}", file=sys.stderr)
    return 130 if result.state == "interrupted" else 1


def print_rollout(record: dict[str, Any]) -> None:
    """Prints a rollout record: its waves, then its devices."""
    print(
        f"rollout {record['id']}: {record['state']}, {record['waves_passed']} of "
        f"{len(record['waves'])} waves passed; {record['model']} to {record['selector']!r}"
    )
    rows = []
    for wave in record["waves"]:
        timing = wave.get("timing") or {}
        rows.append([
            wave["index"], len(wave["devices"]), wave["state"], timing.get("deploy_s"),
            timing.get("soak_s"), timing.get("rollback_s"), _cut(wave.get("detail") or ""),
        ])  # fmt: skip
    print_table(["wave", "devices", "state", "deploy_s", "soak_s", "rollback_s", "detail"], rows)
    devices = record["devices"]
    rows = [
        [
            name,
            info["wave"],
            info.get("status") or "-",
            "yes" if info.get("rolled_back") else "",
            (info.get("bench") or {}).get("p99_ms"),
            _cut((info.get("message") or "").removeprefix(f"{name}: ")),
        ]
        for name, info in devices.items()
    ]
    print_table(["device", "wave", "result", "rolled_back", "p99_ms", "detail"], rows)


def _cut(text: str, width: int = 90) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def summary_rows(records: list[RolloutRecord]) -> list[list[Any]]:
    """One row per rollout for `tfstudio rollouts`."""
    rows = []
    for r in records:
        halted = r.halted or {}
        rows.append([
            r.id, r.shown_state, f"{r.passed()}/{len(r.waves)}", len(r.devices),
            r.model.rsplit("/", 1)[-1], r.selector, r.started[:19].replace("T", " "),
            _cut(halted.get("reason") or "", 60),
        ])  # fmt: skip
    return rows
