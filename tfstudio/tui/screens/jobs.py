"""The jobs view: training containers on an engine, the selected job's live log,
its provenance, and the GPU check.

`n` new job (pinned images only: the form says why `latest` is refused), `s`
stop and `k` kill (each after a confirm), `x` remove, `/` filter the log, `g`
GPU check, `r` refresh; `e` pick the engine and `t` trust an ssh:// engine's
host key (`jobs_engines`). The table refreshes itself every few seconds while
the view is shown.

Every engine call runs in a thread worker that posts a message. The log of
the selected job is a `LogStream` of the facade: its lines arrive as batched
`LogLines` messages; it is stopped (without waiting) when another job is
selected, when the job goes away, and when the view is left or closed.
"""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Input, Static
from textual.worker import get_current_worker

from tfstudio.errors import TfStudioError
from tfstudio.operations import Event, StageStarted, TargetFinished, TransferTick
from tfstudio.tui.messages import (
    EnginesRead,
    GpuChecked,
    ImagesRead,
    JobActed,
    JobsRead,
    Launched,
    Progress,
    ProvenanceRead,
)
from tfstudio.tui.modals.confirm import ConfirmModal
from tfstudio.tui.screens.base import StudioScreen
from tfstudio.tui.screens.jobs_engines import EngineActions
from tfstudio.tui.widgets import jobtext
from tfstudio.tui.widgets.chrome import KeyFooter, ViewBar
from tfstudio.tui.widgets.hints import ui_hint
from tfstudio.tui.widgets.logpanel import LogPanel
from tfstudio.tui.widgets.tables import fill, selected_key

REFRESH_S = 3.0
"""Seconds between two reads of the job table (each costs one stats tick of the engine)."""
NO_JOB = ["No job selected.", "", "n  new job (pinned images)", "g  GPU check"]


