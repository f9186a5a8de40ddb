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
    Throttle,
    fleet_result,
)
from tfstudio.studio.rollouts import RolloutOps

if TYPE_CHECKING:
    from tfstudio.compat.prove import CompatResult
    from tfstudio.convert.result import ConversionResult
    from tfstudio.deploy.options import DeployOptions, DeployResult
    from tfstudio.fleet.registry import Device
    from tfstudio.measure.bench import BenchSettings
    from tfstudio.models.catalog import ModelEntry
    from tfstudio.studio.overview import Readiness
    from tfstudio.studio.training import Training


class Studio(RolloutOps):
    """Config, registry, connector and every operation, for any front end.

    Its parts live beside it: devices and their agent (`tfstudio.studio.devices`),
    measurements (`tfstudio.studio.measuring`), staged rollouts
    (`tfstudio.studio.rollouts`), training (`Studio.training`,
    `tfstudio.studio.training`); models, conversion and deploy are here.

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

    def models(self) -> list[ModelEntry]:
        """Returns the converted models the catalogue knows (demo, models/, remembered)."""
        from tfstudio.models import catalog

        return catalog.list_models()

    def default_outdir(self, source: str | Path) -> Path:
        """Returns where a conversion of `source` goes by default: `HOME/models/<stem>`;
        for a version folder (`exports/digits/3`, as TF Serving lays them out),
        `HOME/models/digits-3`, not `HOME/models/3`."""
        path = Path(str(source).rstrip("/"))
        stem = path.name.split(".")[0] or "model"
        if stem.isdigit() and path.parent.name:
            stem = f"{path.parent.name}-{stem}"
        return self.home / "models" / stem

    # -- models -----------------------------------------------------------

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
        catalog.check_dirs()  # before the work: its models must be remembered after it
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

    def compat(
        self,
        models: Sequence[str | Path],
        runtimes: Sequence[str],
        *,
        fresh: bool = False,
        on_event: EventCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> CompatResult:
        """Proves `models` on runtime releases named like 'tflite-runtime==2.14.0': each is
        loaded, allocated and invoked in that release's venv (built once, under
        TFSTUDIO_RUNTIMES or HOME/runtimes). Proofs are kept by model sha256 and reused
        (unless `fresh`); deploy's preflight uses them. Returns the CompatResult matrix
        (a runtime that cannot be built is a failed row naming the missing wheel).
        Raises UsageError for a badly named runtime, ModelFormatError, CancelledError.
        """
        from tfstudio.compat.prove import prove
        from tfstudio.compat.venvs import parse_spec

        specs = [parse_spec(text) for text in runtimes]
        return prove(models, specs, fresh=fresh, on_event=Throttle(on_event), cancel=cancel)

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
