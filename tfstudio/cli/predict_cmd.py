"""`tfstudio predict NAME --input x.npy [--json]`: one real request to a device's model.

It goes through the device's SSH connection to the agent's server on the
device's loopback (started with `tfstudio agent serve NAME --enable`), and
prints the top-1 class and values of each instance (of each output by its
name, when the model has several), the model that answered and the round trip.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfstudio.cli.output import add_json, show

if TYPE_CHECKING:
    from tfstudio.studio.types import PredictResult

SHOWN_VALUES = 10
"""Values of an instance printed before '...' (the JSON has them all)."""


def register(subparsers: Any) -> None:
    """Adds `predict`."""
    parser = subparsers.add_parser("predict", help="send one real request to a device's model")
    parser.add_argument("name", metavar="NAME")
    parser.add_argument(
        "--input",
        type=Path,
        required=True,
        metavar="X.npy",
        help="one example, or a batch (N, ...), as a .npy array",
    )
    add_json(parser)
    parser.set_defaults(handler=_predict)


def load_input(path: Path) -> Any:
    """Returns the array in a .npy file; raises RepresentativeDataError in one line."""
    import numpy as np

    from tfstudio.errors import RepresentativeDataError

    try:
        value = np.load(str(path), allow_pickle=False)
    except FileNotFoundError:
        raise RepresentativeDataError(f"--input {path} not found") from None
    except (OSError, ValueError, EOFError) as exc:
        raise RepresentativeDataError(f"--input {path} is not a .npy array ({exc})") from None
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
        raise RepresentativeDataError(f"--input {path} must hold one numeric array (.npy)")
    return value


def _predict(args: argparse.Namespace) -> int:
    from tfstudio.cli.studio_cli import cli_studio

    result = cli_studio().predict(args.name, load_input(args.input))
    show(args, result, _print_prediction)
    return 0


def _print_prediction(result: PredictResult) -> None:
    model = result.model_name or (result.model_sha256 or result.model_version)[:12]
    sha = result.model_sha256 or result.model_version
    print(
        f"{result.device}: {model} ({sha[:12]}), {result.instances} "
        f"instance{'s' if result.instances != 1 else ''}, round trip {result.round_trip_ms:.1f} ms"
    )
    if result.outputs is not None:
        _print_outputs(result)
        return
    values = result.values if result.values is not None else result.predictions
    for i, row in enumerate(values):
        top = f"top-1 {result.top1[i]}: " if result.top1 else ""
        print(f"  [{i}] {top}{_shown(row)}")


def _print_outputs(result: PredictResult) -> None:
    """Each instance, then each output by name under it."""
    outputs = result.outputs or {}
    for i in range(result.instances):
        for k, (name, out) in enumerate(outputs.items()):
            head = f"  [{i}] " if k == 0 else " " * len(f"  [{i}] ")
            top1 = out.get("top1")
            top = f"top-1 {top1[i]}: " if top1 else ""
            print(f"{head}{name}: {top}{_shown(out['values'][i])}")


def _shown(row: Any) -> str:
    """Returns `[v, v, ...]` of an instance's values, flattened, at most SHOWN_VALUES."""
    flat = row if isinstance(row, list) else [row]
    while flat and isinstance(flat[0], list):
        flat = [v for part in flat for v in part]
    shown = ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in flat[:SHOWN_VALUES])
    more = ", ..." if len(flat) > SHOWN_VALUES else ""
    return f"[{shown}{more}]"
