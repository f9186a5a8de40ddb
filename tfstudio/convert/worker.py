"""The conversion worker: the child process that holds TensorFlow and LiteRT.

Started by `supervisor` as `python -m tfstudio.convert.worker FD` (a fresh
interpreter, never a fork of one that imported TensorFlow), it talks over the
socket FD with pickled tuples:

    studio -> worker   ("prepare", Job) | ("convert", Preset) | ("exit",)
    worker -> studio   ("stage", "convert")..., then ("ok", Prepared | ModeOutcome)
                       or ("error", (error class name, message, hint))

It loads the source once, checks the data, computes the float reference, then
converts, verifies and scores one mode per request. The converter and LiteRT
are native code: if either crashes, only this process dies, and the studio
reports the signal. Native log lines go to the studio's log file, never to the
user's terminal. The worker exits by itself when the studio process is gone.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NoReturn

PARENT_POLL_S = 0.5
"""How often the worker checks that the studio process still exists."""

SCRATCH_TRIES = 5
"""How many times a dying worker takes back a scratch folder its converter made again."""

_PARENT = [os.getppid()]
"""The studio's pid, read when the worker starts."""
_LEAVING = threading.Lock()
"""Held by the thread that ends the process (see `_leave`)."""
_SCRATCH: list[Path] = []
"""The conversion's scratch folder, once known: the worker removes it if its studio dies."""


class _Session:
    """The worker's state between requests: the loaded source, data and float reference."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.stack = contextlib.ExitStack()
        self.state: dict[str, Any] = {}

    def stage(self, name: str) -> None:
        self.conn.send(("stage", name))

    def warm(self, _arg: Any = None) -> None:
        """Imports TensorFlow now, while the studio does something else (`prestart`)."""
        from tfstudio.extras import tensorflow

        tensorflow()

    def prepare(self, job: Any) -> Any:
        from tfstudio.convert import engine
        from tfstudio.convert.datacheck import check_calibration, check_labels
        from tfstudio.convert.evaluate import accuracy
        from tfstudio.convert.job import Prepared
        from tfstudio.convert.outputs import choose_eval_output
        from tfstudio.convert.repdata import calibration_batches, load_samples
        from tfstudio.convert.result import EvalSummary
        from tfstudio.extras import tensorflow
        from tfstudio.models.source import load_source, saved_model_dir, signature_specs

        # Everything written on the way (TensorFlow's __autograph_generated_file*.py,
        # which its atexit hook would remove but os._exit skips) goes to the scratch folder.
        tempfile.tempdir = str(job.workdir)
        _SCRATCH[:] = [Path(job.workdir)]
        tf = tensorflow()
        opened = load_source(job.info)
        options = job.options
        export_into = Path(job.workdir) / f"export-{os.getpid()}"
        graph = self.stack.enter_context(saved_model_dir(opened, options.fixed_batch, export_into))
        inputs, outputs = signature_specs(graph, tf, opened.keras_model, options.signature_key)
        # Given data is checked even when no chosen mode needs it: a typo should not pass silently.
        rep = (
            load_samples(job.rep_data, inputs, "representative data", False)
            if job.rep_data
            else None
        )
        if rep is not None:
            check_calibration(rep.inputs, f"representative data {rep.path.name}")
        evals = load_samples(job.eval_data, inputs, "eval data", True) if job.eval_data else None
        summary = None
        reference = labels = None
        eval_output = None
        if evals is not None:
            eval_output, chosen_by = choose_eval_output(outputs, options.eval_output)
            if evals.y is not None:
                labels = check_labels(evals.y, eval_output, f"eval data {evals.path.name}")
            reference = engine.float_reference(tf, graph, evals, options.signature_key)
            summary = EvalSummary(
                path=evals.path,
                sha256=evals.sha256,
                samples=len(evals),
                labelled=labels is not None,
                float_accuracy=(
                    accuracy(reference[eval_output.name], labels) if labels is not None else None
                ),
                eval_output=eval_output.name,
                eval_output_label=eval_output.label(),
                chosen_by=chosen_by,
                outputs=tuple(o.name for o in outputs),
            )
        calibration = calibration_batches(rep, options.fixed_batch) if rep is not None else None
        self.state = {
            "tf": tf, "job": job, "graph": graph, "inputs": inputs, "outputs": outputs,
            "calibration": calibration, "evals": evals, "labels": labels,
            "reference": reference, "eval_output": eval_output,
        }  # fmt: skip
        return Prepared(
            tensorflow_version=str(tf.__version__),
            inputs=inputs,
            outputs=outputs,
            rep=rep.describe() if rep is not None else None,
            calibration_samples=sum(len(next(iter(b.values()))) for b in calibration or []),
            evaluation=summary,
        )

    def convert(self, preset: Any) -> Any:
        from tfstudio.convert import engine, evaluate
        from tfstudio.convert.job import ModeOutcome
        from tfstudio.convert.verify import verify_mode
        from tfstudio.models.facts import inspect_bytes
        from tfstudio.operations import Stage

        s = self.state
        options = s["job"].options
        name = f"{s['job'].info.name}.{preset.mode.value}.tflite"
        self.stage(Stage.CONVERT.value)
        started = time.perf_counter()
        model = engine.convert_saved_model(
            s["tf"],
            s["graph"],
            preset,
            s["calibration"] if preset.needs_rep_data else None,
            float_fallback=options.allow_float_fallback,
            select_tf_ops=options.select_tf_ops,
            signature=options.signature_key,
        )
        seconds = time.perf_counter() - started
        self.stage(Stage.VERIFY.value)
        facts = inspect_bytes(model, name)
        fallback = verify_mode(
            facts, preset, s["inputs"], s["outputs"], float_fallback=options.allow_float_fallback
        )
        metrics = None
        notes: list[str] = []
        if facts.flex_ops and not _flex_here():
            notes.append(
                "not loaded or scored here: no runtime on this machine has the Flex delegate "
                "its TensorFlow ops need"
            )
        elif s["evals"] is not None:
            self.stage(Stage.EVALUATE.value)
            outputs = evaluate.run_tflite(model, s["evals"], name, options.signature_key)
            metrics = evaluate.score(outputs, s["reference"], s["eval_output"].name, s["labels"])
        else:
            # A model the converter accepts may still fail to load (an int16x8 conv
            # whose scales overflow) or to run (a kernel without its tensor types):
            # never ship one that was not run once.
            calibration = s["calibration"]
            sample = calibration[0] if calibration else None
            evaluate.check_runs(model, name, sample, options.signature_key)
        return ModeOutcome(model, seconds, metrics, fallback, tuple(notes))

    def close(self) -> None:
        self.stack.close()


def _flex_here() -> bool:
    from edge_agent.flex_probe import has_flex_delegate
    from edge_agent.runtime import RuntimeMissingError

    try:
        return has_flex_delegate()
    except RuntimeMissingError:
        return False


def _exit_with_parent() -> None:
    """Ends this process soon after the studio's process is gone (killed, crashed)."""

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            if _studio_gone():
                _leave(3, studio_gone=True)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _studio_gone() -> bool:
    return os.getppid() != _PARENT[0]


