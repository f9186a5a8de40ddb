"""`Studio`: the one facade the CLI and the terminal UI share.

It owns the studio's state (TFSTUDIO_HOME, config, device registry), the
connector (timeouts, key passphrases) and offers every operation. Long
operations follow the one contract of `tfstudio.operations`, which the cores
speak themselves: pass `on_event` and a `CancelToken`, get a typed result with
`to_json()`; the facade adds only the throttling of transfer ticks. Nothing
here prints, and nothing heavy is imported at module level: tensorflow,
docker and paramiko load inside the calls that need them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfstudio.config import HOME_ENV, Config, load_config, studio_home
from tfstudio.fleet.connector import AskPassphrase, Connector
from tfstudio.operations import (
    CancelToken,
    EventCallback,
    FleetResult,
    Stage,
    StageStarted,
    TargetFinished,
    Throttle,
    fleet_result,
)

if TYPE_CHECKING:
    from tfstudio.convert.result import ConversionResult
    from tfstudio.deploy.options import DeployOptions, DeployResult
    from tfstudio.fleet.agent_install import AgentInstallResult
    from tfstudio.fleet.check import CheckResult
    from tfstudio.fleet.hostkey_offer import HostKeyOffer
    from tfstudio.fleet.registry import Device
    from tfstudio.measure.bench import BenchSettings
    from tfstudio.measure.report import Report
    from tfstudio.models.catalog import ModelEntry
    from tfstudio.models.facts import ModelFacts
    from tfstudio.studio.bench import BenchRow
    from tfstudio.studio.overview import DeviceSummary, Readiness
    from tfstudio.studio.training import Training
    from tfstudio.tunnel.telemetry import MetricsSession

DEFAULT_WORKERS = 8


class Studio:
    """Config, registry, connector and every operation, for any front end.

    `home` (optional) points the studio at another TFSTUDIO_HOME; it sets the
    environment variable, so one Studio per process. `ask_passphrase` is the
    terminal's prompt; leave it None where a prompt cannot block a thread (the
    TUI), and answer `PassphraseRequired` with `connector.remember()`.
    """

    def __init__(self, home: Path | None = None, ask_passphrase: AskPassphrase | None = None):
        if home is not None:
            os.environ[HOME_ENV] = str(Path(home).expanduser().absolute())
        self.home = studio_home()
        self.config: Config = load_config(self.home)
        self.connector = Connector(self.config, ask_passphrase)
        self._training: Training | None = None

    @property
    def training(self) -> Training:
        """Training containers: engines, images, jobs, logs, GPU check, provenance
        (`tfstudio.studio.training`; loaded on first use)."""
        if self._training is None:
            from tfstudio.studio.training import Training

            self._training = Training(self.connector)
        return self._training

    def close(self) -> None:
        """Closes the connections the studio keeps open (engines); it stays usable."""
        if self._training is not None:
            self._training.close()

    def reload_config(self) -> Config:
        """Re-reads tfstudio.toml (the connector keeps its passphrases). Raises ConfigError."""
        self.config = load_config(self.home)
        self.connector.config = self.config
        return self.config

    # -- state at a glance ------------------------------------------------

    # The state readers import their modules on first use: the UI's first frame
    # is drawn before any of them runs.

    def readiness(self) -> list[Readiness]:
        """Returns each part's state and fix (no heavy import; pings the engine)."""
        from tfstudio.studio import overview

        return overview.readiness(self.config)

    def devices(self) -> list[Device]:
        """Returns `local` and every registered device."""
        from tfstudio.fleet.registry import list_devices

        return list_devices()

    def device_summaries(self) -> list[DeviceSummary]:
        """Returns every device with its last check, deploy and bench."""
        from tfstudio.studio import overview

        return overview.device_summaries()

    def models(self) -> list[ModelEntry]:
        """Returns the converted models the catalogue knows (demo, models/, remembered)."""
        from tfstudio.models import catalog

        return catalog.list_models()

    def bench_history(self, device: str | None = None) -> list[dict[str, Any]]:
        """Returns the stored bench rows, oldest first (one device's when named)."""
        from tfstudio import history

        return history.read(history.BENCH, device)

    def default_outdir(self, source: str | Path) -> Path:
        """Returns where a conversion of `source` goes by default: `HOME/models/<stem>`."""
        stem = Path(str(source).rstrip("/")).name.split(".")[0] or "model"
        return self.home / "models" / stem

    def bench_report(
        self, models: Sequence[str | Path] = (), devices: Sequence[str] = ()
    ) -> Report:
        """Returns the variants x devices matrix of every logged bench, deploy and eval,
        plus `models` and `devices` (what was never measured shows as unmeasured).

        Raises OutputError when a log cannot be read.
        """
        from tfstudio.measure.report import build_report

        return build_report([Path(m) for m in models], list(devices))

    def metrics(self, name: str) -> MetricsSession:
        """Returns a live-metrics session for device `name` (the agent's service, through
        an SSH tunnel kept between polls); its `poll()` never raises for the device's
        faults, and `close()` ends it. Raises DeviceError for an unknown name.
        """
        from tfstudio.tunnel.telemetry import MetricsSession

        return MetricsSession(self.device(name), self.connector)

    # -- registry ---------------------------------------------------------

    def device(self, name: str) -> Device:
        """Returns one device. Raises DeviceError."""
        from tfstudio.fleet.registry import get_device

        return get_device(name)

    def add_device(self, device: Device) -> Device:
        """Validates and registers `device`. Raises DeviceError."""
        from tfstudio.fleet.registry import add_device

        return add_device(device)

    def remove_device(self, name: str) -> Device:
        """Forgets `name` (never `local`). Raises DeviceError."""
        from tfstudio.fleet.registry import remove_device

        return remove_device(name)

    def resolve(self, names: str | Sequence[str]) -> list[Device]:
        """Returns the devices of `a,b`, `all` or a list of names. Raises DeviceError."""
        from tfstudio.fleet.registry import resolve_names

        return resolve_names(names if isinstance(names, str) else ",".join(names))

    # -- host keys: two calls, a dialog between them ----------------------

    def scan_host_key(self, name: str) -> HostKeyOffer:
        """Returns the key device `name` offers (unknown/trusted/changed); records nothing.

        Raises UsageError (local), TransportError, HostKeyError.
        """
        from tfstudio.fleet import hostkey_offer

        return hostkey_offer.scan(self.device(name), connect_timeout=self.config.connect_timeout_s)

    def record_host_key(self, offer: HostKeyOffer, *, replace: bool = False) -> Path:
        """Records the offered key (the one the user confirmed). Raises HostKeyError."""
        from tfstudio.fleet import hostkey_offer

        return hostkey_offer.record(offer, replace=replace)

    # -- models -----------------------------------------------------------

    def inspect(self, model: str | Path) -> ModelFacts:
        """Returns a .tflite file's facts (no tensorflow). Raises ModelFormatError."""
        from tfstudio.models.facts import inspect_model

        return inspect_model(model)

    def convert(
        self,
        source: str | Path,
        outdir: str | Path | None = None,
        modes: str | Sequence[str] | None = None,
        *,
        rep_data: str | Path | None = None,
        eval_data: str | Path | None = None,
        on_event: EventCallback | None = None,
        cancel: CancelToken | None = None,
        **options: Any,
    ) -> ConversionResult:
        """Converts `source` in `modes` into `outdir` (default `HOME/models/<stem>`).

        `options`: the convert core's other choices (fixed_batch, eval_output,
        select_tf_ops, allow_float_fallback). Events: LOAD, then per mode
        CONVERT, VERIFY, EVALUATE and TargetFinished (ok=False with the mode's
        one-line error when it failed; the other modes go on). Returns the ConversionResult;
        raises what `tfstudio.convert.convert` raises: ModesFailedError (its
        `result` holds the modes written, in the catalogue too, and the failures).
        """
        from tfstudio.convert import ModesFailedError, convert
        from tfstudio.models import catalog

        out = Path(outdir) if outdir else self.default_outdir(source)
        try:
            result = convert(
                source,
                out,
                modes,
                rep_data=rep_data,
                eval_data=eval_data,
                on_event=Throttle(on_event),
                cancel=cancel,
                **options,
            )
        except ModesFailedError as exc:
            if exc.result.variants:
                catalog.remember_dir(exc.result.outdir)
            raise
        catalog.remember_dir(result.outdir)
        return result

    # -- devices ----------------------------------------------------------

    def deploy_options(self, **choices: Any) -> DeployOptions:
        """Returns DeployOptions with the config's deadlines, pool size and `keep`,
        overridden by `choices` (bench, max_p99_ms, keep, bench_settings, eval_gate, ...).

        Raises TypeError for an unknown choice (a programming error).
        """
        from tfstudio.deploy.options import DeployOptions

        values: dict[str, Any] = {
            "connect_timeout": self.config.connect_timeout_s,
            "command_timeout": self.config.command_timeout_s,
            "stall_timeout": self.config.stall_timeout_s,
            "install_timeout": self.config.install_timeout_s,
            "lock_wait": self.config.lock_wait_s,
            "reconnect_timeout": self.config.reconnect_timeout_s,
            "workers": self.config.fanout,
            "keep": self.config.deploy_keep,
        }
        values.update({k: v for k, v in choices.items() if v is not None})
        return DeployOptions(**values)

    def deploy(
        self,
        model: str | Path,
        devices: Sequence[Device],
        *,
        options: DeployOptions | None = None,
        bench: bool = False,
        max_p99_ms: float | None = None,
        keep: int | None = None,
        bench_settings: BenchSettings | None = None,
        workers: int | None = None,
        on_event: EventCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> FleetResult[DeployResult]:
        """Deploys `model` to `devices` (preflight, push, install, optional health gate).

        `options` (from `deploy_options`) wins over the keyword shortcuts.
        Returns one DeployResult per device (never raises for a device's
        failure). Raises ModelFormatError for a bad model file.
        """
        from tfstudio.deploy.run import deploy_many

        path = Path(model)
        facts = self.inspect(path)
        if options is None:
            options = self.deploy_options(
                bench=bench,
                max_p99_ms=max_p99_ms,
                keep=keep,
                bench_settings=bench_settings,
                workers=workers,
            )
        emit = Throttle(on_event)
        results = deploy_many(
            path,
            facts,
            list(devices),
            options,
            connect=self.connector,
            on_event=emit,
            cancel=cancel,
        )
        return fleet_result("deploy", results)

    def bench(
        self,
        devices: Sequence[Device],
        model: str | Path | None = None,
        settings: BenchSettings | None = None,
        *,
        inputs: str | Path | None = None,
        on_event: EventCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> FleetResult[BenchRow]:
        """Benchmarks `model` (None: each device's active model) on `devices`.

        `inputs`: real inputs (.npy/.npz). Each report is also stored in
        HOME/bench.jsonl (a thread sweep's under one id). Returns one BenchRow
        per device (never raises for a device's failure); raises
        ModelFormatError for a bad model file.
        """
        from tfstudio.measure.bench import BenchSettings, bench_many
        from tfstudio.studio.bench import BenchRow

        path = Path(model) if model is not None else None
        if path is not None:
            self.inspect(path)  # a bad file is one error, not one per device
        emit = Throttle(on_event)
        outcomes = bench_many(
            list(devices),
            path,
            settings or BenchSettings(),
            inputs=Path(inputs) if inputs is not None else None,
            workers=max(1, self.config.fanout or DEFAULT_WORKERS),
            connect=self.connector,
            cancel=cancel,
            on_event=emit,
        )
        rows = [BenchRow.of(o, path) for o in outcomes]
        for row in rows:
            emit(TargetFinished("bench", row.device, row.ok, row.message, row.to_json()))
        return fleet_result("bench", rows)

    def check(
        self, devices: Sequence[Device], *, on_event: EventCallback | None = None
    ) -> FleetResult[CheckResult]:
        """Checks reachability, round trip, agent and runtime of `devices`; stores each.

        Ctrl-C answers the devices not done yet as cancelled, at once.
        """
        from tfstudio import history
        from tfstudio.fleet import fanout
        from tfstudio.fleet.check import CheckResult, check_device

        emit = Throttle(on_event)

        def one(device: Device) -> CheckResult:
            emit(StageStarted("check", device.name, Stage.CHECK, "checking"))
            result = check_device(device, connect=self.connector)
            message = result.error or ("ready" if result.ok else result.agent)
            emit(TargetFinished("check", device.name, result.ok, message, result.to_json()))
            return result

        results = fanout.run_all(
            list(devices),
            lambda i, d: one(d),
            workers=max(1, min(self.config.fanout or DEFAULT_WORKERS, len(devices) or 1)),
            cancel=CancelToken(),
            abandon=lambda i, d: CheckResult(
                d.name, False, "unknown", error=f"{d.name}: cancelled"
            ),
            grace_s=0.0,
            name="check",
        )
        for r in results:
            history.append(history.CHECKS, {"device": r.device, **r.to_json()})
        return fleet_result("check", results)

    def install_agent(self, name: str, *, runtime: str | None = None) -> AgentInstallResult:
        """Pushes the agent to `name`; returns what it lacks. Raises AgentError, TransportError."""
        from tfstudio.fleet.agent_install import install_agent

        device = self.device(name)
        with self.connector(device) as transport:
            return install_agent(device, transport, runtime=runtime)

    def agent_call(self, name: str, command: str, *args: str) -> dict[str, Any]:
        """Runs one agent command on `name` and returns its JSON answer.

        Raises DeviceError, AgentError, TransportError, HostKeyError.
        """
        from tfstudio.fleet.agentcall import AgentClient

        device = self.device(name)
        with self.connector(device) as transport:
            return AgentClient(device, transport).call(command, *args)

    def models_on(self, name: str) -> dict[str, Any]:
        """Returns the agent's `list` answer for `name`: its models, active and previous."""
        return self.agent_call(name, "list")

    def prune(self, name: str, keep: int) -> dict[str, Any]:
        """Removes all but the `keep` newest models of `name` (never the active one or its
        rollback target); returns the agent's answer. Raises UsageError for keep < 1."""
        from tfstudio.errors import UsageError

        if keep < 1:
            raise UsageError("--keep must be at least 1 (the active model is always kept)")
        return self.agent_call(name, "prune", f"--keep={keep}")

    def rollback(self, name: str) -> dict[str, Any]:
        """Re-activates `name`'s previous model and logs it; returns the agent's answer.

        Raises AgentError (e.g. no previous model), TransportError.
        """
        from tfstudio.fleet import deploylog

        answer = self.agent_call(name, "rollback")
        deploylog.append(
            {
                "device": name,
                "result": "manual_rollback",
                **answer,
                "sha256": answer["active"],
            }
        )
        return answer
