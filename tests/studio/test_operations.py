"""The one long-operation contract: throttled ticks, the cancel token, fleet results."""

from __future__ import annotations

import threading
from pathlib import Path

from tfstudio.fleet.registry import local_device
from tfstudio.operations import (
    CancelToken,
    Event,
    StageStarted,
    TargetFinished,
    Throttle,
    TransferTick,
)
from tfstudio.studio import Studio


def _tick(done: int, target: str = "dev") -> TransferTick:
    return TransferTick("deploy", target, done, 100, 1.0, None)


def test_throttle_passes_first_and_last_tick_and_every_stage() -> None:
    now = [0.0]
    seen: list[Event] = []
    throttle = Throttle(seen.append, interval=0.1, clock=lambda: now[0])
    throttle(_tick(1))
    throttle(_tick(2))  # same instant: dropped
    throttle(StageStarted("deploy", "dev", "push"))  # stages always pass
    throttle(_tick(3, target="other"))  # another target has its own clock
    now[0] = 0.05
    throttle(_tick(50))  # dropped
    throttle(_tick(100))  # the last tick always passes
    now[0] = 0.2
    throttle(_tick(60))
    assert [(type(e).__name__, getattr(e, "done", None)) for e in seen] == [
        ("TransferTick", 1),
        ("StageStarted", None),
        ("TransferTick", 3),
        ("TransferTick", 100),
        ("TransferTick", 60),
    ]


def test_cancel_token_is_the_event_every_stage_accepts() -> None:
    token = CancelToken()
    assert isinstance(token, threading.Event) and not token.cancelled
    token.cancel()
    assert token.cancelled and token.is_set()


def test_a_cancelled_deploy_reports_cancelled_and_sends_nothing(
    tiny_models: dict[str, Path],
) -> None:
    token = CancelToken()
    token.cancel()
    events: list[Event] = []
    result = Studio().deploy(
        tiny_models["int8"], [local_device()], on_event=events.append, cancel=token
    )
    (outcome,) = result
    assert outcome.status.value == "cancelled" and outcome.bytes_sent == 0
    assert not result.ok and result.failed == ["local"]
    assert result.to_json()[0]["status"] == "cancelled"
    finished = [e for e in events if isinstance(e, TargetFinished)]
    assert [(e.target, e.ok) for e in finished] == [("local", False)]
    assert not [e for e in events if isinstance(e, TransferTick)]
