"""A removed job's record stays readable (issue 19): `rm` keeps its provenance, so
`jobs show` shows it, `jobs --all` lists it as removed, and `jobs which` leads to it
(the UI's side: tests/tui/test_removed_job.py)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.training.conftest import BUSYBOX, start
from tfstudio.cli import main
from tfstudio.training.client import EngineClient
from tfstudio.training.jobs import wait_job

EXPORT = "mkdir -p exports/m && echo pb > exports/m/saved_model.pb"


def _finished_and_removed(client: EngineClient, workspace: Path, capsys) -> str:
    job = start(client, workspace, ["sh", "-c", EXPORT]).job
    wait_job(client, job, timeout_s=30)
    assert main(["rm", job.job_id]) == 0
    assert "provenance kept" in capsys.readouterr().out
    return job.job_id


def test_jobs_show_and_jobs_all_read_a_removed_job(
    client: EngineClient, workspace: Path, capsys
) -> None:
    job_id = _finished_and_removed(client, workspace, capsys)

    assert main(["jobs", "show", job_id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["job"]["job_id"] == job_id and shown["job"]["state"] == "removed"
    assert shown["provenance"]["final"] and shown["provenance"]["exit_code"] == 0
    assert [e["path"] for e in shown["provenance"]["exports"]] == ["exports/m"]

    assert main(["jobs", "show", job_id[:6]]) == 0  # a prefix, as for a live job
    text = capsys.readouterr().out
    assert job_id in text and "removed" in text and BUSYBOX in text

    assert main(["jobs", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []  # the default lists containers
    assert main(["jobs", "--all", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["job_id"], listed["state"], listed["exit_code"]) == (job_id, "removed", 0)

    # The chain back from the model: which job exported it, then that job's record.
    assert main(["jobs", "which", str(workspace / "exports" / "m"), "--json"]) == 0
    (found,) = json.loads(capsys.readouterr().out)["jobs"]
    assert found["job"] == job_id
