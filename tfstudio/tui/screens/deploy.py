"""The deploy view: a variant and devices; per-device progress; results with latency.

Preflight runs per device before any byte moves (a refusal says why). With
"bench after activation" the health gate measures the new model; a p99 budget
rolls back automatically, and `r` offers a manual rollback of a device.

Devices are the ticked ones, or a selector (`group:cams`, `site=lab`). With
waves (`1,25%,100%`) the deploy is a staged rollout: each wave's progress and
verdict show as a row ("wave 2") beside the devices' rows, a failing wave is
rolled back and halts the rollout, and `u` resumes it once fixed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.widgets import (
    Button,
    DataTable,
    Input,
    Label,
    Select,
    Static,
)

from tfstudio.formatting import human_bytes, ms
from tfstudio.tui.messages import (
    Deployed,
    DeployRequest,
    DeployRequested,
    DeviceAnswer,
    Progress,
    RolledOut,
    WorldRead,
)
from tfstudio.tui.modals.confirm import ConfirmModal
from tfstudio.tui.screens.base import StudioScreen
from tfstudio.tui.screens.trust import DeviceTrust
from tfstudio.tui.widgets.choices import set_devices, set_models
from tfstudio.tui.widgets.chrome import KeyFooter, ViewBar
from tfstudio.tui.widgets.hints import ui_hint
from tfstudio.tui.widgets.paths import PathSuggester
from tfstudio.tui.widgets.progress import TargetProgress
from tfstudio.tui.widgets.tables import fill, selected_key
from tfstudio.tui.widgets.ticks import TickBox, TickList


class DeployScreen(DeviceTrust, StudioScreen):
    """Push a variant to devices: preflight, push, install, health gate."""

    VIEW = "deploy"
    SUBMIT = "deploy"
    OPERATIONS = frozenset({"deploy", "rollback"})

    BINDINGS = [
        Binding("ctrl+r", "deploy", "Deploy"),
        Binding("r", "rollback", "Rollback"),
        Binding("u", "resume", "Resume rollout"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.results: dict[str, Any] = {}
        """The last deploy's result per device."""
        self.rollout_id: str | None = None
        """The rollout shown last (what `u` resumes)."""

    def compose(self) -> ComposeResult:
        yield ViewBar(self.VIEW)
        with Horizontal(id="deploy-body"):
            with VerticalScroll(id="deploy-form", classes="form", can_focus=False):
                yield Label("Model")
                yield Select[str]([], prompt="a converted model", id="variant")
                yield Input(
                    id="model-path",
                    suggester=PathSuggester(),
                    placeholder="or a .tflite path",
                    compact=True,
                )
                yield Label("Devices")
                yield TickList(id="targets")
                yield Input(
                    id="selector", placeholder="or a selector: group:cams,site=lab", compact=True
                )
                yield Label("Waves (blank: all at once)")
                with Horizontal(id="rollout-row"):
                    yield Input(id="waves", placeholder="1,25%,100%", compact=True)
                    yield Input(id="soak", placeholder="soak 30s", compact=True)
                    yield Input(id="max-failures", placeholder="max fail 0", compact=True)
                yield TickBox("bench after activation", value=True, id="gate")
                yield Label("Max p99 (ms)")
                yield Input(id="max-p99", placeholder="roll back above it", compact=True)
                yield Button(
                    "Deploy (ctrl+r)", variant="primary", id="deploy", classes="run-button"
                )
            with Vertical(id="deploy-main"):
                yield Static(
                    "Choose a model and devices, then ctrl+r.",
                    id="deploy-status",
                    classes="op-status",
                )
                yield TargetProgress(id="deploy-progress")
                yield DataTable(id="deploy-results", cursor_type="row", zebra_stripes=True)
                yield Static("", id="deploy-detail")
        yield KeyFooter()

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#deploy-results", DataTable)
        table.border_title = "Results"
        table.add_columns("device", "result", "sent", "p50", "p99", "detail")

    def refresh_view(self) -> None:
        """Re-reads what the view shows."""
        self.read_choices()

    @work(thread=True, exclusive=True, exit_on_error=False, group="read", description="read")
    def read_choices(self) -> None:
        """Reads the catalogue and the registry for the form."""
        studio = self.studio
        self.post_message(WorldRead([], studio.device_summaries(), studio.models()))

    def on_world_read(self, message: WorldRead) -> None:
        set_models(self.query_one("#variant", Select), message.models)
        set_devices(self.query_one("#targets", TickList), message.devices)

    def request(self) -> DeployRequest | None:
        """Returns the form's request, or None (after saying what is missing)."""
        path_text = self.query_one("#model-path", Input).value.strip()
        select = self.query_one("#variant", Select)
        model = path_text or (str(select.value) if select.value != Select.BLANK else "")
        devices = list(self.query_one("#targets", TickList).selected)
        selector = self.query_one("#selector", Input).value.strip() or None
        budget_text = self.query_one("#max-p99", Input).value.strip()
        if not model:
            self.notify("choose a model (or convert one first: 3)", severity="warning")
            return None
        if not devices and not selector:
            self.notify("choose at least one device (or give a selector)", severity="warning")
            return None
        try:
            budget = float(budget_text) if budget_text else None
            rollout = self._rollout_fields()
        except ValueError as exc:
            self.notify(str(exc), severity="warning")
            return None
        gate = self.query_one("#gate", TickBox).value
        return DeployRequest(Path(model).expanduser(), devices, gate, budget, selector, *rollout)

    def _rollout_fields(self) -> tuple[str | None, int, float | None]:
        """(waves, max failures, soak seconds) of the form. Raises ValueError."""
        from tfstudio.errors import TfStudioError
        from tfstudio.studio.types import parse_duration

        waves = self.query_one("#waves", Input).value.strip() or None
        fails = self.query_one("#max-failures", Input).value.strip()
        soak = self.query_one("#soak", Input).value.strip()
        if (fails or soak) and not waves:
            raise ValueError("soak and max failures are for waves: give waves (1,25%,100%)")
        if fails and not fails.isdigit():
            raise ValueError("max failures is a number of devices")
        try:
            soak_s = parse_duration(soak) if soak else None
        except TfStudioError:
            raise ValueError(f"soak {soak!r} is not a time (30s, 2m)") from None
        return waves, int(fails or 0), soak_s

    @on(Button.Pressed, "#deploy")
    def action_deploy(self) -> None:
        """Posts DeployRequested for the form."""
        request = self.request()
        if request is not None:
            self.post_message(DeployRequested(request))

    def on_deploy_requested(self, message: DeployRequested) -> None:
        request = message.request
        where = request.selector or ", ".join(request.devices)
        how = f" in waves {request.waves}" if request.waves else ""
        token = self.start(
            lambda: self.post_message(DeployRequested(request)),
            f"deploying {request.model.name} to {where}{how}",
            [] if request.selector else request.devices,
        )
        self.run_deploy(request, token)

    @work(thread=True, exclusive=True, exit_on_error=False, group="deploy", description="deploy")
    def run_deploy(self, request: DeployRequest, token: Any) -> None:
        """Deploys (or rolls out) in this thread (the core fans out), posting events and the
        result."""
        studio = self.studio
        selector = request.selector or ",".join(request.devices)
        on_event = lambda e: self.post_message(Progress(e))  # noqa: E731
        if request.waves:
            from tfstudio.studio.types import SoakGate, WaveGates

            soak = SoakGate(request.soak_s) if request.soak_s else None
            options = studio.deploy_options(bench=request.bench, max_p99_ms=request.max_p99_ms)
            result = studio.rollout(
                request.model, selector, request.waves, options,
                WaveGates(request.max_failures, soak), on_event=on_event, cancel=token,
            )  # fmt: skip
            self.post_message(RolledOut(result))
            return
        fleet = studio.deploy(
            request.model,
            studio.resolve(selector),
            bench=request.bench,
            max_p99_ms=request.max_p99_ms,
            on_event=on_event,
            cancel=token,
        )
        self.post_message(Deployed(fleet))

    def action_resume(self) -> None:
        """Resumes the rollout shown last (halted or interrupted), with its own options."""
        rollout_id = self.rollout_id
        if rollout_id is None:
            self.notify("no rollout to resume here (tfstudio rollouts lists them)",
                        severity="warning")  # fmt: skip
            return
        token = self.start(self.action_resume, f"resuming rollout {rollout_id}", [])
        self.run_resume(rollout_id, token)

    @work(thread=True, exclusive=True, exit_on_error=False, group="deploy", description="resume")
    def run_resume(self, rollout_id: str, token: Any) -> None:
        """Resumes a rollout in this thread, posting events and the result."""
        result = self.studio.resume_rollout(
            rollout_id, on_event=lambda e: self.post_message(Progress(e)), cancel=token
        )
        self.post_message(RolledOut(result))

    def on_rolled_out(self, message: RolledOut) -> None:
        record = message.result.to_json()
        self.rollout_id = record["id"]
        rows = []
        for name, info in record["devices"].items():
            bench = info.get("bench") or {}
            detail = f"wave {info['wave']}: " + (info.get("message") or "not reached").removeprefix(
                f"{name}: "
            )
            if info.get("rolled_back"):
                detail += " (rolled back)"
            rows.append(
                (name, [name, info.get("status") or "-", "", ms(bench.get("p50_ms")),
                        ms(bench.get("p99_ms")), detail])
            )  # fmt: skip
        fill(self.query_one("#deploy-results", DataTable), rows)
        waves = "  ".join(f"{w['index']}:{w['state']}" for w in record["waves"])
        status = f"rollout {record['id']} {record['state']} (waves {waves})"
        halted = record.get("halted") or {}
        if record["state"] != "done":
            status += f"\n{halted.get('reason', '')}  (u: resume once fixed)"
        self.query_one("#deploy-status", Static).update(status)

    def on_progress(self, message: Progress) -> None:
        self.query_one(TargetProgress).apply(message.event)

    def on_deployed(self, message: Deployed) -> None:
        self.results = {r.device: r for r in message.result}
        rows = []
        for r in message.result:
            bench = r.bench or {}
            detail = r.message.removeprefix(f"{r.device}: ")
            if r.hint and not r.ok:
                detail += f" (fix: {ui_hint(r.hint)})"
            rows.append(
                (
                    r.device,
                    [r.device, r.status.value, human_bytes(r.bytes_sent), ms(bench.get("p50_ms")),
                     ms(bench.get("p99_ms")), detail],
                )
            )  # fmt: skip
        fill(self.query_one("#deploy-results", DataTable), rows)
        failed = message.result.failed
        status = "all devices ok" if not failed else f"not ok on: {', '.join(failed)}"
        # Roll back only where this deploy changed the active model and it went wrong; a
        # refused, cancelled or unreachable device runs what it ran before.
        changed = [r.device for r in message.result if _changed_and_failed(r)]
        if changed:
            status += f"  (r rolls back {', '.join(changed)})"
        self.query_one("#deploy-status", Static).update(status)
        self._detail()
        unknown = [r.device for r in message.result if not r.ok and _unknown_host_key(r)]
        if unknown:
            self._offer_trust(unknown[0])

    def _offer_trust(self, name: str) -> None:
        """A device refused for an unknown host key: offer the trust dialog now."""

        def answered(yes: bool | None) -> None:
            if yes:
                self.trust_device(name)

        question = (
            f"{name} offered a host key this studio has not trusted yet, so nothing was "
            "sent.\nRead its key and show the fingerprint now?"
        )
        self.app.push_screen(ConfirmModal("Unknown host key", question, "Show key"), answered)

    def trusted(self, offer: Any) -> None:
        self.query_one("#deploy-status", Static).update(
            f"{offer.device}: host key trusted; ctrl+r deploys again"
        )

    @on(DataTable.RowHighlighted, "#deploy-results")
    def _detail(self) -> None:
        """The selected result in full: the table cuts long messages at 80 columns."""
        result = self.results.get(selected_key(self.query_one("#deploy-results", DataTable)) or "")
        panel = self.query_one("#deploy-detail", Static)
        if result is None:
            panel.update("")
            return
        lines = [f"[b]{result.device}[/b] {result.status.value}: {escape(result.message)}"]
        if result.hint and not result.ok:
            lines.append(f"fix: {escape(ui_hint(result.hint) or '')}")
        if result.bench:
            lines.append(
                f"p50 {ms(result.bench.get('p50_ms'))} ms  p99 {ms(result.bench.get('p99_ms'))} ms"
            )
        panel.update("\n".join(lines))

    def operation_ended(self, worker: Any) -> None:
        if worker.group == "deploy":
            self.query_one("#deploy", Button).disabled = False


