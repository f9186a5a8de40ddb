"""Trusting a device's host key from any view: scan it (a worker), show the fingerprint
in a dialog, record it on confirm (another worker). Mixed into the devices view (`t`)
and the deploy view (a deploy refused for an unknown host key offers it)."""

from __future__ import annotations

from typing import Any

from textual import work

from tfstudio.tui.messages import HostKeyScanned, HostKeyTrusted
from tfstudio.tui.screens.base import StudioScreen


class DeviceTrust(StudioScreen):
    """`trust_device(name)`: scan, ask, record; `trusted(offer)` runs after a record."""

    def trust_device(self, name: str) -> None:
        """Reads `name`'s host key; the dialog asks before anything is recorded."""
        self._retry = lambda: self.run_scan(name)
        self.notify(f"{name}: reading its host key...", timeout=3)
        self.run_scan(name)

    @work(
        thread=True, exclusive=True, exit_on_error=False, group="trust", description="host key scan"
    )
    def run_scan(self, name: str) -> None:
        """Reads the key the device offers (records nothing)."""
        self.post_message(HostKeyScanned(self.studio.scan_host_key(name)))

    def on_host_key_scanned(self, message: HostKeyScanned) -> None:
        from tfstudio.studio.types import CHANGED, TRUSTED
        from tfstudio.tui.modals.hostkey import HostKeyModal

        offer = message.offer
        if offer.status == TRUSTED:
            self.notify(f"{offer.device}: {offer.fingerprint} is already trusted", title="trust")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_record(offer, offer.status == CHANGED)
            else:
                self.notify(f"{offer.device}: not trusted; nothing recorded", severity="warning")

        self.app.push_screen(HostKeyModal(offer), answered)

    @work(thread=True, exclusive=True, exit_on_error=False, group="trust", description="trust")
    def run_record(self, offer: Any, replace: bool) -> None:
        """Records the key the user confirmed."""
        self.post_message(
            HostKeyTrusted(offer, self.studio.record_host_key(offer, replace=replace))
        )

    def on_host_key_trusted(self, message: HostKeyTrusted) -> None:
        offer = message.offer
        self.notify(f"{offer.device}: trusted {offer.key_type} {offer.fingerprint}", title="trust")
        self.trusted(offer)

    def trusted(self, offer: Any) -> None:
        """Hook: a key was recorded (re-read, offer to go on)."""
