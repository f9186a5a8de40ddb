"""The labels that mark a container as a job of this studio, and the studio's identity.

Every job container carries `tfstudio.job=<id>` and `tfstudio.studio=<studio
id>`. The studio id is a random id made once per TFSTUDIO_HOME, so two studios
(two users, or a CI run beside a person) sharing an engine never list or touch
each other's jobs, and a container someone started by hand is never touched.
The labels also carry what is needed to rediscover a job after a restart
without any local state: its name, the image reference as asked, the engine
name, the workspace and whether the tag policy was overridden.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from tfstudio.atomic import file_lock, write_text_atomic
from tfstudio.config import studio_home
from tfstudio.statefile import corrupt, read_state_text

PREFIX = "tfstudio."
JOB = "tfstudio.job"
STUDIO = "tfstudio.studio"
NAME = "tfstudio.name"
IMAGE_REF = "tfstudio.image.ref"
ENGINE = "tfstudio.engine"
WORKSPACE = "tfstudio.workspace"
GPUS = "tfstudio.gpus"
OVERRIDE = "tfstudio.tag-policy.override"
KIND = "tfstudio.kind"
"""`job` for training jobs, `gpu-check` for the short-lived check containers; `group` for
a multi-worker job's services and network, `worker` for their containers (so that the
one-container listing, which asks for `job`, never shows them)."""
GROUP = "group"
WORKER = "worker"
IMAGE_ID = "tfstudio.image.id"
"""A multi-worker job's image as resolved on the manager (its containers may be elsewhere)."""
NETWORK = "tfstudio.network"
STORAGE = "tfstudio.storage"

STUDIO_ID_NAME = "studio-id"
_JOB_ID = re.compile(r"^[0-9a-f]{12}$")
_STUDIO_ID = re.compile(r"^[0-9a-f]{16}$")


def studio_id(home: Path | None = None) -> str:
    """Returns this studio's identity (made once, then read from TFSTUDIO_HOME/studio-id).

    Raises StateFileError when the file is there but is not an identity (empty, cut
    short, not text): it is never replaced, since the jobs it labels would vanish from
    `jobs`, `logs`, `stop` and `rm`."""
    path = (home or studio_home()) / STUDIO_ID_NAME
    text = _read_id(path)
    if text is not None:
        return text
    with file_lock(path.with_suffix(".lock")):
        text = _read_id(path)
        if text is not None:
            return text
        text = secrets.token_hex(8)
        write_text_atomic(path, text + "\n")
    return text


def _read_id(path: Path) -> str | None:
    """The identity in `path`, None when there is no file. Raises StateFileError."""
    what = "this studio's identity, which labels its training jobs"
    hint = (
        f"the jobs' containers carry it: docker ps -a --format "
        f"'{{{{.Label \"{STUDIO}\"}}}}' | sort -u; write it back to {path}"
    )
    text = read_state_text(path, what, hint)
    if text is None:
        return None
    if not _STUDIO_ID.match(text.strip()):
        raise corrupt(path, what, f"it holds {text.strip()[:20]!r}, not 16 hex digits", hint)
    return text.strip()


def new_job_id() -> str:
    """Returns a fresh 12-hex-digit job id."""
    return secrets.token_hex(6)


def is_job_id(text: str) -> bool:
    """True when `text` has the form of a job id."""
    return bool(_JOB_ID.match(text))


def ours_filter(studio: str, kind: str | None = "job") -> dict[str, list[str]]:
    """Returns the engine `filters` that select this studio's containers (of `kind`)."""
    labels = [f"{STUDIO}={studio}"]
    if kind:
        labels.append(f"{KIND}={kind}")
    return {"label": labels}


def is_ours(labels: dict[str, str] | None, studio: str) -> bool:
    """True when a container's labels say this studio started it."""
    return bool(labels) and (labels or {}).get(STUDIO) == studio and JOB in (labels or {})
