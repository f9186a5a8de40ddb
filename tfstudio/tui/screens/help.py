"""`?`: every key, by screen. Escape, q or ? closes it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HELP = """\
[b]tfstudio keys[/b]

[b]Anywhere[/b]
  1 dashboard   2 jobs   3 convert   4 deploy   5 bench   6 devices   7 pipeline
  ?  this help         ctrl+p  every action by name
  esc  cancel the running operation    q  quit

[b]Dashboard[/b]   d  run the demo     r  refresh
[b]Jobs[/b]        n  new job (pinned images only)   s  stop   k  kill   x  remove
            /  filter the log (esc clears)    g  GPU check
            e  pick the engine   t  trust an ssh:// engine's key   r  refresh
[b]Convert[/b]     ctrl+r  convert     a results row shows its ops and tensors
[b]Deploy[/b]      ctrl+r  deploy      r  roll back the selected device
[b]Bench[/b]       ctrl+r  bench       e  export JSON and CSV
[b]Devices[/b]     a add  x remove  t trust host key  i install agent
            c check  m models on the device
[b]Pipeline[/b]    ctrl+r  start/stop watching a folder   r  refresh

Tab moves between fields; Enter submits a form."""


class HelpScreen(ModalScreen[None]):
    """The key reference."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", id="help"):
            yield Static(HELP, id="help-text")

    def action_close(self) -> None:
        """Closes the help."""
        self.dismiss(None)
