"""Settle detection on real folders: a SavedModel counts only once it is whole and still."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from tests.pipeline.conftest import SmallModel, half_written, place
from tfstudio.workflows.pipeline.settle import SettleTracker, find_saved_models, snapshot


def test_every_saved_model_under_the_folder_is_found_hidden_ones_skipped(
    workspace: Path, small_model: SmallModel
) -> None:
    place(small_model.saved_model, workspace, "digits", "1")
    place(small_model.saved_model, workspace, "digits", "2")
    deep = workspace / "runs" / "a" / "best"
    shutil.copytree(small_model.saved_model, deep)
    shutil.copytree(small_model.saved_model, workspace / ".trash" / "old")
    found = sorted(p.relative_to(workspace).as_posix() for p in find_saved_models(workspace))
    assert found == ["exports/digits/1", "exports/digits/2", "runs/a/best"]


def test_a_half_written_export_is_never_complete(workspace: Path, small_model: SmallModel) -> None:
    only_pb = half_written(workspace, "half", small_model.saved_model)
    assert snapshot(only_pb) is None

    # variables/ still in TensorFlow's temporary folder: not yet renamed into place.
    temp = workspace / "exports" / "temp" / "1"
    shutil.copytree(small_model.saved_model, temp)
    os.rename(temp / "variables", temp / "variables_tmp")
    (temp / "variables").mkdir()
    shutil.move(temp / "variables_tmp", temp / "variables" / "variables_temp")
    assert snapshot(temp) is None

    # The data shard written, the index not yet.
    no_index = place(small_model.saved_model, workspace, "noindex")
    (no_index / "variables" / "variables.index").unlink()
    assert snapshot(no_index) is None

    tracker = SettleTracker(0.0)
    for model in (only_pb, temp, no_index):
        assert tracker.observe(model) is None
    assert sorted(tracker.incomplete()) == sorted([only_pb, temp, no_index])


def test_a_growing_export_settles_only_after_it_stops_changing(
    workspace: Path, small_model: SmallModel
) -> None:
    model = place(small_model.saved_model, workspace, "growing")
    shard = next((model / "variables").glob("variables.data*"))
    tracker = SettleTracker(0.4)
    assert tracker.observe(model) is None  # first look: the clock starts
    for _ in range(6):  # keeps changing for longer than the settle time
        time.sleep(0.1)
        with open(shard, "ab") as handle:
            handle.write(b"\0")
        assert tracker.observe(model) is None
    assert tracker.pending() == [model]
    time.sleep(0.5)
    assert tracker.observe(model) is not None
    assert tracker.pending() == []
