"""The live log of one job: following, `/` filters, bounded.

Lines arrive in batches (`append`, from `LogLines` messages). Every line is
kept (up to MAX_LINES) so the filter can change and show the matching ones
again; the view follows the end while new lines come. The border title says
whose log it is, whether it is still following, and the filter.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from textual.widgets import Log

MAX_LINES = 5000
"""Lines kept per job: a long training run's tail, not its whole history
(`tfstudio logs JOB` prints everything)."""


class JobLog(Log):
    """One job's log, or a placeholder text when no job is selected."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(max_lines=MAX_LINES, auto_scroll=True, **kwargs)  # type: ignore[arg-type]
        self.kept: deque[str] = deque(maxlen=MAX_LINES)
        self.filter = ""
        self.job_id: str | None = None
        self.label = ""
        self.following = False

    def reset(self, job_id: str | None, label: str, text: Iterable[str] = ()) -> None:
        """Starts over for `job_id` (None: a placeholder showing `text`)."""
        self.kept.clear()
        self.clear()
        self.job_id = job_id
        self.label = label
        self.following = job_id is not None
        placeholder = list(text)
        if placeholder:
            self.write_lines(placeholder)
        self._title()

    def append(self, lines: list[str]) -> None:
        """Adds a batch; shows the lines that match the filter."""
        self.kept.extend(lines)
        shown = [line for line in lines if self._matches(line)]
        if shown:
            self.write_lines(shown)

    def set_filter(self, text: str) -> None:
        """Shows only the kept lines containing `text` (any case); '' shows all."""
        self.filter = text.strip()
        self.clear()
        self.write_lines([line for line in self.kept if self._matches(line)])
        self._title()

    def set_following(self, following: bool, note: str | None = None) -> None:
        """Marks the log as following or not; `note` (e.g. how the job ended) ends it."""
        self.following = following
        if note:
            self.write_line(note)
        self._title()

    def _matches(self, line: str) -> bool:
        return not self.filter or self.filter.lower() in line.lower()

    def _title(self) -> None:
        parts = ["log"]
        if self.label:
            parts.append(self.label)
        if self.job_id is not None:
            parts.append("following" if self.following else "ended")
        if self.filter:
            parts.append(f"filter '{self.filter}'")
        self.border_title = " · ".join(parts)
