"""The frame of every view: the view bar on top (the keys 1-7, the current view
marked in brackets so it reads without colour; a click switches too) and the key
footer at the bottom (help and quit first, so a narrow terminal cuts the view's
own keys, never the way to learn them or to leave)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from tfstudio.tui.views import VIEWS

PRODUCT = "tfstudio"
ESSENTIAL = ("question_mark", "q")
"""The footer keys shown first, whatever the view adds."""


def bar_text(current: str, width: int) -> str:
    """The view bar as plain text: `[3 Convert]` for the current view, ` 4 Deploy ` for
    the others, the product name in front when `width` leaves room."""
    items = [
        f"[{key} {title}]" if name == current else f" {key} {title} "
        for name, (key, title, _) in VIEWS.items()
    ]
    text = " " + "".join(items)
    if len(text) + len(PRODUCT) + 2 <= width:
        text = f" {PRODUCT} " + text
    return text


class ViewBar(Widget):
    """One line: every view with its key; the current one in brackets."""

    DEFAULT_CSS = """
    ViewBar {
        dock: top;
        height: 1;
        background: $panel;
        color: $text-muted;
    }
    """

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def render(self) -> Content:
        width = self.size.width
        parts: list[Content | tuple[str, str] | str] = []
        if bar_text(self.current, width).startswith(f" {PRODUCT}"):
            parts.append((f" {PRODUCT} ", "bold"))
        parts.append(" ")
        for name, (key, title, _) in VIEWS.items():
            if name == self.current:
                parts.append((f"[{key} {title}]", "bold $text-accent"))
            else:
                link = Content(f" {key} {title} ").stylize(f"@click=app.go('{name}')")
                parts.append(link)
        return Content.assemble(*parts)


class KeyFooter(Footer):
    """Textual's footer with help and quit moved to the front."""

    def __init__(self) -> None:
        super().__init__(compact=True)

    def compose(self) -> ComposeResult:
        widgets = list(super().compose())
        first = [w for w in widgets if isinstance(w, FooterKey) and w.key in ESSENTIAL]
        first.sort(key=lambda w: ESSENTIAL.index(w.key))
        yield from first
        yield from (w for w in widgets if w not in first)