def _leave(code: int, *, studio_gone: bool) -> NoReturn:
    """Ends the process; when the studio is gone, removes the scratch folder first.

    Both the main thread (its connection ended) and the parent watch may get
    here; the lock makes the second wait while the first removes the folder,
    so the process never ends half way through that.
    """
    _LEAVING.acquire()
    if studio_gone or _studio_gone():
        remove_scratch(_SCRATCH)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def remove_scratch(folders: list[Path]) -> None:
    """Removes the scratch folders while the converter may still be writing into them.

    A plain rmtree loses to a writer: a file made after it listed a folder
    keeps that folder. So each folder is first renamed (atomic; the writer's
    paths then fail), then removed; a folder the writer made again is taken
    the same way. A name left over keeps the owner pid, so the next
    conversion's sweep removes it.
    """
    for scratch in folders:
        for attempt in range(SCRATCH_TRIES):
            doomed = scratch.with_name(f"{scratch.name}-removing{attempt}")
            try:
                scratch.rename(doomed)
            except FileNotFoundError:
                break
            except OSError:
                doomed = scratch
            shutil.rmtree(doomed, ignore_errors=True)


def serve(conn: Connection) -> bool:
    """Answers requests on `conn` until ("exit",) or the studio closes its end.

    Returns True when asked to exit; False when the connection ended without
    that, which only a studio that is gone (killed, before the kernel even
    re-parents this process) does.
    """
    from tfstudio.errors import TfStudioError

    session = _Session(conn)
    try:
        while True:
            try:
                request = conn.recv()
            except (EOFError, OSError):
                return False
            if request[0] == "exit":
                return True
            try:
                handlers: dict[str, Callable[[Any], Any]] = {
                    "warm": session.warm,
                    "prepare": session.prepare,
                }
                handler = handlers.get(request[0], session.convert)
                reply: tuple[str, Any] = ("ok", handler(request[1] if request[1:] else None))
            except TfStudioError as exc:
                reply = ("error", (type(exc).__name__, exc.message, exc.hint))
            except Exception as exc:  # noqa: BLE001 - a bug here must still answer the studio
                traceback.print_exc()
                reply = ("error", ("ConversionError", f"{type(exc).__name__}: {exc}", None))
            try:
                conn.send(reply)
            except OSError:
                return False
    finally:
        session.close()


def main(argv: list[str]) -> int:
    """Entry point: `python -m tfstudio.convert.worker FD`."""
    if len(argv) != 2 or not argv[1].isdigit():
        sys.stderr.write("usage: python -m tfstudio.convert.worker FD (started by tfstudio)\n")
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # A native crash then leaves a Python stack in the log, naming where it happened.
    faulthandler.enable()
    _PARENT[0] = os.getppid()
    _exit_with_parent()
    asked = serve(Connection(int(argv[1])))
    # Skip TensorFlow's slow teardown: everything worth keeping is already sent.
    _leave(0, studio_gone=not asked)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
