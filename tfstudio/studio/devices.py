"""The devices part of the facade: the registry, host-key trust, checks, the agent (install,
calls, prune, rollback) and the agent's service.

`Studio` inherits it. Every call opens its device's connection through the studio's
connector (deadlines from the config, key passphrases asked by the front end) and closes
it before returning; nothing here prints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfstudio.operations import (
    CancelToken,
    EventCallback,
    FleetResult,
    Reporter,
    Stage,
    Throttle,
    fleet_result,
)
from tfstudio.studio.state import StudioState

if TYPE_CHECKING:
    from tfstudio.errors import TfStudioError
    from tfstudio.fleet.agent_install import AgentInstallResult
    from tfstudio.fleet.check import CheckResult
    from tfstudio.fleet.device_import import ImportResult
    from tfstudio.fleet.hostkey_offer import HostKeyOffer
    from tfstudio.fleet.registry import Device
    from tfstudio.fleet.service import ServiceState
    from tfstudio.fleet.trust import Scanned, TrustResult
    from tfstudio.studio.overview import DeviceSummary


class DeviceOps(StudioState):
    """Devices and their agent, for any front end."""

    # -- the registry -------------------------------------------------------

    def devices(self) -> list[Device]:
        """Returns `local` and every registered device."""
        from tfstudio.fleet.registry import list_devices

        return list_devices()

    def device_summaries(self) -> list[DeviceSummary]:
        """Returns every device with its last check, deploy and bench."""
        from tfstudio.studio import overview

        return overview.device_summaries()

    def device(self, name: str) -> Device:
        """Returns one device. Raises DeviceError."""
        from tfstudio.fleet.registry import get_device

        return get_device(name)

    def add_device(self, device: Device, *, replace: bool = False) -> Device:
        """Validates and registers `device`; with `replace`, it takes the place of the
        device of that name (an edit). Raises DeviceError."""
        from tfstudio.fleet.registry import add_device

        return add_device(device, replace_existing=replace)

    def validate_device(self, device: Device) -> Device:
        """Returns `device` with every field checked as `add_device` checks it (the key
        file must exist), storing nothing: a form can call it before it closes.
        Raises DeviceError."""
        from dataclasses import replace

        from tfstudio.fleet.registry import check_device

        return check_device(replace(device, kind="ssh"), files=True)

    def remove_device(self, name: str) -> Device:
        """Forgets `name` (never `local`). Raises DeviceError."""
        from tfstudio.fleet.registry import remove_device

        return remove_device(name)

    def resolve(self, names: str | Sequence[str]) -> list[Device]:
        """Returns the devices a selector picks: `a,b`, `all`, label filters
        (`site=lab,group:cameras`) or a list of names. Raises DeviceError."""
        from tfstudio.fleet.registry import resolve_names

        return resolve_names(names if isinstance(names, str) else ",".join(names))

    def select_devices(self, selector: str, devices: Sequence[Device]) -> list[Device]:
        """Returns those of `devices` a selector picks (no I/O: for filtering a list a front
        end holds). Raises DeviceError for a bad selector or a filter matching nothing."""
        from tfstudio.fleet.labels import parse, select

        return select(parse(selector), list(devices))  # type: ignore[return-value]

    def label_device(
        self,
        name: str,
        words: Sequence[str] = (),
        *,
        add_groups: Sequence[str] = (),
        remove_groups: Sequence[str] = (),
    ) -> Device:
        """Applies `KEY=VALUE` (set) and `KEY-` (remove) words and group changes to a
        registered device; returns the new entry. Raises DeviceError."""
        from tfstudio.fleet.labels import parse_changes
        from tfstudio.fleet.registry import set_labels

        setting, removing = parse_changes(words)
        return set_labels(
            name, setting, removing, add_groups=add_groups, remove_groups=remove_groups
        )

    # -- host keys: two calls, a dialog (or a prompt) between them -----------

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

    def trust(
        self,
        offer: HostKeyOffer,
        *,
        fingerprint: str | None = None,
        confirm: Callable[[str], bool] | None = None,
        replace: bool = False,
    ) -> TrustResult:
        """Records `offer` when `fingerprint` matches it or `confirm(text)` says yes.

        Raises HostKeyError (no match, nobody confirmed), HostKeyChangedError (the
        key changed and `replace` was not given with a matching fingerprint).
        """
        from tfstudio.fleet.trust import trust_offer

        return trust_offer(offer, fingerprint=fingerprint, confirm=confirm, replace=replace)

    def scan_host_keys(self, devices: Sequence[Device]) -> list[Scanned]:
        """Reads the host key each SSH device offers, at once (records nothing); an
        unreachable device carries its error. Pair with `record_host_key` per offer the
        user confirmed (`devices trust --all-new` asks once for every new key)."""
        from tfstudio.fleet.trust import scan_many

        return scan_many(
            list(devices), connect_timeout=self.config.connect_timeout_s, workers=self.workers
        )

    # -- inventories ----------------------------------------------------------

    def import_devices(
        self,
        path: str | Path,
        *,
        ssh_config: bool = False,
        dry_run: bool = False,
        prune: bool = False,
    ) -> ImportResult:
        """Registers the devices of an Ansible inventory (INI, YAML, or `ansible-inventory
        --list` JSON) or, with `ssh_config`, of an ssh config's single-host `Host` entries.

        A re-import updates the devices it made (and says what changed); devices gone from
        the file are reported, and removed with `prune`. Host keys are not trusted here.
        Raises InventoryError, ConfigError, UsageError, MissingExtraError (YAML without
        PyYAML).
        """
        from tfstudio.fleet.device_import import import_file

        return import_file(Path(path), ssh_config=ssh_config, dry_run=dry_run, prune=prune)

    # -- the agent ------------------------------------------------------------

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
            report = Reporter("check", device.name, emit)
            report.stage(Stage.CHECK, "checking")
            result = check_device(device, connect=self.connector)
            message = result.error or ("ready" if result.ok else result.agent)
            report.finished(result.ok, message, result.to_json())
            return result

        results = fanout.run_all(
            list(devices),
            lambda i, d: one(d),
            workers=min(self.workers, len(devices) or 1),
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

    def install_agents(
        self, names: Sequence[str], *, runtime: str | None = None
    ) -> list[AgentInstallResult | TfStudioError]:
        """Installs the agent on every device of `names` at once (`workers` at a time);
        returns each one's result, or the error that stopped it, in order."""
        from tfstudio.errors import DeviceError, TfStudioError
        from tfstudio.fleet import fanout

        def one(name: str) -> AgentInstallResult | TfStudioError:
            try:
                return self.install_agent(name, runtime=runtime)
            except TfStudioError as exc:
                return exc

        return fanout.run_all(
            list(names),
            lambda i, name: one(name),
            workers=min(self.workers, max(1, len(names))),
            cancel=CancelToken(),
            abandon=lambda i, name: DeviceError(f"{name}: cancelled"),
            grace_s=0.0,
            name="install",
        )

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

    def prune(self, name: str, keep: int, *, drop_rollback: bool = False) -> dict[str, Any]:
        """Removes all but the `keep` newest models of `name`, never the active one, nor its
        rollback target unless `drop_rollback` (the front end confirms that first: rollback
        then has nothing to return to); returns the agent's answer. Raises UsageError for
        keep < 1."""
        from tfstudio.errors import UsageError

        if keep < 1:
            raise UsageError("--keep must be at least 1 (the active model is always kept)")
        extra = ["--drop-rollback"] if drop_rollback else []
        return self.agent_call(name, "prune", f"--keep={keep}", *extra)

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

    def service(
        self,
        name: str,
        action: str,
        *,
        port: int | None = None,
        mode: str = "auto",
        token: bool = True,
        cancel: CancelToken | None = None,
    ) -> ServiceState:
        """Runs the agent's server on `name` as a service: `action` is enable, disable or
        status. `port` is on the device's loopback (default 8501); `mode` auto, systemd or
        process. Returns the service's state after the action.

        Raises UsageError (bad port or action), DeviceError, AgentRefusal, TransportError.
        """
        from tfstudio.errors import UsageError
        from tfstudio.fleet.service import DEFAULT_PORT, control

        port = DEFAULT_PORT if port is None else port
        if not 0 <= port < 65536:
            raise UsageError(f"invalid port {port} (0 picks a free one; at most 65535)")
        if action not in ("enable", "disable", "status"):
            raise UsageError(f"unknown service action {action!r} (enable, disable or status)")
        device = self.device(name)
        with self.connector(device) as transport:
            return control(
                device, transport, action, port=port, mode=mode, token=token, cancel=cancel
            )
