"""Deploy one device, or many on a bounded pool: runs the steps, logs each result.

The steps of one device's deploy live in `steps` (connect, device lock,
preflight, push, install, health gate, prune) and the connection's recovery
after a dropped link in `session`. `deploy_many` runs the devices on a bounded
pool (`fanout`): one device's failure, frozen link or timeout never stops the
others, and a cancel (Ctrl-C) ends the command at once without leaving a
device in a state its result does not describe. Nothing here prints: it speaks
the one contract of `tfstudio.operations` (operation "deploy", one target per
device: StageStarted per step, TransferTicks while pushing, TargetFinished with
the DeployResult's fields), and a CancelToken cancels.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from edge_agent.tflite_schema import ModelFacts
from tfstudio.deploy.options import DeployOptions, DeployResult, Status
from tfstudio.deploy.steps import WRITE_STAGES, DeployRun
from tfstudio.errors import CancelledError, PreflightError, TfStudioError
from tfstudio.fleet import deploylog, fanout
from tfstudio.fleet.connect import open_transport
from tfstudio.fleet.registry import Device
from tfstudio.operations import CancelToken, EventCallback, Reporter, Stage
from tfstudio.transport.base import Transport

OPERATION = "deploy"
"""The operation name of every event a deploy emits (the target is the device's name)."""

Connector = Callable[[Device], Transport]


def _connector(options: DeployOptions) -> Connector:
    def connect(device: Device) -> Transport:
        return open_transport(
            device,
            connect_timeout=options.connect_timeout,
            command_timeout=options.command_timeout,
            stall_timeout=options.stall_timeout,
        )

    return connect


def _new_run(
    model: Path,
    facts: ModelFacts,
    device: Device,
    options: DeployOptions,
    connect: Connector | None,
    on_event: EventCallback | None,
    cancel: CancelToken,
) -> DeployRun:
    report = Reporter(OPERATION, device.name, on_event)
    return DeployRun(model, facts, device, options, connect or _connector(options), report, cancel)


def _run(run: DeployRun) -> DeployResult:
    """Executes `run`, maps errors to a result, logs it (unless it was abandoned)."""
    started = time.monotonic()
    try:
        result = run.execute()
    except PreflightError as exc:
        result = run.result_of(Status.REFUSED, exc.message, exc.hint)
    except CancelledError:
        result = run.cancelled_result()
    except TfStudioError as exc:
        result = run.result_of(Status.FAILED, _prefixed(run.name, exc.message), exc.hint)
    except Exception as exc:  # noqa: BLE001 - one device's bug must not stop the fleet
        result = run.result_of(Status.FAILED, f"{run.name}: {type(exc).__name__}: {exc}")
    finally:
        run.session.close()
    result = replace(
        result, bytes_sent=run.session.bytes_sent, duration_s=round(time.monotonic() - started, 3)
    )
    with run.lock:
        run.finished = True
        if run.abandoned:
            return result  # the fan-out already answered (and logged) for this device
    _log(run, result)
    run.report.finished(result.ok, result.message, result.to_json())
    return result


def _abandon(run: DeployRun) -> DeployResult:
    """Answers for a run left behind after a cancel (it may still be stuck on its device)."""
    with run.lock:
        run.abandoned = True
    result = run.cancelled_result()
    _log(run, result)
    run.report.finished(result.ok, result.message, result.to_json())
    return result


def _log(run: DeployRun, result: DeployResult) -> None:
    if result.status in (Status.OK, Status.ROLLED_BACK):
        deploylog.append_manifest_step(
            run.model,
            run.facts.sha256,
            {
                "device": run.name,
                "result": result.status.value,
                "active": result.active,
                "bench": result.bench,
                "eval": result.eval,
            },
        )
    deploylog.append(
        {
            "device": run.name,
            "model": str(run.model.resolve()),
            "sha256": run.facts.sha256,
            "size_bytes": run.facts.size_bytes,
            "result": result.status.value,
            "message": result.message,
            "bytes_sent": result.bytes_sent,
            "active": result.active,
            "previous": result.previous,
            "bench": result.bench,
            "eval": result.eval,
            "pruned": list(result.pruned),
            "reconnected": result.reconnected,
            "provenance": deploylog.provenance(run.model),
            **run.log_extra,
        }
    )


def _prefixed(name: str, message: str) -> str:
    return message if message.startswith(f"{name}:") else f"{name}: {message}"


def deploy_one(
    model: Path,
    facts: ModelFacts,
    device: Device,
    options: DeployOptions,
    *,
    connect: Connector | None = None,
    on_event: EventCallback | None = None,
    cancel: CancelToken | None = None,
) -> DeployResult:
    """Deploys `model` to one device and returns its result (never raises TfStudioError).

    The result is also appended to the deploy log.
    """
    cancel = cancel or CancelToken()
    return _run(_new_run(model, facts, device, options, connect, on_event, cancel))


def deploy_many(
    model: Path,
    facts: ModelFacts,
    devices: Sequence[Device],
    options: DeployOptions,
    *,
    connect: Connector | None = None,
    on_event: EventCallback | None = None,
    cancel: CancelToken | None = None,
    on_before: Callable[[str, str | None], None] | None = None,
    log_extra: dict[str, Any] | None = None,
) -> list[DeployResult]:
    """Deploys to every device on a pool of `options.workers`; returns results in order.

    Ctrl-C (or `cancel`) stops every device at its next step; a device stuck in
    a step that changes nothing is answered "cancelled" at once, one in the
    middle of an install or rollback is waited for, unless Ctrl-C comes twice.
    `on_before(device, active sha)` is told once a device passed preflight, before
    anything is written there; `log_extra` joins each device's deploy-log line.
    """
    cancel = cancel or CancelToken()
    runs = [_new_run(model, facts, d, options, connect, on_event, cancel) for d in devices]
    for run in runs:
        run.on_before, run.log_extra = on_before, dict(log_extra or {})

    def interrupted(count: int) -> None:
        if count == 1:
            text = (
                "cancelling: devices stop at their next step; an install in progress is "
                "waited for (Ctrl-C again to stop waiting)"
            )
        else:
            text = "cancelling now: installs in progress are left to finish on their devices"
        Reporter(OPERATION, "", on_event).stage(Stage.CANCEL, text)

    return fanout.run_all(
        runs,
        lambda i, run: _run(run),
        workers=options.workers,
        cancel=cancel,
        abandon=lambda i, run: _abandon(run),
        may_abandon=lambda i: runs[i].stage not in WRITE_STAGES,
        on_interrupt=interrupted,
        name="deploy",
    )
