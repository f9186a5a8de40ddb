"""Docker's timestamps (RFC 3339 with nanoseconds) as nanoseconds, and back to ISO text."""

from __future__ import annotations

import calendar
import re
import time

_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


def parse_ns(text: str | None) -> int | None:
    """Returns nanoseconds since the epoch, or None for Docker's "never" (year 1) or bad text."""
    if not text or text.startswith("0001-"):
        return None
    match = _STAMP.match(text.strip())
    if not match:
        return None
    base = calendar.timegm(time.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S"))
    zone = match.group(3)
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        base -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    fraction = int((match.group(2) or "0").ljust(9, "0"))
    return base * 1_000_000_000 + fraction


def iso(ns: int | None) -> str | None:
    """Returns `ns` as an ISO 8601 UTC timestamp with seconds, or None."""
    if ns is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns // 1_000_000_000))
