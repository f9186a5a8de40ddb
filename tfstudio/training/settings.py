"""The `[training]` table of tfstudio.toml: defaults for every training command.

```toml
[training]
engine = "local"                                   # default --engine
image = "tfstudio-local/tensorflow:2.21.0-cpu"     # default --image (pinned; a local tag works)
workspace = "/data/work"                           # default --workspace (else the current dir)
gpus = "none"                                      # default --gpus
cpus = 4
memory = "16g"
shm_size = "2g"
mounts = ["/data/datasets:/data:ro"]               # extra bind mounts (paths on the engine host)
stop_timeout = 10                                  # seconds between SIGTERM and SIGKILL
init = true                                        # docker-init as PID 1: signals reach the command
pull = true                                        # pull a missing image (false: local images only)
```

Engines declared in `[engines.NAME]` tables are read by `tfstudio.training.engines`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tfstudio.config import CONFIG_NAME, Config, load_config
from tfstudio.errors import ConfigError, TfStudioError
from tfstudio.training.limits import (
    GpuRequest,
    Limits,
    MountSpec,
    parse_cpus,
    parse_gpus,
    parse_mount,
    parse_size,
)

DEFAULT_ENGINE = "local"
DEFAULT_STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class TrainingSettings:
    """Defaults for training commands, from `[training]` (all optional)."""

    engine: str = DEFAULT_ENGINE
    image: str | None = None
    workspace: str | None = None
    gpus: GpuRequest = GpuRequest()
    limits: Limits = Limits()
    mounts: tuple[MountSpec, ...] = ()
    stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S
    init: bool = True
    pull: bool = True


def training_settings(config: Config | None = None) -> TrainingSettings:
    """Returns the `[training]` settings (defaults when the table is absent).

    Raises ConfigError naming the key for a value of the wrong type or form.
    """
    config = config or load_config()
    table: dict[str, Any] = config.section("training")
    key = ""
    try:
        key = "cpus"
        cpus = parse_cpus(table["cpus"]) if "cpus" in table else None
        key = "memory"
        memory = parse_size(table["memory"], "memory") if "memory" in table else None
        key = "shm_size"
        shm = parse_size(table["shm_size"], "shm_size") if "shm_size" in table else None
        key = "gpus"
        gpus = parse_gpus(str(table.get("gpus", "none")))
        key = "mounts"
        raw_mounts = table.get("mounts", [])
        if not isinstance(raw_mounts, list):
            raise ConfigError("must be a list of 'SRC:DST[:ro]' strings")
        mounts = tuple(parse_mount(str(m)) for m in raw_mounts)
        key = "stop_timeout"
        stop_timeout = float(table.get("stop_timeout", DEFAULT_STOP_TIMEOUT_S))
        return TrainingSettings(
            engine=str(table.get("engine", DEFAULT_ENGINE)),
            image=_optional_str(table, "image"),
            workspace=_optional_str(table, "workspace"),
            gpus=gpus,
            limits=Limits(cpus=cpus, memory=memory, shm_size=shm),
            mounts=mounts,
            stop_timeout_s=stop_timeout,
            init=bool(table.get("init", True)),
            pull=bool(table.get("pull", True)),
        )
    except (TfStudioError, TypeError, ValueError) as exc:
        detail = exc.message if isinstance(exc, TfStudioError) else str(exc)
        raise ConfigError(f"{CONFIG_NAME}: [training] {key}: {detail}") from exc


def _optional_str(table: dict[str, Any], key: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"must be a non-empty string, not {value!r}")
    return value.strip()
