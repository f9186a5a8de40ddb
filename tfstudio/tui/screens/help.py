"""`?`: every key, by screen. Escape, q or ? closes it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tfstudio.tui.widgets.chrome import KeyFooter

HELP = """\
[b]tfstudio keys[/b]

[b]Anywhere[/b] (when not typing in a field)
  1 dashboard  2 jobs  3 convert  4 deploy
  5 bench  6 devices  7 pipeline
  ?  this help       ctrl+p  every action by name
  q  quit (asks first while an operation runs)
  ctrl+q  quit, even from a field or a dialog

[b]Fields[/b]
  tab / shift+tab  next / previous field
  enter  submit the form     esc  leave the field
  esc (no field)  cancel the running operation

[b]Dashboard[/b]
  d  run the demo      r  refresh
[b]Jobs[/b]
  n  new job (pinned images only)
  s  stop   k  kill   x  remove (a removed job's record stays)
  /  filter the log (esc clears)    g  GPU check
  e  engines (pick, a: add)   t  trust an ssh:// engine's key
  r  refresh
[b]Convert[/b]
  ctrl+r  convert      i  inspect the selected result
[b]Deploy[/b]
  ctrl+r  deploy       r  roll back the selected device
  u  resume the rollout shown (waves: 1,25%,100%)
[b]Bench[/b]
  ctrl+r  bench        e  export JSON and CSV
  x  variants x devices matrix (and back)
[b]Devices[/b]
  a  add     e  edit    x  remove   t  trust its host key
  i  install the agent (choose the runtime)
  c  check   m  models on it   s  serve the agent
  l  live metrics (l again stops)   /  filter by a selector
[b]Pipeline[/b]
  ctrl+r  start/stop watching a folder   r  refresh"""


class HelpScreen(ModalScreen[None]):
    """The key reference."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def on_mount(self) -> None:
        self.query_one("#help").focus()  # arrows and page keys scroll it

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", id="help"):
            yield Static(HELP, id="help-text")
        yield KeyFooter()

    def action_close(self) -> None:
        """Closes the help."""
        self.dismiss(None)
