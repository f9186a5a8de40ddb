"""Checkboxes and ticked lists whose state reads without colour.

Textual draws `▐X▌` for on and off alike (only the colour of the X differs), so a
plain terminal capture, a colour-blind user or a monochrome terminal cannot tell
them apart. Here a ticked box shows `X` and an unticked one a blank: `▐X▌` / `▐ ▌`.

`TickList` also keeps a visible cursor: focusing it highlights the first row, so
the first Space acts on a row the user can see; and refilling it (a refresh)
keeps the ticks and the cursor, ticking `default` only on the first fill.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.segment import Segment
from textual.content import Content
from textual.strip import Strip
from textual.style import Style
from textual.widgets import Checkbox, SelectionList
from textual.widgets._toggle_button import ToggleButton
from textual.widgets.option_list import OptionDoesNotExist

TICK = ToggleButton.BUTTON_INNER
"""Drawn inside a ticked box."""
UNTICKED = " "
"""Drawn inside an unticked box (same width as TICK)."""


class TickBox(Checkbox):
    """A Checkbox drawn `▐X▌` when ticked and `▐ ▌` when not."""

    @property
    def _button(self) -> Content:
        button_style = self.get_visual_style("toggle--button")
        side_style = Style(foreground=button_style.background, background=self.background_colors[1])
        return Content.assemble(
            (self.BUTTON_LEFT, side_style),
            (TICK if self.value else UNTICKED, button_style),
            (self.BUTTON_RIGHT, side_style),
        )


class TickList(SelectionList[str]):
    """A SelectionList of names drawn `▐X▌` when ticked and `▐ ▌` when not."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.filled = False
        """True once `fill` ran: from then on the user's ticks are kept, even none."""

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        _, scroll_y = self.scroll_offset
        try:
            option = self.get_option_at_index(scroll_y + y)
        except OptionDoesNotExist:
            return strip
        if option.value in self._selected:
            return strip
        segments = list(strip)
        if len(segments) > 1 and segments[1].text == TICK:
            segments[1] = Segment(UNTICKED, segments[1].style)
        return Strip(segments, strip.cell_length)

    def fill(self, names: Sequence[str], default: Iterable[str] = ()) -> None:
        """Offers `names`, keeping the ticked ones and the cursor; on the first fill the
        names in `default` are ticked."""
        chosen = set(self.selected) if self.filled else set(default)
        cursor = self.highlighted
        self.clear_options()
        self.add_options([(name, name, name in chosen) for name in names])
        self.filled = True
        if cursor is not None and self.option_count:
            self.highlighted = min(cursor, self.option_count - 1)
        elif self.has_focus and self.option_count:
            self.highlighted = 0

    def on_focus(self) -> None:
        if self.highlighted is None and self.option_count:
            self.highlighted = 0