def _changed_and_failed(result: Any) -> bool:
    """True when the deploy activated something on the device and then failed (a manual
    rollback makes sense there)."""
    from tfstudio.studio.types import Status

    return result.status is Status.FAILED and bool(result.active) and bool(result.previous)


def _unknown_host_key(result: Any) -> bool:
    """True when the device was refused because its host key is not trusted yet."""
    return "devices trust" in (result.hint or "")

    def action_rollback(self) -> None:
        """Asks, then re-activates the selected device's previous model."""
        name = selected_key(self.query_one("#deploy-results", DataTable))
        if name is None:
            name = next(iter(self.query_one("#targets", TickList).selected), None)
        if name is None:
            self.notify("select a device first", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._retry = lambda: self.run_rollback(name)
                self.run_rollback(name)

        self.app.push_screen(
            ConfirmModal("Roll back", f"Re-activate the previous model on {name}?", "Roll back"),
            answered,
        )

    @work(
        thread=True, exclusive=True, exit_on_error=False, group="rollback", description="rollback"
    )
    def run_rollback(self, name: str) -> None:
        """Rolls `name` back in this thread."""
        self.post_message(DeviceAnswer(name, "rollback", self.studio.rollback(name)))

    def on_device_answer(self, message: DeviceAnswer) -> None:
        active = str(message.answer.get("active", ""))[:12]
        self.notify(f"{message.device}: rolled back; active {active}", title="rollback")
