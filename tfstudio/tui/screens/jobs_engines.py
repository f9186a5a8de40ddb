"""The jobs view's engine actions: pick the engine shown, trust an ssh:// engine's host
key (scan, a dialog with the fingerprint, record), and ask an encrypted engine key's
passphrase between two reads. Mixed into `JobsScreen`; every engine call is a thread
worker posting a message.
"""

from __future__ import annotations

from typing import Any

from textual import work

from tfstudio.tui.messages import EngineAdded, HostKeyScanned, HostKeyTrusted
from tfstudio.tui.screens.base import StudioScreen


class EngineActions(StudioScreen):
    """`e` pick an engine, `t` trust its host key; the passphrase of its key when asked.

    The jobs screen provides the state and the reads declared here.
    """

    engine_name: str | None
    board: Any
    picking: bool
    asking: bool

    def read_board(self) -> object:
        """Reads the shown engine's jobs (a worker of the screen)."""
        raise NotImplementedError

    def read_engines(self, check: bool = False, every: bool = False) -> object:
        """Lists (and checks) the engines (a worker of the screen)."""
        raise NotImplementedError

    def use_engine(self, name: str) -> None:
        """Shows engine `name` from now on."""
        raise NotImplementedError

    def _status(self, text: str) -> None:
        raise NotImplementedError

    def action_engine(self) -> None:
        """Checks every engine, then lists them with their state; the one picked is shown."""
        self._status("checking the engines...")
        self.picking = True
        self.read_engines(check=True, every=True)

    def _open_picker(self, engines: list[Any], report: Any) -> None:
        from tfstudio.tui.modals.engine_pick import EnginePickModal

        self.picking = False
        self._status("")
        current = self.board.engine if self.board is not None else "local"

        def picked(name: str | None) -> None:
            if name == EnginePickModal.ADD:
                self.action_add_engine()
            elif name is not None and name != current:
                self.use_engine(name)

        self.app.push_screen(EnginePickModal(engines, report, current), picked)

    def action_add_engine(self) -> None:
        """Opens the engine form; a filled one is stored, then shown."""
        from tfstudio.tui.modals.add_engine import AddEngineModal

        def added(engine: Any) -> None:
            if engine is not None:
                self._retry = lambda: self.store_engine(engine)
                self.store_engine(engine)

        self.app.push_screen(AddEngineModal(), added)

    @work(  # not "engines": a read of the engines started meanwhile must not cancel it
        thread=True, exit_on_error=False, group="engine-add", description="add engine"
    )
    def store_engine(self, engine: Any) -> None:
        """Stores the engine (the registry checks its fields)."""
        stored = self.studio.training.add_engine(engine)
        self.post_message(EngineAdded(stored))

    def on_engine_added(self, message: EngineAdded) -> None:
        engine = message.engine
        then = "t trusts its host key" if engine.scheme == "ssh" else "its jobs show now"
        self.notify(f"engine {engine.name} added; {then}", title="engines")
        self.use_engine(engine.name)

    def action_trust(self) -> None:
        """Scans the shown ssh:// engine's host key; a dialog asks before recording it."""
        name = self.board.engine if self.board is not None else self.engine_name or "local"
        self._retry = lambda: self.scan_key(name)
        self.scan_key(name)

    @work(
        thread=True, exclusive=True, exit_on_error=False, group="trust", description="host key scan"
    )
    def scan_key(self, name: str) -> None:
        """Reads the key the engine's host offers (records nothing)."""
        self.post_message(HostKeyScanned(self.studio.training.scan_engine_key(name)))

    def on_host_key_scanned(self, message: HostKeyScanned) -> None:
        from tfstudio.studio.types import CHANGED, TRUSTED
        from tfstudio.tui.modals.hostkey import HostKeyModal

        offer = message.offer
        if offer.status == TRUSTED:
            self.notify(f"engine {offer.device}: {offer.fingerprint} is already trusted")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.record_key(offer, offer.status == CHANGED)
            else:
                self.notify(f"engine {offer.device}: not trusted; nothing recorded")

        self.app.push_screen(HostKeyModal(offer), answered)

    @work(thread=True, exclusive=True, exit_on_error=False, group="trust", description="trust")
    def record_key(self, offer: Any, replace: bool) -> None:
        """Records the key the user confirmed."""
        path = self.studio.training.record_engine_key(offer, replace=replace)
        self.post_message(HostKeyTrusted(offer, path))

    def on_host_key_trusted(self, message: HostKeyTrusted) -> None:
        offer = message.offer
        self.notify(f"engine {offer.device}: trusted {offer.key_type} {offer.fingerprint}")
        self.refresh_view()

    def _ask_passphrase(self, key: str, wrong: bool) -> None:
        """An ssh:// engine's key is encrypted: asks once, then reads the board again."""
        from tfstudio.tui.modals.passphrase import PassphraseModal

        self.asking = True

        def answered(secret: str | None) -> None:
            self.asking = secret is None  # refused: not asked again on every refresh
            if secret is not None:
                self.studio.connector.remember(key, secret)
                self.read_board()

        self.app.push_screen(PassphraseModal(key, wrong), answered)
