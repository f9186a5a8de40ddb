"""`images build`: a Dockerfile built through the SDK, under the tag policy, with its base recorded.

Before anything is sent to the engine: the new tag and every base image
(`FROM`) must pass the tag policy, and every base is resolved (pulled when
missing and allowed), so its digest is known. The digests go into the new
image as labels (`tfstudio.base.image`, `tfstudio.base.digest`,
`tfstudio.bases`), so the image carries its own provenance, and into
`TFSTUDIO_HOME/builds.jsonl`. Build output reaches the `report` step by step.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfstudio.atomic import file_lock
from tfstudio.config import studio_home
from tfstudio.errors import TfStudioError, UsageError
from tfstudio.operations import SILENT, CancelToken, Reporter, Stage, check_cancelled
from tfstudio.training.client import EngineClient, docker_sdk, translate
from tfstudio.training.errors import ImageError
from tfstudio.training.images import resolve_image
from tfstudio.training.tagpolicy import check_ref, override_note

BUILDS_LOG = "builds.jsonl"
_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?\s*$", re.IGNORECASE)
_ARG = re.compile(r"^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(\S*))?\s*$", re.IGNORECASE)
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class BuildResult:
    """A built image: its tag and id, its base images with their digests, and how long it took."""

    tag: str
    image_id: str
    bases: tuple[dict[str, Any], ...]
    seconds: float
    override: str | None

    def to_json(self) -> dict[str, Any]:
        """Returns {tag, image_id, bases, seconds, override}."""
        return {
            "tag": self.tag,
            "image_id": self.image_id,
            "bases": list(self.bases),
            "seconds": round(self.seconds, 2),
            "override": self.override,
        }


def base_images(dockerfile: str, build_args: dict[str, str] | None = None) -> list[str]:
    """Returns the external base images of a Dockerfile, in order (stages and scratch left out).

    Raises UsageError for a FROM whose reference still holds an unknown variable.
    """
    args = dict(build_args or {})
    stages: set[str] = set()
    bases: list[str] = []
    for line in _logical_lines(dockerfile):
        arg = _ARG.match(line)
        if arg and not bases and arg.group(1) not in args and arg.group(2) is not None:
            args[arg.group(1)] = arg.group(2).strip("\"'")
            continue
        found = _FROM.match(line)
        if not found:
            continue
        ref = _VAR.sub(lambda m: args.get(m.group(1) or m.group(2), m.group(0)), found.group(1))
        if "$" in ref:
            raise UsageError(f"FROM {found.group(1)}: unknown build argument in the base image")
        if found.group(2):
            stages.add(found.group(2).lower())
        if ref.lower() not in stages and ref != "scratch" and ref not in bases:
            bases.append(ref)
    return bases


def build_image(
    client: EngineClient,
    context: Path,
    tag: str,
    *,
    dockerfile: str = "Dockerfile",
    build_args: dict[str, str] | None = None,
    allow_latest: bool = False,
    pull: bool = True,
    report: Reporter = SILENT,
    cancel: CancelToken | None = None,
) -> BuildResult:
    """Builds `context/dockerfile` as `tag` and returns what was built.

    Raises TagPolicyError (tag or a base not pinned), UsageError (no
    Dockerfile), ImageError (a base cannot be had, or the build failed),
    EngineError, CancelledError.
    """
    new_ref = check_ref(tag, allow_latest=allow_latest, what="a new image's tag")
    path = context / dockerfile
    if not path.is_file():
        raise UsageError(f"no {dockerfile} in {context}")
    text = path.read_text(encoding="utf-8", errors="replace")
    notes = [n for n in [override_note(new_ref)] if n]
    bases = []
    for base in base_images(text, build_args):
        ref = check_ref(base, allow_latest=allow_latest, what="a base image")
        note = override_note(ref)
        if note:
            notes.append(note)
        resolved = resolve_image(client, ref, pull=pull, report=report, cancel=cancel)
        bases.append(
            {
                "ref": base,
                "id": resolved.id,
                "digest": resolved.digest,
                "digest_kind": resolved.digest_kind,
            }
        )
    labels = {
        "tfstudio.bases": json.dumps([{"ref": b["ref"], "digest": b["digest"]} for b in bases])
    }
    if bases:
        labels["tfstudio.base.image"] = bases[-1]["ref"]
        labels["tfstudio.base.digest"] = bases[-1]["digest"]
    override = "; ".join(notes) or None
    if override:
        labels["tfstudio.tag-policy.override"] = override
    started = time.monotonic()
    image_id = _run_build(client, context, dockerfile, tag, labels, build_args, report, cancel)
    result = BuildResult(tag, image_id, tuple(bases), time.monotonic() - started, override)
    _log_build(client.engine.name, result)
    report.stage(Stage.DONE, f"built {tag} ({image_id[:19]})")
    return result


def _run_build(
    client: EngineClient,
    context: Path,
    dockerfile: str,
    tag: str,
    labels: dict[str, str],
    build_args: dict[str, str] | None,
    report: Reporter,
    cancel: CancelToken | None,
) -> str:
    docker = docker_sdk()
    image_id = ""
    try:
        stream = client.api.build(
            path=str(context),
            dockerfile=dockerfile,
            tag=tag,
            rm=True,
            forcerm=True,
            pull=False,  # bases were resolved (and pulled) above, under the policy
            decode=True,
            labels=labels,
            buildargs=build_args or None,
        )
        for item in stream:
            check_cancelled(cancel, f"build of {tag}")
            if item.get("error"):
                raise ImageError(f"building {tag} failed: {_one_line(str(item['error']))}")
            line = str(item.get("stream") or "").strip()
            if line:
                report.stage(Stage.BUILD, line)
            aux = item.get("aux") or {}
            if aux.get("ID"):
                image_id = str(aux["ID"])
    except TfStudioError:
        raise
    except docker.errors.APIError as exc:
        raise ImageError(
            f"building {tag} failed: {_one_line(str(exc.explanation or exc))}"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - the connection failed mid-build
        raise translate(exc, client.engine, f"building {tag}") from exc
    if not image_id:
        with client.call(f"inspecting {tag}"):
            image_id = str(client.api.inspect_image(tag)["Id"])
    return image_id


def _log_build(engine: str, result: BuildResult) -> None:
    path = studio_home() / BUILDS_LOG
    entry = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "engine": engine}
    entry.update(result.to_json())
    with file_lock(path.with_suffix(".lock")), open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")


def _logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        if raw.lstrip().startswith("#") and not current:
            continue
        if raw.rstrip().endswith("\\"):
            current += raw.rstrip()[:-1] + " "
            continue
        lines.append(current + raw)
        current = ""
    if current:
        lines.append(current)
    return lines


def _one_line(text: str) -> str:
    return " ".join(text.split())[:400]
