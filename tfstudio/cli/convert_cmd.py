"""`tfstudio convert`: SavedModel/Keras → TFLite variants, as a table or JSON.

Argument parsing and printing only; the work is `Studio.convert` (the UI's
convert view calls it too), whose convert core is imported inside the handler
so that `tfstudio --help` never loads tensorflow.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from tfstudio.cli.output import add_json, human_bytes, render_table, show
from tfstudio.operations import Event, Stage, StageStarted, TargetFinished

if TYPE_CHECKING:
    from tfstudio.studio.types import ConversionResult

MODE_NAMES = ("float32", "dynamic", "float16", "int8", "int16x8")
"""For --help only; the presets file is the authority and parse_modes checks names."""
INLINE_ERROR = 60
"""A failed mode's error longer than this goes on its own line below the table."""


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
        help=(
            "an .npz with 'x' (or one array per input name) and optionally labels 'y', to "
            "score every variant against the float model, output by output"
        ),
    )
    parser.add_argument(
        "--eval-output",
        metavar="NAME",
        help=(
            "the output accuracy is computed on: a signature name (output_0) or a Keras "
            "output name (default: the first in the signature)"
        ),
    )
    parser.add_argument(
        "--fixed-batch",
        type=int,
        metavar="N",
        help=(
            "export a .keras/.h5 source with a static batch size N, so recurrent layers "
            "(LSTM/GRU) convert to builtin ops"
        ),
    )
    parser.add_argument(
        "--select-tf-ops",
        action="store_true",
        help=(
            "allow TensorFlow (Flex) ops for what builtins cannot express; the device "
            "runtime then needs the Flex delegate"
        ),
    )
    parser.add_argument(
        "--signature",
        metavar="NAME",
        help=(
            "the SavedModel signature to convert (default: serving_default); every mode "
            "holds that signature alone"
        ),
    )
    parser.add_argument(
        "--allow-float-fallback",
        action="store_true",
        help="int8/int16x8: keep ops that have no integer kernel in float instead of failing",
    )
    add_json(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Converts through `Studio.convert` and prints the result; returns 0, or 1 when any
    mode failed.

    A failed mode does not stop the others: every row is printed (a failed one
    with its error), then the error line. Other TfStudioErrors propagate to main.
    The output folder joins the studio's model catalogue, as the UI's conversions do.
    """
    from tfstudio.cli.studio_cli import cli_studio
    from tfstudio.studio.types import ModesFailedError

    try:
        result = cli_studio().convert(
            args.source,
            args.outdir,
            args.quant,
            rep_data=args.rep_data,
            eval_data=args.eval_data,
            on_event=ProgressLines(),
            eval_output=args.eval_output,
            fixed_batch=args.fixed_batch,
            select_tf_ops=args.select_tf_ops,
            allow_float_fallback=args.allow_float_fallback,
            signature=args.signature,
        )
    except ModesFailedError as exc:
        # Every row still shows (a failed one with its error), then the error line.
        failed = exc.result
        show(args, {**failed.to_json(), **exc.to_json()}, lambda _: print(render_result(failed)))
        print(f"tfstudio: error: {exc}", file=sys.stderr)
        return exc.exit_code
    show(args, result, lambda r: print(render_result(r)))
    return 0


class ProgressLines:
    """Prints `Studio.convert`'s events as one line each on stderr (stdout stays for the
    result): `converting int8 (2/5)...`, `wrote PATH (SIZE, S s)`, `failed int8 (2/5)`."""

    def __init__(self) -> None:
        self._counts: dict[str, str] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, StageStarted) and event.stage is Stage.CONVERT:
            self._counts[event.target] = f"({event.index}/{event.total})"
            line = f"converting {event.target} {self._counts[event.target]}..."
        elif isinstance(event, TargetFinished) and event.ok:
            size, seconds = human_bytes(event.data["size_bytes"]), event.data["seconds"]
            line = f"wrote {event.data['path']} ({size}, {seconds:.1f} s)"
        elif isinstance(event, TargetFinished):
            # The error itself is in the table and the final error line.
            line = f"failed {event.target} {self._counts.get(event.target, '')}".rstrip()
        else:
            return  # loading the model: the first `converting` line follows
        print(line, file=sys.stderr, flush=True)


def render_result(result: ConversionResult) -> str:
    """Returns the human table: mode, size, ratio to float32, min runtime and what sets it,
    scores, seconds (and a status column when a mode failed)."""
    from tfstudio.studio.types import FailedVariant

    labelled = result.evaluation is not None and result.evaluation.labelled
    scored = result.evaluation is not None
    headers = ["mode", "size", "ratio", "min runtime", "set by"]
    if scored:
        headers += ["accuracy"] if labelled else ["agreement", "max abs err"]
    headers.append("seconds")
    if not result.ok:
        headers.append("status")
    rows = []
    for v in result.rows():
        if isinstance(v, FailedVariant):
            reason = v.error.message.removeprefix(f"{v.mode}: ")
            row: list[Any] = [v.mode] + ["-"] * (len(headers) - 2)
            row.append(f"failed: {reason}" if len(reason) <= INLINE_ERROR else "failed (below)")
            rows.append(row)
            continue
        ratio = result.size_ratio(v.mode)
        row = [
            v.mode,
            human_bytes(v.size_bytes),
            "-" if ratio is None else f"{ratio:.2f}x",
            _runtime_cell(v.facts),
            v.facts.min_runtime_set_by or "-",
        ]
        metrics = v.metrics or {}
        if labelled:
            row.append(_percent(metrics.get("accuracy")))
        elif scored:
            row += [_percent(metrics.get("top1_agreement")), metrics.get("max_abs_error")]
        row.append(f"{v.convert_seconds:.1f}")
        if not result.ok:
            row.append("ok")
        rows.append(row)
    lines = [f"source: {result.source.path} ({result.source.kind.value})", ""]
    lines.append(render_table(headers, rows))
    lines += _notes(result)
    lines.append(f"outputs in {result.outdir}")
    return "\n".join(lines)


def _notes(result: ConversionResult) -> list[str]:
    lines: list[str] = []
    long = [f for f in result.failures if len(f.error.message) - len(f.mode) - 2 > INLINE_ERROR]
    if long:
        lines.append("")
        lines += [f"{f.mode} failed: {f.error.message.removeprefix(f.mode + ': ')}" for f in long]
    ev = result.evaluation
    if ev is not None:
        labelled = ev.labelled
        what = f"float source accuracy {_percent(ev.float_accuracy)}" if labelled else "agreement"
        others = len(ev.outputs) - 1
        scope = f"; {others} other output{'s' if others != 1 else ''} scored too" if others else ""
        lines.append("")
        lines.append(
            f"eval: {ev.samples} samples from {ev.path.name}, output {ev.eval_output_label} "
            f"({ev.chosen_by}{scope}); {what}"
        )
    for v in result.variants:
        if v.facts.flex_ops:
            lines.append(
                f"{v.mode}: uses TensorFlow (Flex) ops {', '.join(v.facts.flex_ops)}: the "
                "device runtime needs the Flex delegate"
            )
        lines += [f"{v.mode}: {note}" for note in v.notes]
        if v.float_fallback_ops:
            ops = ", ".join(f"{op} x{n}" for op, n in sorted(v.float_fallback_ops.items()))
            lines.append(f"{v.mode}: float fallback for {ops}")
        if v.facts.unknown_ops:
            ops = ", ".join(f"{op.name} v{op.version}" for op in v.facts.unknown_ops)
            lines.append(f"{v.mode}: op versions unknown to the runtime table: {ops}")
    return lines


def _runtime_cell(facts: Any) -> str:
    version = facts.min_runtime_version or "-"
    return f">={version}?" if facts.unknown_ops else version


def _percent(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.1f}%"
