"""A test client for the agent's session mode: a real `session` process, JSON lines both ways.

Also reads what the kernel says about a process (bytes it read with read(2),
its peak memory, its children), which is how the tests prove that an install
reads the model once or not at all, and how much memory it takes.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.agent.conftest import REPO, agent_cmd, agent_env


class SessionClient:
    """One running `tfstudio-agent session`."""

    def __init__(
        self, home: Path, env: dict | None = None, python: Any = None, cwd: Path | None = None
    ) -> None:
        self.proc = subprocess.Popen(
            agent_cmd(home, "session", python=python),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=agent_env(env),
            cwd=str(cwd or REPO),
        )
        self.home = home
        self.hello = json.loads(self._line())
        self._next = 0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the session ended: {self.stderr()}"
        return line.decode()

    def stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return self.proc.stderr.read().decode()

    def send(self, op: str, args: dict | None = None, body: bytes = b"") -> int:
        assert self.proc.stdin is not None
        self._next += 1
        line = json.dumps({"id": self._next, "op": op, "args": args or {}}) + "\n"
        self.proc.stdin.write(line.encode() + body)
        self.proc.stdin.flush()
        return self._next

    def answer(self) -> dict:
        return json.loads(self._line())

    def call(self, op: str, args: dict | None = None, body: bytes = b"") -> dict:
        """Sends one request and returns its answer ({"id", "ok", "result" | "error"})."""
        rid = self.send(op, args, body)
        answer = self.answer()
        assert answer["id"] == rid
        return answer

    def ok(self, op: str, args: dict | None = None, body: bytes = b"") -> dict:
        """Sends one request and returns its result; fails the test on an error answer."""
        answer = self.call(op, args, body)
        assert answer["ok"], answer
        return answer["result"]

    def upload(self, data: bytes, sha: str, offset: int = 0, total: int | None = None) -> dict:
        body = data[offset:] if total is None else data
        args = {"sha256": sha, "offset": offset, "length": len(body)}
        args["total"] = len(data) if total is None else total
        return self.call("upload", args, body)

    def close(self, timeout: float = 30) -> int:
        """Closes stdin (what a closed SSH channel does) and returns the exit status."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def read_bytes_of(pid: int) -> int:
    """Bytes the process read with read(2) and friends so far (`rchar`; mmap is not counted)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/PID/io")


def peak_rss_kib(pid: int) -> int:
    """The process's peak resident memory (VmHWM), KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/PID/status")


def children_of(pid: int) -> list[int]:
    """The live child processes of `pid`."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(t) for t in text)
    return found


def _pipes(pid: int) -> set[str]:
    out = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("pipe:"):
                out.add(target)
    except OSError:
        pass
    return out


def runtime_children(pid: int) -> list[int]:
    """The live runtime children of agent `pid`: the processes whose stdin and stdout are
    pipes the agent holds the other ends of. A cold child is the agent's own child; one
    the warm runtime forked (edge_agent.warm) is not, so parenthood cannot tell."""
    mine = _pipes(pid)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == pid:
            continue
        try:
            ends = [os.readlink(entry / "fd" / str(n)) for n in (0, 1)]
        except OSError:
            continue
        if all(e.startswith("pipe:") and e in mine for e in ends):
            found.append(int(entry.name))
    return sorted(found)


def modules_mapped(pid: int, *names: str) -> list[str]:
    """The file mappings of `pid` whose path contains one of `names` (shared libraries)."""
    hits = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and any(n in parts[5] for n in names):
            hits.add(parts[5])
    return sorted(hits)
