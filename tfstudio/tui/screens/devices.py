"""The devices view: the registry with each device's last known state.

`a` add, `e` edit, `x` remove, `t` trust a host key (scan, show the fingerprint,
record on confirm), `i` install or upgrade the agent (choosing the runtime), `c`
check, `m` list the models a device stores, `s` run the agent's server as a
service, `/` filter the list by a selector (`group:cams`, `site=lab,hw=pi4`: the
labels and groups of the last column), `l` live metrics of the selected device
(the agent's service, scraped every 2 s through an SSH tunnel kept open; it stops
on another device, on leaving the view, or on a failed scrape, which shows its fix
and offers `s`).
"""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.widgets import DataTable, Input, Static

from tfstudio.errors import TfStudioError
from tfstudio.formatting import ms, online
from tfstudio.studio.overview import DeviceSummary
from tfstudio.tui.messages import (
    Checked,
    DeviceAnswer,
    MetricsRead,
    WorldRead,
)
from tfstudio.tui.modals.confirm import ConfirmModal
from tfstudio.tui.screens.base import StudioScreen
from tfstudio.tui.screens.trust import DeviceTrust
from tfstudio.tui.widgets.chrome import KeyFooter, ViewBar
from tfstudio.tui.widgets.hints import ui_hint
from tfstudio.tui.widgets.tables import fill, selected_key

METRICS_EVERY_S = 2.0
"""How often the followed device is scraped."""
KEEP_RUNTIME = "keep"
RUNTIMES = (
    (KEEP_RUNTIME, "the runtime the device has (install nothing else)"),
    ("ai-edge-litert", "ai-edge-litert: pip-install it in a venv on the device if missing"),
    ("tflite-runtime", "tflite-runtime: pip-install it in a venv on the device if missing"),
)
"""The install dialog's choices (`tfstudio agent install --runtime`)."""


def labels_text(device: Any) -> str:
    """A device's labels and groups as a selector would name them."""
    parts = [f"{k}={v}" for k, v in sorted(device.labels.items())]
    return " ".join([*parts, *(f"group:{g}" for g in device.groups)])


def live_text(m: Any) -> str:
    """The side panel's lines for one successful scrape (DeviceMetrics)."""
    window = "since start" if m.since_start else f"last {m.window_s or 0:.0f} s"
    rate = f" ({m.request_rate:.2f}/s)" if m.request_rate is not None else ""
    lat = m.request_latency
    invoke = m.invoke_latency
    active = (m.active or {}).get("name") or (m.active or {}).get("sha256", "")[:12] or "-"
    lines = [
        f"[b]{m.device}[/b] live ({window})",
        f"requests {m.requests}{rate}  errors {m.errors}",
        f"predicts {m.predicts}  instances {m.instances}",
    ]
    if lat is not None and lat.count:
        lines.append(f"request p50 {ms(lat.p50_ms)}  p99 {ms(lat.p99_ms)} ms")
    if invoke is not None and invoke.count:
        lines.append(f"invoke  p50 {ms(invoke.p50_ms)}  p99 {ms(invoke.p99_ms)} ms")
    lines.append(f"active {active}")
    if m.uptime_s is not None:
        lines.append(
            f"up {m.uptime_s:.0f} s  scraped {m.scraped_at[11:19] if m.scraped_at else ''}"
        )
    return "\n".join(lines)


