"""Short helper containers (GPU check, image probe): run, collect the output, remove.

They carry the studio's labels with their own kind (not `job`), so `jobs`
never lists them, and they are removed on every exit path, cancellation
included. No workspace is mounted and networking is off.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

from tfstudio.operations import CancelToken, check_cancelled
from tfstudio.training import labels as L
from tfstudio.training.client import EngineClient
from tfstudio.training.errors import EngineError
from tfstudio.training.limits import GpuRequest

NOT_FOUND_WORDS = ("executable file not found", "no such file or directory")
"""The engine's words when the command's program is not in the image."""
NO_GPUS = GpuRequest()
_TINI_EXEC_FAILED = "failed: No such file or directory"


@dataclass(frozen=True)
class OneShotResult:
    """What a helper container printed (stdout and stderr, interleaved) and its exit code."""

    exit_code: int | None
    output: str
    timed_out: bool = False


class ProgramMissingError(EngineError):
    """The program to run does not exist in the image."""


def run_oneshot(
    client: EngineClient,
    image: str,
    argv: list[str],
    *,
    kind: str,
    gpus: GpuRequest = NO_GPUS,
    timeout_s: float = 300.0,
    cancel: CancelToken | None = None,
) -> OneShotResult:
    """Runs `argv` in `image` (entrypoint replaced) and returns its output and exit code.

    Raises ProgramMissingError when argv[0] is not in the image, the launch
    errors for GPUs (see `tfstudio.training.launch`), EngineError,
    CancelledError.
    """
    from tfstudio.training.launch import gpu_refusal

    labels = {L.STUDIO: L.studio_id(), L.KIND: kind, L.JOB: L.new_job_id()}
    with client.call(f"creating a {kind} container"):
        host_config = client.api.create_host_config(
            device_requests=gpus.device_requests() or None, init=True
        )
        created = client.api.create_container(
            image=image,
            entrypoint=argv[:1],
            command=argv[1:],
            labels=labels,
            host_config=host_config,
            network_disabled=True,
        )
    container = str(created["Id"])
    try:
        try:
            with client.call(f"starting the {kind} container"):
                client.api.start(container)
        except EngineError as exc:
            if any(w in exc.message.lower() for w in NOT_FOUND_WORDS):
                raise ProgramMissingError(f"{argv[0]} is not in image {image}") from exc
            raise gpu_refusal(client.engine, gpus, exc) or exc from exc
        deadline = time.monotonic() + timeout_s
        timed_out = False
        while True:
            with client.call(f"waiting for the {kind} container"):
                state = client.api.inspect_container(container)["State"]
            if not state.get("Running"):
                break
            check_cancelled(cancel, kind)
            if time.monotonic() > deadline:
                timed_out = True
                with contextlib.suppress(Exception):
                    client.api.kill(container)
                break
            time.sleep(0.1)
        with client.call(f"reading the {kind} output"):
            output = client.api.logs(container).decode("utf-8", "replace")
            code = client.api.inspect_container(container)["State"].get("ExitCode")
        if code == 127 and _TINI_EXEC_FAILED in output:
            # With an init process the engine starts fine and docker-init reports the
            # missing program itself.
            raise ProgramMissingError(f"{argv[0]} is not in image {image}")
        return OneShotResult(None if timed_out else code, output, timed_out)
    finally:
        with contextlib.suppress(Exception):
            client.api.remove_container(container, force=True)
