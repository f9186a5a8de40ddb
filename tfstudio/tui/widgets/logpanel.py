"""The selected job's log panel: follows the job in a stream of the facade, `/` filters.

`show(job)` follows a job (its last LOG_TAIL lines, then what comes); showing
another job, `stop()`, or the panel going away stops the stream at once
(`LogStream.stop` never waits). Opening the stream is an engine call, so it
runs in a thread worker; its batches arrive as `LogLines` messages. When the
job ends the panel says so and posts `LogPanel.Ended` to its screen.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input
from textual.worker import Worker, WorkerState, get_current_worker

from tfstudio.tui.messages import LogEnded, LogLines, LogStarted
from tfstudio.tui.widgets.joblog import JobLog

if TYPE_CHECKING:
    from tfstudio.studio.logs import LogStream
    from tfstudio.studio.types import JobInfo

LOG_TAIL = 2000
"""Lines of an existing log shown when a job is selected; new lines follow."""
ANNOUNCE_S = 5.0
"""Longest a stream's first batch waits for the stream to be announced."""


class LogPanel(Vertical):
    """A JobLog and its filter field; owns at most one log stream."""

    class Ended(Message):
        """Following ended by itself (the job ended, or the stream failed); bubbles."""

        def __init__(self, job_id: str, error: Exception | None) -> None:
            super().__init__()
            self.job_id = job_id
            self.error = error

    def __init__(self, placeholder: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.placeholder = placeholder
        self.stream: LogStream | None = None
        self.following: str | None = None

    def compose(self) -> ComposeResult:
        yield JobLog(id="job-log")
        yield Input(placeholder="filter the log (esc clears)", id="log-filter", compact=True)

    def on_mount(self) -> None:
        self.log_view.reset(None, "", self.placeholder)
        self.filter_input.display = False

    @property
    def log_view(self) -> JobLog:
        """The log lines."""
        return self.query_one(JobLog)

    @property
    def filter_input(self) -> Input:
        """The filter field (shown by `open_filter`)."""
        return self.query_one("#log-filter", Input)

    def show(self, job: JobInfo) -> None:
        """Follows `job` (nothing changes when it is the one followed)."""
        if job.job_id == self.following:
            return
        self.stop()
        self.following = job.job_id
        self.log_view.reset(job.job_id, job.job_id)
        self.follow(job)

    def stop(self, placeholder: list[str] | None = None) -> None:
        """Stops following now; shows `placeholder` when given."""
        if self.stream is not None:
            self.stream.stop()  # returns at once: the reader thread ends alone
            self.stream = None
        for worker in self.workers:  # the app's workers: only this panel's are ours
            if worker.node is self and worker.is_running:
                worker.cancel()
        self.following = None
        if placeholder is not None:
            self.log_view.reset(None, "", placeholder)

    def on_unmount(self) -> None:
        self.stop()

    @work(thread=True, exclusive=True, exit_on_error=False, group="follow", description="logs")
    def follow(self, job: JobInfo) -> None:
        """Opens the job's log stream; its batches arrive as LogLines messages."""
        job_id = job.job_id
        # The stream's own thread waits until LogStarted is posted, so the panel
        # holds the stream before its first lines (or its end) arrive.
        announced = threading.Event()

        def lines(batch: list[str]) -> None:
            announced.wait(ANNOUNCE_S)
            self.post_message(LogLines(job_id, batch))

        def ended(error: Exception | None) -> None:
            announced.wait(ANNOUNCE_S)
            self.post_message(LogEnded(job_id, error))

        stream = self.app.studio.training.follow(  # type: ignore[attr-defined]
            job, lines, on_end=ended, tail=LOG_TAIL
        )
        if get_current_worker().is_cancelled:
            stream.stop()  # another job was selected meanwhile, or the panel went away
        else:
            self.post_message(LogStarted(stream))
        announced.set()

    def on_log_started(self, message: LogStarted) -> None:
        if message.stream.job_id != self.following or not self.is_mounted:
            message.stream.stop()
            return
        self.stream = message.stream

    def on_log_lines(self, message: LogLines) -> None:
        if message.job_id == self.following:
            self.log_view.append(message.lines)

    def on_log_ended(self, message: LogEnded) -> None:
        if message.job_id != self.following:
            return
        self.stream = None
        error = message.error
        self.log_view.set_following(False, f"[log ended: {error}]" if error else None)
        self.post_message(self.Ended(message.job_id, error))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # The log is a pane: a stream that cannot open is a state shown in it.
        error = event.worker.error
        if event.state is WorkerState.ERROR and error is not None:
            self.log_view.set_following(False, f"[cannot follow the log: {error}]")

    def open_filter(self) -> None:
        """Shows and focuses the filter field."""
        self.filter_input.display = True
        self.filter_input.focus()

    def close_filter(self) -> bool:
        """Clears and hides the filter; returns False when it was not open."""
        field = self.filter_input
        if not field.display:
            return False
        field.value = ""
        field.display = False
        return True

    @on(Input.Changed, "#log-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.log_view.set_filter(event.value)