class DevicesScreen(DeviceTrust, StudioScreen):
    """Add, remove, trust, install, check."""

    VIEW = "devices"
    OPERATIONS = frozenset({"registry", "trust", "agent", "check", "service"})

    BINDINGS = [
        Binding("a", "add", "Add"),
        Binding("e", "edit", "Edit"),
        Binding("c", "check", "Check"),
        Binding("i", "install", "Install"),
        Binding("t", "trust", "Trust"),
        Binding("l", "live", "Live"),
        Binding("x", "remove", "Remove", show=False),
        Binding("m", "models", "Models", show=False),
        Binding("s", "serve", "Serve", show=False),
        Binding("slash", "filter", "Filter"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.summaries: dict[str, DeviceSummary] = {}
        self.filter_text = ""
        """The selector the list is filtered by ("": every device)."""
        self.live: str | None = None
        """The device whose metrics are followed (None: none)."""
        self._sessions: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        yield ViewBar(self.VIEW)
        with Horizontal(id="devices-body"):
            with Vertical(id="device-list"):
                yield Input(id="device-filter", placeholder="/ filter: group:cams,site=lab")
                yield DataTable(id="device-table", cursor_type="row", zebra_stripes=True)
            with Vertical(id="device-side"):
                yield Static("", id="device-detail")
                yield Static("l: live metrics of the selected device", id="device-metrics")
        yield KeyFooter()

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#device-table", DataTable)
        table.border_title = "Devices"
        table.add_columns(
            "device", "address", "online", "agent", "runtime", "p50", "last seen", "labels"
        )
        self.poll(METRICS_EVERY_S, "metrics", self._scrape_live)
        # The list, not the filter box (the first focusable widget): the view's keys
        # (a, t, i, ...) must reach the view, and `/` moves to the filter.
        table.focus()

    @property
    def selected(self) -> str | None:
        """The name of the device under the cursor."""
        return selected_key(self.query_one("#device-table", DataTable))

    def refresh_view(self) -> None:
        """Re-reads what the view shows."""
        self.read_devices()

    @work(thread=True, exclusive=True, exit_on_error=False, group="read", description="read")
    def read_devices(self) -> None:
        """Reads the registry and history."""
        self.post_message(WorldRead([], self.studio.device_summaries(), []))

    def on_world_read(self, message: WorldRead) -> None:
        self.summaries = {d.name: d for d in message.devices}
        self._show()

    def _show(self) -> None:
        shown = list(self.summaries.values())
        if self.filter_text:
            try:
                picked = self.studio.select_devices(self.filter_text, [d.device for d in shown])
            except TfStudioError as exc:
                self.notify(exc.message, title="filter", severity="warning")
                picked = []
            names = {d.name for d in picked}
            shown = [d for d in shown if d.name in names]
        rows = [
            (
                d.name,
                [d.name, d.address, online(d.reachable), d.agent or "-", d.runtime or "-",
                 ms(d.p50_ms), (d.last_seen or "never")[:16], labels_text(d.device)],
            )
            for d in shown
        ]  # fmt: skip
        fill(self.query_one("#device-table", DataTable), rows)
        self._detail()

    def action_filter(self) -> None:
        """Moves to the filter box."""
        self.query_one("#device-filter", Input).focus()

    @on(Input.Submitted, "#device-filter")
    def _filtered(self, event: Input.Submitted) -> None:
        # The `/` that opened the box may land in it; no selector starts with one.
        self.filter_text = event.value.strip().lstrip("/").strip()
        self._show()
        self.query_one("#device-table", DataTable).focus()

    @on(DataTable.RowHighlighted)
    def _detail(self) -> None:
        d = self.summaries.get(self.selected or "")
        if d is None:
            return
        if self.live is not None and self.live != d.name:
            self._stop_live(f"live metrics of {self.live} stopped (another device selected)")
        self.query_one("#device-detail", Static).update(
            f"[b]{d.name}[/b] ({d.device.kind})\n{d.address}\npython {d.device.python}\n"
            f"{escape(labels_text(d.device) or 'no labels')}\n"
            f"agent home {d.device.agent_home}\n\nruntime {d.runtime or '-'}\n"
            f"active {d.active or '-'}\np50 {ms(d.p50_ms)}  p99 {ms(d.p99_ms)} ms\n\n"
            "a add  e edit  x remove\nt trust  i install  c check\nm models  s serve  l live"
        )

    # -- live metrics ------------------------------------------------------

    def action_live(self) -> None:
        """Starts (or stops) following the selected device's live metrics."""
        name = self._need()
        if name is None:
            return
        if self.live == name:
            self._stop_live(f"live metrics of {name} stopped")
            return
        self.live = name
        self.query_one("#device-metrics", Static).update(f"[b]{name}[/b] live: connecting...")
        self.scrape(name)

    def _scrape_live(self) -> None:
        if self.live is not None:
            self.scrape(self.live)

    @work(thread=True, exclusive=True, exit_on_error=False, group="metrics", description="metrics")
    def scrape(self, name: str) -> None:
        """Scrapes the device's metrics once (the session's tunnel stays open between)."""
        session = self._sessions.get(name)
        if session is None:
            session = self._sessions[name] = self.studio.metrics(name)
        self.post_message(MetricsRead(session.poll()))

    def on_metrics_read(self, message: MetricsRead) -> None:
        m = message.metrics
        if m.device != self.live:
            return  # a scrape that ended after the user moved on
        panel = self.query_one("#device-metrics", Static)
        if not m.ok:
            fix = f"\nfix: {escape(ui_hint(m.hint) or '')}" if m.hint else ""
            panel.update(f"[b]{m.device}[/b] live: [$error]{escape(m.error or '')}[/]{fix}")
            self._stop_live(None)
            return
        panel.update(live_text(m))

    def _stop_live(self, text: str | None) -> None:
        self.live = None
        sessions, self._sessions = list(self._sessions.values()), {}
        if sessions:
            self.close_sessions(sessions)
        if text is not None:
            self.query_one("#device-metrics", Static).update(text)

    @work(thread=True, exit_on_error=False, group="metrics-close", description="close")
    def close_sessions(self, sessions: list[Any]) -> None:
        """Closes metrics sessions (their connections) off the UI thread."""
        for session in sessions:
            session.close()

    def on_screen_suspend(self) -> None:
        if self.live is not None:
            self._stop_live(f"live metrics of {self.live} stopped (view left); l to resume")

    def on_unmount(self) -> None:
        for session in self._sessions.values():
            session.close()

    def _need(self, ssh_only: bool = False) -> str | None:
        name = self.selected
        if name is None:
            self.notify("select a device first", severity="warning")
        elif ssh_only and name == "local":
            self.notify("'local' is this machine: it has no host key", severity="warning")
            return None
        return name

    # -- add / remove ------------------------------------------------------

    def action_add(self) -> None:
        """Opens the device form."""
        from tfstudio.tui.modals.add_device import AddDeviceModal

        def added(device: Any) -> None:
            if device is not None:
                self._retry = lambda: self.run_add(device, False)
                self.run_add(device, False)

        self.app.push_screen(AddDeviceModal(self.studio.validate_device), added)

    def action_edit(self) -> None:
        """Opens the device form on the selected device; saving replaces it."""
        from tfstudio.tui.modals.add_device import AddDeviceModal

        name = self._need()
        if name is None:
            return
        if name == "local":
            self.notify("'local' is built in: there is nothing to edit", severity="warning")
            return

        def edited(device: Any) -> None:
            if device is not None:
                self._retry = lambda: self.run_add(device, True)
                self.run_add(device, True)

        device = self.summaries[name].device
        self.app.push_screen(AddDeviceModal(self.studio.validate_device, device), edited)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="registry",
        description="save device",
    )
    def run_add(self, device: Any, replace: bool) -> None:
        """Validates and stores the device (in place of the one of its name: `replace`)."""
        stored = self.studio.add_device(device, replace=replace)
        self.post_message(DeviceAnswer(stored.name, "saved" if replace else "added", stored))

    def action_remove(self) -> None:
        """Asks, then forgets the selected device."""
        name = self._need()
        if name is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_remove(name)

        self.app.push_screen(ConfirmModal("Remove", f"Forget device {name}?", "Remove"), answered)

    @work(thread=True, exclusive=True, exit_on_error=False, group="registry", description="remove")
    def run_remove(self, name: str) -> None:
        """Removes the device from the registry."""
        self.post_message(DeviceAnswer(name, "removed", self.studio.remove_device(name)))

    # -- trust: scan, ask, record (DeviceTrust) -------------------------------

    def action_trust(self) -> None:
        """Scans the selected device's host key; a dialog asks before recording."""
        name = self._need(ssh_only=True)
        if name is not None:
            self.trust_device(name)

    def trusted(self, offer: Any) -> None:
        self.read_devices()

    # -- agent, check, models ----------------------------------------------

    def action_install(self) -> None:
        """Asks which runtime, then installs (or upgrades) the agent on the selected device."""
        from tfstudio.tui.modals.choice import ChoiceModal

        name = self._need()
        if name is None:
            return

        def picked(choice: str | None) -> None:
            if choice is not None:
                runtime = None if choice == KEEP_RUNTIME else choice
                self._retry = lambda: self.run_install(name, runtime)
                self.notify(f"{name}: installing the agent...", timeout=3)
                self.run_install(name, runtime)

        self.app.push_screen(
            ChoiceModal(f"Install the agent on {name}", RUNTIMES, note="Enter installs."),
            picked,
        )

    @work(thread=True, exclusive=True, exit_on_error=False, group="agent", description="install")
    def run_install(self, name: str, runtime: str | None = None) -> None:
        """Pushes the agent (and the runtime, when asked) and probes the device."""
        result = self.studio.install_agent(name, runtime=runtime)
        self.post_message(DeviceAnswer(name, "installed", result))

    def action_serve(self) -> None:
        """Asks, then runs the agent's server on the selected device as a service (what
        live metrics and predict reach)."""
        name = self._need()
        if name is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._retry = lambda: self.run_serve(name)
                self.run_serve(name)

        question = (
            f"Run the agent's server on {name} as a service?\n"
            "It listens on the device's 127.0.0.1 only (reached through SSH) and restarts "
            "after a crash."
        )
        self.app.push_screen(ConfirmModal("Serve", question, "Enable"), answered)

    @work(thread=True, exclusive=True, exit_on_error=False, group="service", description="serve")
    def run_serve(self, name: str) -> None:
        """Enables the agent's service on `name`."""
        self.post_message(DeviceAnswer(name, "served", self.studio.service(name, "enable")))

    def action_check(self) -> None:
        """Checks the selected device (reachability, round trip, agent, runtime)."""
        name = self._need()
        if name is not None:
            self._retry = lambda: self.run_check([name])
            self.run_check([name])

    @work(thread=True, exclusive=True, exit_on_error=False, group="check", description="check")
    def run_check(self, names: list[str]) -> None:
        """Runs the checks and stores them."""
        studio = self.studio
        self.post_message(Checked(studio.check(studio.resolve(names))))

    def on_checked(self, message: Checked) -> None:
        for r in message.result:
            if r.ok:
                self.notify(f"{r.device}: ready, rtt {ms(r.rtt_ms)} ms", title="check")
            else:
                text = r.error or f"agent {r.agent}"
                self.notify(
                    text + (f" (fix: {ui_hint(r.hint)})" if r.hint else ""),
                    title=f"check {r.device}",
                    severity="error",
                )
        self.read_devices()

    def action_models(self) -> None:
        """Lists the models the selected device stores."""
        name = self._need()
        if name is not None:
            self._retry = lambda: self.run_models(name)
            self.run_models(name)

    @work(thread=True, exclusive=True, exit_on_error=False, group="agent", description="models")
    def run_models(self, name: str) -> None:
        """Asks the device's agent for its list."""
        self.post_message(DeviceAnswer(name, "models", self.studio.models_on(name)))

    def on_device_answer(self, message: DeviceAnswer) -> None:
        if message.what == "models":
            listing = message.answer
            lines = [f"[b]{message.device}[/b] stores:"]
            for m in listing.get("models", []):
                mark = (
                    "*"
                    if m.get("active")
                    else ("p" if m.get("sha256") == listing.get("previous") else " ")
                )
                lines.append(f"{mark} {str(m.get('sha256', ''))[:10]} {m.get('name')}")
            self.query_one("#device-detail", Static).update("\n".join(lines))
            return
        if message.what == "installed":
            r = message.answer
            missing = f"; missing {', '.join(r.missing)}: i, then a runtime" if r.missing else ""
            self.notify(f"{r.device}: agent {r.agent_version}{missing}", title="agent",
                        severity="error" if r.missing else "information")  # fmt: skip
        elif message.what == "served":
            state = message.answer
            self.notify(f"{state.device}: service {state.summary()}", title="serve",
                        severity="information" if state.running else "error")  # fmt: skip
        else:
            self.notify(f"{message.what} {message.device}", title="devices")
        self.read_devices()
