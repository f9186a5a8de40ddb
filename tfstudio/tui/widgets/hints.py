"""The core's fix hints, said the UI's way: the key or the view that does it.

The core writes a hint for any front end, most often as the command that fixes
the fault ("run: tfstudio devices trust cam1 --fingerprint SHA256:..."); in
the UI the same fix is a key in a view, or a field of the form. `ui_hint`
rewrites the hints it knows and leaves any other as it is.
"""

from __future__ import annotations

import re

NAME = r"'?([\w.@-]+)'?"
REWRITES: tuple[tuple[str, str], ...] = (
    (rf"tfstudio devices trust {NAME}.*", r"t in 6 Devices (select \1): trust its host key"),
    (
        rf"tfstudio agent install {NAME} --runtime ([\w-]+)",
        r"i in 6 Devices (select \1): install the agent with \2",
    ),
    (rf"tfstudio agent install {NAME}", r"i in 6 Devices (select \1): install the agent"),
    (rf"tfstudio agent serve {NAME} --enable", r"s in 6 Devices (select \1): serve the agent"),
    (rf"tfstudio rollback {NAME}", r"r in 4 Deploy: roll \1 back"),
    (rf"tfstudio models --on {NAME}", r"m in 6 Devices (select \1): its models"),
    (rf"tfstudio deploy MODEL --(on|to) {NAME}", r"4 Deploy"),
    (rf"tfstudio devices remove {NAME}", r"x in 6 Devices: remove \1"),
    (r"tfstudio devices list", "6 Devices"),
    (rf"tfstudio engines check {NAME}( \([^)]*\))?", r"e in 2 Jobs: check the engines"),
    (
        r"tfstudio engines add [^;]*--workspace[^;]*",
        "a in the engine list (e in 2 Jobs): add the engine with a workspace",
    ),  # fmt: skip
    (r"tfstudio engines add .*", "a in the engine list (e in 2 Jobs): add an engine"),
    (r"tfstudio engines (list|remove)\b.*", "e in 2 Jobs: the engines"),
    (
        rf"(stop it first )?\(?tfstudio stop {NAME}\)? or pass --force",
        r"s in 2 Jobs: stop it first",
    ),
    (rf"tfstudio jobs show {NAME}", r"2 Jobs: select job \1 for its provenance"),
    (r"see: tfstudio jobs.*", "2 Jobs"),
    (
        r"pass --replace after verifying the new fingerprint",
        "t in 6 Devices: compare the new fingerprint, then Replace",
    ),  # fmt: skip
    (r"pass --rep-data", "give Representative data in the form"),
    (r"pass --image REPO:TAG", "name a pinned image in the form"),
    (r"pass --workspace", "give a workspace in the form"),
    (r"another engine \(--engine NAME\)", "another engine (e in 2 Jobs)"),
)
"""(pattern, replacement) pairs, tried in order on the whole hint."""


def ui_hint(hint: str | None) -> str | None:
    """Returns `hint` with the CLI commands it names replaced by the UI's keys."""
    if not hint:
        return hint
    text = hint
    for pattern, replacement in REWRITES:
        text = re.sub(pattern, replacement, text)
    return re.sub(r"\b(run|check|see|start it|fix it): (?=[a-z0-9] in |\d \w)", "", text)
