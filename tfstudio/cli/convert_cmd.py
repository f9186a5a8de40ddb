"""`tfstudio convert`: SavedModel/Keras → TFLite variants, as a table or JSON.

Argument parsing and printing only; the work is `tfstudio.convert.convert`,
imported inside the handler so that `tfstudio --help` never loads tensorflow.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from tfstudio.cli.output import human_bytes, print_json, render_table

if TYPE_CHECKING:
    from tfstudio.convert.result import ConversionResult

MODE_NAMES = ("float32", "dynamic", "float16", "int8", "int16x8")
"""For --help only; the presets file is the authority and parse_modes checks names."""


def register(subparsers: Any) -> None:
    """Adds the `convert` subcommand."""
    parser = subparsers.add_parser(
        "convert",
        help="convert a SavedModel/.keras/.h5 model to TFLite in one or more quantization modes",
        description=(
            "Convert a SavedModel directory, a .keras or an .h5 file into "
            "<name>.<mode>.tflite files (each with a <name>.<mode>.json provenance manifest)."
        ),
    )
    parser.add_argument("source", metavar="SRC", help="SavedModel directory, .keras or .h5 file")
    parser.add_argument(
        "-o", "--outdir", default=".", help="directory for the outputs (default: current directory)"
    )
    parser.add_argument(
        "--quant",
        default="float32",
        metavar="MODE[,MODE...]|all",
        help=f"modes: {', '.join(MODE_NAMES)} or all (default: float32)",
    )
    parser.add_argument(
        "--rep-data",
        metavar="PATH",
        help=(
            "representative data for int8/int16x8: .npy, .npz with 'x', or a directory of "
            "PNG/JPEG images (resized to the input, scaled to [0, 1])"
        ),
    )
    parser.add_argument(
        "--eval-data",
        metavar="PATH",
        help="an .npz with 'x' (and optionally labels 'y') to score every variant against",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Converts, prints the result, returns 0. TfStudioErrors propagate to main."""
    from tfstudio.convert import convert

    result = convert(
        args.source,
        args.outdir,
        args.quant,
        rep_data=args.rep_data,
        eval_data=args.eval_data,
        progress=print_progress,
    )
    if args.json:
        print_json(result.to_json())
    else:
        print(render_result(result))
    return 0


def print_progress(event: Any) -> None:
    """Prints a progress event as one line on stderr (stdout stays for the result)."""
    from tfstudio.convert.events import ModeFinished, ModeStarted

    if isinstance(event, ModeStarted):
        print(f"converting {event.mode} ({event.index}/{event.total})...", file=sys.stderr)
    elif isinstance(event, ModeFinished):
        print(
            f"wrote {event.path} ({human_bytes(event.size_bytes)}, {event.seconds:.1f} s)",
            file=sys.stderr,
            flush=True,
        )
    sys.stderr.flush()


def render_result(result: ConversionResult) -> str:
    """Returns the human table: mode, size, ratio to float32, min runtime, score, seconds."""
    labelled = result.evaluation is not None and result.evaluation.labelled
    scored = result.evaluation is not None
    headers = ["mode", "size", "ratio", "min runtime"]
    if scored:
        headers += ["accuracy"] if labelled else ["agreement", "max abs err"]
    headers.append("seconds")
    rows = []
    for v in result.variants:
        ratio = result.size_ratio(v.mode)
        row: list[Any] = [
            v.mode,
            human_bytes(v.size_bytes),
            "-" if ratio is None else f"{ratio:.2f}x",
            v.facts.min_runtime_version or "-",
        ]
        metrics = v.metrics or {}
        if labelled:
            row.append(_percent(metrics.get("accuracy")))
        elif scored:
            row += [_percent(metrics.get("top1_agreement")), metrics.get("max_abs_error")]
        row.append(f"{v.convert_seconds:.1f}")
        rows.append(row)
    lines = [f"source: {result.source.path} ({result.source.kind.value})", ""]
    lines.append(render_table(headers, rows))
    if result.evaluation is not None:
        ev = result.evaluation
        what = f"float source accuracy {_percent(ev.float_accuracy)}" if labelled else "agreement"
        lines.append("")
        lines.append(f"eval: {ev.samples} samples from {ev.path.name}; {what}")
    lines.append(f"outputs in {result.outdir}")
    return "\n".join(lines)


def _percent(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.1f}%"
