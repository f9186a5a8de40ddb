"""`tfstudio pipeline log` reads the chain back as the last outcome of each step says."""

from __future__ import annotations

from tfstudio.workflows.pipeline import journal, readback
from tfstudio.workflows.pipeline.events import PipelineEvent

SM = "a" * 64
CHAIN = {
    "training": {"job": "0123456789ab", "image_digest": "sha256:" + "d" * 64},
    "saved_model": {"path": "/w/exports/digits/1", "sha256": SM, "name": "digits/1"},
}


def _event(step: str, status: str, target: str, **extra) -> PipelineEvent:
    return PipelineEvent(step, status, f"{target} {status}", export=SM, target=target, **extra)


def test_a_step_redone_after_a_failure_reads_back_as_its_new_outcome() -> None:
    variant = {"mode": "int8", "sha256": "b" * 64, "path": "/m/digits.int8.tflite"}
    chain = CHAIN | {"variant": variant}
    for event in [
        _event("convert", "failed", "int8", chain=CHAIN),  # the first watcher's try
        _event("convert", "ok", "int8", chain=chain, data={"sha256": variant["sha256"]}),
        _event("deploy", "started", "pi", chain=chain),
        _event("deploy", "failed", "pi", chain=chain),  # the device was down
        _event("deploy", "ok", "pi", chain=chain,
               data={"active": variant["sha256"], "bench": {"p50_ms": 1.0, "p99_ms": 2.0}}),
        _event("deploy", "refused", "old", chain=chain, data={"active": None}),
        _event("convert", "failed", "float16", chain=CHAIN),  # not deployed anywhere
        _event("convert", "ok", "float16", chain=CHAIN | {"variant": {"sha256": "c" * 64}}),
    ]:  # fmt: skip
        journal.append(event)

    rows = {(r.mode, r.device): r for r in readback.chains()}
    assert set(rows) == {("int8", "pi"), ("int8", "old"), ("float16", "")}
    assert rows[("float16", "")].status == "ok" and rows[("float16", "")].variant_sha256
    pi = rows[("int8", "pi")]
    assert pi.status == "ok" and pi.complete and pi.p99_ms == 2.0
    assert pi.image_digest == CHAIN["training"]["image_digest"] and pi.job == "0123456789ab"
    assert rows[("int8", "old")].status == "refused" and not rows[("int8", "old")].complete
    assert readback.errors() == []  # both failures were redone since

    state = journal.load_state(SM)
    assert state.final("convert:int8") and state.final("deploy:int8:pi")
    assert state.final("deploy:int8:old") and state.cut_short() == []
