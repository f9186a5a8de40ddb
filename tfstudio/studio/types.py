"""The facade's vocabulary, under one name for both front ends: the values its operations
take and return, and the plain functions that render them.

The CLI and the UI import these from here, never from the cores (import contracts in
pyproject.toml say so), so a core can move behind the facade without a front end
noticing. Each name loads on first use (PEP 562 `__getattr__`): `tfstudio --help` and the
UI's first frame import none of the modules behind them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE: dict[str, str] = {
    # devices, trust, the agent's service
    "Device": "tfstudio.fleet.registry",
    "PassphraseRequired": "tfstudio.fleet.connector",
    "HostKeyOffer": "tfstudio.fleet.hostkey_offer",
    "CHANGED": "tfstudio.fleet.hostkey_offer",
    "TRUSTED": "tfstudio.fleet.hostkey_offer",
    "TrustResult": "tfstudio.fleet.trust",
    "Scanned": "tfstudio.fleet.trust",
    "ImportResult": "tfstudio.fleet.device_import",
    "ServiceState": "tfstudio.fleet.service",
    "AgentInstallResult": "tfstudio.fleet.agent_install",
    "CheckResult": "tfstudio.fleet.check",
    # training
    "Engine": "tfstudio.training.engines",
    "DockerContext": "tfstudio.training.dockercontext",
    "GpuCheckResult": "tfstudio.training.gpucheck",
    "Verdict": "tfstudio.training.gpucheck",
    "LaunchResult": "tfstudio.training.launch",
    "JobInfo": "tfstudio.training.jobs",
    "Provenance": "tfstudio.training.provenance",
    # models and conversion
    "ModelEntry": "tfstudio.models.catalog",
    "read_entry": "tfstudio.models.catalog",
    "ModelFacts": "tfstudio.models.facts",
    "facts_to_json": "tfstudio.models.facts",
    "describe_runtime": "tfstudio.models.facts",
    "describe_measured": "tfstudio.models.facts",
    "inspect_model": "tfstudio.models.facts",
    "ConversionResult": "tfstudio.convert.result",
    "FailedVariant": "tfstudio.convert.result",
    "VariantResult": "tfstudio.convert.result",
    "ModesFailedError": "tfstudio.convert.result",
    "parse_modes": "tfstudio.convert.presets",
    "CompatResult": "tfstudio.compat.prove",
    "CompatRow": "tfstudio.compat.prove",
    # deploy and measurements
    "DeployOptions": "tfstudio.deploy.options",
    "DeployResult": "tfstudio.deploy.options",
    "Status": "tfstudio.deploy.options",
    "EvalGate": "tfstudio.deploy.evalgate",
    "WaveGates": "tfstudio.deploy.rollout",
    "RolloutResult": "tfstudio.deploy.rollout",
    "RolloutRecord": "tfstudio.deploy.rolloutlog",
    "SoakGate": "tfstudio.deploy.soak",
    "parse_duration": "tfstudio.deploy.soak",
    "BenchSettings": "tfstudio.measure.bench",
    "EvalRun": "tfstudio.measure.evaluate",
    "Report": "tfstudio.measure.report",
    "export_bench": "tfstudio.measure.export",
    "table_rows": "tfstudio.measure.reportfmt",
    "to_csv": "tfstudio.measure.reportfmt",
    "to_markdown": "tfstudio.measure.reportfmt",
    "DeviceMetrics": "tfstudio.tunnel.telemetry",
    "Transport": "tfstudio.transport.base",
    "PredictResult": "tfstudio.tunnel.predict",
}
"""Each name and the module that defines it."""

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value  # the next lookup is a plain one
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from tfstudio.compat.prove import CompatResult as CompatResult
    from tfstudio.compat.prove import CompatRow as CompatRow
    from tfstudio.convert.presets import parse_modes as parse_modes
    from tfstudio.convert.result import ConversionResult as ConversionResult
    from tfstudio.convert.result import FailedVariant as FailedVariant
    from tfstudio.convert.result import ModesFailedError as ModesFailedError
    from tfstudio.convert.result import VariantResult as VariantResult
    from tfstudio.deploy.evalgate import EvalGate as EvalGate
    from tfstudio.deploy.options import DeployOptions as DeployOptions
    from tfstudio.deploy.options import DeployResult as DeployResult
    from tfstudio.deploy.options import Status as Status
    from tfstudio.deploy.rollout import RolloutResult as RolloutResult
    from tfstudio.deploy.rollout import WaveGates as WaveGates
    from tfstudio.deploy.rolloutlog import RolloutRecord as RolloutRecord
    from tfstudio.deploy.soak import SoakGate as SoakGate
    from tfstudio.deploy.soak import parse_duration as parse_duration
    from tfstudio.fleet.agent_install import AgentInstallResult as AgentInstallResult
    from tfstudio.fleet.check import CheckResult as CheckResult
    from tfstudio.fleet.connector import PassphraseRequired as PassphraseRequired
    from tfstudio.fleet.device_import import ImportResult as ImportResult
    from tfstudio.fleet.hostkey_offer import CHANGED as CHANGED
    from tfstudio.fleet.hostkey_offer import TRUSTED as TRUSTED
    from tfstudio.fleet.hostkey_offer import HostKeyOffer as HostKeyOffer
    from tfstudio.fleet.registry import Device as Device
    from tfstudio.fleet.service import ServiceState as ServiceState
    from tfstudio.fleet.trust import Scanned as Scanned
    from tfstudio.fleet.trust import TrustResult as TrustResult
    from tfstudio.measure.bench import BenchSettings as BenchSettings
    from tfstudio.measure.evaluate import EvalRun as EvalRun
    from tfstudio.measure.export import export_bench as export_bench
    from tfstudio.measure.report import Report as Report
    from tfstudio.measure.reportfmt import table_rows as table_rows
    from tfstudio.measure.reportfmt import to_csv as to_csv
    from tfstudio.measure.reportfmt import to_markdown as to_markdown
    from tfstudio.models.catalog import ModelEntry as ModelEntry
    from tfstudio.models.catalog import read_entry as read_entry
    from tfstudio.models.facts import ModelFacts as ModelFacts
    from tfstudio.models.facts import describe_measured as describe_measured
    from tfstudio.models.facts import describe_runtime as describe_runtime
    from tfstudio.models.facts import facts_to_json as facts_to_json
    from tfstudio.models.facts import inspect_model as inspect_model
    from tfstudio.training.dockercontext import DockerContext as DockerContext
    from tfstudio.training.engines import Engine as Engine
    from tfstudio.training.gpucheck import GpuCheckResult as GpuCheckResult
    from tfstudio.training.gpucheck import Verdict as Verdict
    from tfstudio.training.jobs import JobInfo as JobInfo
    from tfstudio.training.launch import LaunchResult as LaunchResult
    from tfstudio.training.provenance import Provenance as Provenance
    from tfstudio.transport.base import Transport as Transport
    from tfstudio.tunnel.predict import PredictResult as PredictResult
    from tfstudio.tunnel.telemetry import DeviceMetrics as DeviceMetrics