class JobsScreen(EngineActions, StudioScreen):
    """Training jobs on one engine, with the selected job's log and provenance."""

    VIEW = "jobs"
    OPERATIONS = frozenset({"train", "gpu", "act"})

    BINDINGS = [
        Binding("n", "new_job", "New job"),
        Binding("s", "stop", "Stop"),
        Binding("k", "kill", "Kill"),
        Binding("slash", "filter", "Filter"),
        Binding("g", "gpu_check", "GPU check"),
        Binding("x", "remove", "Remove", show=False),
        Binding("e", "engine", "Engine", show=False),
        Binding("t", "trust", "Trust engine key", show=False),
        Binding("r", "refresh", "Refresh", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.engine_name: str | None = None
        self.board: Any = None
        self.report: Any = None
        self.jobs: dict[str, Any] = {}
        self.image_refs: list[str] = []
        self.select_next: str | None = None
        self.checked: Any = None
        self.records: dict[str, Any] = {}
        self.picking = False
        self.asking = False
        self.last_request: Any = None
        """The last new-job request started (the form comes back with it if it fails)."""
        self.shown: str | None = None
        """The job whose details, record and log the view shows (None: none yet)."""

    def compose(self) -> ComposeResult:
        yield ViewBar(self.VIEW)
        yield Static("reading the engine...", id="engine-state")
        with Horizontal(id="jobs-body"):
            with Vertical(id="jobs-left"):
                yield DataTable(id="job-table", cursor_type="row", zebra_stripes=True)
                yield LogPanel(NO_JOB, id="log-panel")
            with VerticalScroll(id="job-detail"):
                yield Static("", id="job-detail-text")
        yield Static("", id="jobs-status", classes="op-status")
        yield KeyFooter()

    def on_mount(self) -> None:
        super().on_mount()
        table = self.table
        table.border_title = "Jobs"
        table.add_columns(*jobtext.COLUMNS)
        self.poll(REFRESH_S, "board", self.read_board)

    # -- typed accessors ----------------------------------------------------

    @property
    def table(self) -> DataTable[Any]:
        """The job table."""
        return self.query_one("#job-table", DataTable)

    @property
    def log_panel(self) -> LogPanel:
        """The selected job's log and its filter."""
        return self.query_one(LogPanel)

    @property
    def selected(self) -> Any:
        """The JobInfo under the cursor, or None."""
        key = selected_key(self.table)
        return self.jobs.get(key) if key else None

    def use_engine(self, name: str) -> None:
        """Shows engine `name` from now on (picked with `e`)."""
        self.engine_name = name
        self.log_panel.stop(NO_JOB)
        self.shown = None
        self.board = None
        self.report = None
        fill(self.table, [])
        self.refresh_view()

    def _status(self, text: str) -> None:
        self.query_one("#jobs-status", Static).update(text)

    # -- reading ------------------------------------------------------------

    def refresh_view(self) -> None:
        """Reads the engines, then the jobs (also `r`)."""
        self.read_board()
        self.read_engines(check=True)

    action_refresh = refresh_view

    @work(thread=True, exclusive=True, exit_on_error=False, group="board", description="jobs")
    def read_board(self) -> None:
        """Reads the engine's jobs with one-shot stats, or its state and fix."""
        board = self.studio.training.board(self.engine_name)
        if not get_current_worker().is_cancelled:  # a newer read replaced this one
            self.post_message(JobsRead(board))

    @work(thread=True, exclusive=True, exit_on_error=False, group="engines", description="engines")
    def read_engines(self, check: bool = False, every: bool = False) -> None:
        """Lists the engines and checks the shown one (or `every` one): version,
        NVIDIA runtime, GPUs."""
        training = self.studio.training
        names = None if every else [training.engine(self.engine_name).name]
        report = training.check_engines(names) if check else None
        self.post_message(EnginesRead(training.engines(), report))

    @work(thread=True, exclusive=True, exit_on_error=False, group="images", description="images")
    def read_images(self) -> None:
        """Lists the engine's pinned image references (the forms' suggestions)."""
        training = self.studio.training
        refs = []
        try:
            images = training.images(self.engine_name)
        except TfStudioError:
            images = []  # suggestions only: the engine's state shows elsewhere
        for image in images:
            ref = f"{image.repository}:{image.tag}"
            if image.repository != "<none>" and training.check_image(ref).pinned:
                refs.append(ref)
        self.post_message(ImagesRead(sorted(set(refs))))

    def on_engines_read(self, message: EnginesRead) -> None:
        if self.picking:
            self._open_picker(message.engines, message.report)
        if message.report is not None:
            self.report = message.report
            if self.board is not None:
                self._show_engine()

    def on_images_read(self, message: ImagesRead) -> None:
        self.image_refs = message.refs

    def ask_missing_passphrases(self) -> None:
        """Nothing here: the engine's key is asked for once, when its board comes back
        locked (`on_jobs_read`); a second dialog from a read's worker ending would
        stack over the first."""

    def on_jobs_read(self, message: JobsRead) -> None:
        board = message.board
        key = board.needs_passphrase
        if key and not board.passphrase_wrong and self.studio.connector.knows(key):
            return  # a read begun before the passphrase was given: the next one uses it
        if key:
            # Asked here, once: not again by the screens' after-fan-out question.
            self.studio.connector.missing_passphrases()
            if not self.asking:
                self._ask_passphrase(key, board.passphrase_wrong)
        first_reach = board.reachable and (self.board is None or not self.board.reachable)
        self.board = board
        old = self.jobs
        self.jobs = {j.job_id: j for j in board.jobs}
        self._show_engine()
        fill(self.table, [(j.job_id, jobtext.row(j)) for j in board.jobs])
        if self.select_next in self.jobs:
            keys = list(self.jobs)
            self.table.move_cursor(row=keys.index(self.select_next))
            self.select_next = None
        if first_reach:
            self.read_images()
        following = self.log_panel.following
        if following is not None and following not in self.jobs:
            self.log_panel.stop(NO_JOB)  # the job went away (the engine is down)
            self.shown = None
        job = self.selected
        if job is None:
            self._show_detail()
            return
        previous = old.get(job.job_id)
        if job.job_id != self.shown or previous is None or previous.state != job.state:
            self._select(job)
        else:
            self._show_detail()

    def _show_engine(self) -> None:
        self.query_one("#engine-state", Static).update(jobtext.engine_line(self.board, self.report))

    def _empty_detail(self) -> str:
        board = self.board
        if board is not None and not board.reachable:
            fix = f"\n\n[b]fix:[/b] {ui_hint(board.hint)}" if board.hint else ""
            return f"No jobs can be read: engine {board.engine} is down.{fix}\n\ne  another engine"
        return "No jobs yet on this engine.\n\nn  new job\ng  GPU check\ne  engine"

    @on(DataTable.RowHighlighted, "#job-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        job = self.jobs.get(str(event.row_key.value))
        if job is not None and job.job_id != self.shown:
            self._select(job)

    def _select(self, job: Any) -> None:
        """Shows the job's details, reads its provenance, follows its log (a removed
        job's log went with its container: its record is what is left)."""
        if not self.is_current:
            # A read that lands after the view was left must not follow the log behind
            # it; coming back reads and selects again (`shown` stays unset until then).
            return
        if job.job_id != self.shown:
            self.checked = None  # another job: the last GPU check gives way
        self.shown = job.job_id
        self._show_detail()
        self.read_provenance(job)
        if job.state == jobtext.REMOVED:
            self.log_panel.stop([f"Job {job.job_id} was removed: its log went with its "
                                 "container.", "", "Its provenance is on the right."])  # fmt: skip
        else:
            self.log_panel.show(job)

    def _show_detail(self) -> None:
        """The side panel: the last GPU check, then the selected job and its provenance."""
        parts = [jobtext.gpu_check(self.checked)] if self.checked is not None else []
        job = self.selected
        if job is not None:
            parts.append(jobtext.details(job))
            record = self.records.get(job.job_id)
            if record is not None:
                parts.append(jobtext.provenance(record))
        elif not parts:
            parts.append(self._empty_detail())
        self.query_one("#job-detail-text", Static).update("\n\n".join(parts))

    @work(thread=True, exclusive=True, exit_on_error=False, group="prov", description="provenance")
    def read_provenance(self, job: Any) -> None:
        """Reads (and, once the job ended, finalises) the job's provenance."""
        self.post_message(ProvenanceRead(job.job_id, self.studio.training.provenance(job)))

    def on_provenance_read(self, message: ProvenanceRead) -> None:
        self.records[message.job_id] = message.record
        self._show_detail()

    # -- the log ------------------------------------------------------------

    def on_log_panel_ended(self, _message: LogPanel.Ended) -> None:
        self.read_board()  # the job ended: its state, exit code and final provenance

    def on_screen_suspend(self) -> None:
        # Leaving the view stops following; coming back reads and follows again.
        self.log_panel.stop()
        self.shown = None

    def action_filter(self) -> None:
        """`/`: shows the log filter."""
        self.log_panel.open_filter()

    @on(Input.Submitted, "#log-filter")
    def _filter_done(self) -> None:
        self.table.focus()

    def action_leave_field(self) -> None:
        """Escape in a field: the log filter closes and clears (the log shows every line
        again); any other field is left as in every view."""
        if self.log_panel.close_filter():
            self.table.focus()
            return
        super().action_leave_field()

    # -- new job ------------------------------------------------------------

    def action_new_job(self, request: Any = None, error: str = "") -> None:
        """Opens the new-job form (filled with `request`, the one that just failed, when
        given); a filled form starts the job in a worker."""
        from tfstudio.tui.modals.new_job import NewJobModal, request_fields

        training = self.studio.training
        try:
            settings = training.settings()
            engine = training.engine(self.engine_name)
        except TfStudioError as exc:
            self.studio_app.report_failure(exc, None)
            return
        job = self.selected
        image = settings.image or (job.image_ref if job is not None else "")
        defaults = {
            "workspace": settings.workspace or engine.workspace or "",
            "gpus": settings.gpus.describe(),
        }
        if not engine.remote and not defaults["workspace"]:
            import os

            defaults["workspace"] = os.getcwd()
        if request is not None:
            image = request.image or image
            defaults.update(request_fields(request))
        status = next(
            (s for s in getattr(self.report, "statuses", ()) if s.name == engine.name), None
        )
        modal = NewJobModal(
            training,
            engine=engine.name,
            image=image,
            images=self.image_refs,
            defaults=defaults,
            error=error,
            swarm=bool(status is not None and status.swarm_manager),
        )

        def answered(request: Any) -> None:
            if request is not None:
                self.start_train(request)

        self.app.push_screen(modal, answered)

    def start_train(self, request: Any) -> None:
        """Shows 'starting', then launches in a worker (Escape cancels before the start)."""
        self.last_request = request
        token = self.begin(lambda: self.start_train(request))
        self._status(f"starting a job in {request.image}...  [dim]esc cancels[/]")
        self.run_train(request, token)

    @work(thread=True, exclusive=True, exit_on_error=False, group="train", description="train")
    def run_train(self, request: Any, token: Any) -> None:
        """Launches the job, posting its stages."""
        result = self.studio.training.train(
            request, on_event=lambda e: self.post_message(Progress(e)), cancel=token
        )
        self.post_message(Launched(result))

    def on_progress(self, message: Progress) -> None:
        self._status(_progress_text(message.event) + "  [dim]esc cancels[/]")

    def on_launched(self, message: Launched) -> None:
        job = message.result.job
        notes = "\n".join(message.result.notes)
        self.notify(f"job {job.job_id} started ({job.name})\n{notes}".strip(), title="train")
        self._status(f"job {job.job_id} started in {job.image_ref}")
        self.select_next = job.job_id
        self.read_board()

    # -- stop, kill, remove -------------------------------------------------

    def action_stop(self) -> None:
        """Asks, then stops the selected job (SIGTERM, then SIGKILL after the grace time)."""
        self._act("stop", "Stop", "SIGTERM, then SIGKILL if it has not ended in time.")

    def action_kill(self) -> None:
        """Asks, then kills the selected job (SIGKILL)."""
        self._act("kill", "Kill", "SIGKILL now: the job gets no chance to save anything.")

    def action_remove(self) -> None:
        """Asks, then removes the selected job's container (its provenance is kept)."""
        self._act("remove", "Remove", "Its container goes; its provenance record stays.")

    def _act(self, action: str, verb: str, why: str) -> None:
        job = self.selected
        if job is None:
            self.notify("select a job first", severity="warning", timeout=3)
            return
        # Checked before asking: a question whose yes cannot work is not asked.
        if job.state == jobtext.REMOVED:
            self.notify(f"job {job.job_id} is already removed; its record stays", timeout=4)
            return
        if action != "remove" and not job.running:
            self.notify(f"job {job.job_id} is not running ({state_of(job)})", timeout=4)
            return
        if action == "remove" and job.running:
            self.notify(
                f"job {job.job_id} is running: s stops it, k kills it; then x removes it",
                severity="warning",
                timeout=6,
            )
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._retry = lambda: self.run_act(action, job)
                self._status(f"{verb.lower()}ing job {job.job_id}...")
                self.run_act(action, job)

        question = f"{verb} job {job.job_id} ({job.name})?\n{why}"
        self.app.push_screen(ConfirmModal(f"{verb} job", question, verb), answered)

    @work(thread=True, exclusive=False, exit_on_error=False, group="act", description="job action")
    def run_act(self, action: str, job: Any) -> None:
        """Stops, kills or removes the job; finalises its provenance."""
        training = self.studio.training
        outcome = {"stop": training.stop, "kill": training.kill, "remove": training.remove}[action](
            job
        )
        self.post_message(JobActed(outcome))

    def on_job_acted(self, message: JobActed) -> None:
        self.notify(message.outcome.message, title=message.outcome.action)
        self._status(message.outcome.message)
        self.read_board()

    # -- GPU check ----------------------------------------------------------

    def action_gpu_check(self) -> None:
        """Asks for an image and GPUs, then runs TensorFlow's GPU check in it."""
        from tfstudio.tui.modals.gpu_check import GpuCheckModal

        training = self.studio.training
        try:
            settings = training.settings()
        except TfStudioError as exc:
            self.studio_app.report_failure(exc, None)
            return
        job = self.selected
        image = (job.image_ref if job is not None else None) or settings.image or ""
        modal = GpuCheckModal(
            training, image=image, gpus=settings.gpus.describe(), images=self.image_refs
        )

        def answered(choice: Any) -> None:
            if choice is not None:
                self.start_gpu_check(*choice)

        self.app.push_screen(modal, answered)

    def start_gpu_check(self, image: str, gpus: str) -> None:
        """Shows 'checking', then runs the check in a worker (Escape cancels)."""
        token = self.begin(lambda: self.start_gpu_check(image, gpus))
        self._status(f"GPU check in {image}...  [dim]esc cancels[/]")
        self.run_gpu_check(image, gpus, token)

    @work(thread=True, exclusive=True, exit_on_error=False, group="gpu", description="gpu-check")
    def run_gpu_check(self, image: str, gpus: str, token: Any) -> None:
        """Runs the probe in a helper container."""
        result = self.studio.training.gpu_check(
            image,
            gpus,
            engine=self.engine_name,
            on_event=lambda e: self.post_message(Progress(e)),
            cancel=token,
        )
        self.post_message(GpuChecked(result))

    def on_gpu_checked(self, message: GpuChecked) -> None:
        result = message.result
        self.checked = result
        self._status(f"GPU check: {result.verdict.value.replace('_', ' ')}")
        self.notify(f"{result.message}\nhint: {result.hint}", title="GPU check", timeout=10)
        self._show_detail()

    def operation_ended(self, worker: Any) -> None:
        if worker.group in ("train", "gpu", "act") and worker.error is not None:
            self._status("")
        if worker.group == "train" and worker.error is not None and self.last_request:
            from tfstudio.errors import CancelledError
            from tfstudio.studio.types import PassphraseRequired

            if not isinstance(worker.error, (CancelledError, PassphraseRequired)):
                # The engine refused it: the form comes back as it was, to fix and retry.
                error = worker.error
                text = getattr(error, "message", str(error))
                hint = ui_hint(getattr(error, "hint", None))
                self.action_new_job(self.last_request, text + (f"\n[dim]{hint}[/]" if hint else ""))


def state_of(job: Any) -> str:
    """The job's state in a few words."""
    return job.exit_reason() or job.state


def _progress_text(event: Event) -> str:
    if isinstance(event, TransferTick):
        return f"pulling {event.target}: {100 * event.fraction:.0f}%"
    if isinstance(event, StageStarted):
        return event.message or event.stage.value
    if isinstance(event, TargetFinished):
        return event.message
    return ""
