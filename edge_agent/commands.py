"""The bodies of the commands that the agent's CLI and its session both run: a recorded
store write, a write's outcome, the status answer and holding the device lock.

One module for both callers, so that neither imports the other. Imports beyond the
error type happen inside each body: the agent's start-up pays only for what it runs.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional

from edge_agent.errors import AgentError

if TYPE_CHECKING:
    from edge_agent.store import Store


def active_ref(store: Store) -> Optional[Dict[str, Any]]:
    """Returns the active model as {"sha256", "name"}, or None when none is active."""
    sha = store.active_sha()
    if sha is None:
        return None
    try:
        name = store.manifest(sha).get("name")
    except AgentError:
        name = None
    return {"sha256": sha, "name": name}


def recorded(
    store: Store, op_id: Optional[str], op: str, write: Callable[[], Dict[str, Any]]
) -> Dict[str, Any]:
    """Runs `write`, recording its outcome under `op_id` (when given) for `outcome`."""
    from edge_agent import ops

    op_id = ops.known(op_id)
    if op_id is None:
        return write()
    store.ensure()
    ops.start(store.home, op_id, op)
    try:
        result = write()
    except AgentError as exc:
        ops.fail(store.home, op_id, exc.to_json())
        raise
    except Exception as exc:
        ops.fail(store.home, op_id, {"error": f"internal error: {exc}", "code": "internal"})
        raise
    ops.finish(store.home, op_id, result)
    return result


def outcome_of(store: Store, op_id: str, wait: float) -> Dict[str, Any]:
    """Returns the `outcome` answer: the write's record and what the device runs now."""
    from edge_agent import ops

    record = ops.outcome(store.home, ops.check_id(op_id), wait)
    state = store.state()
    history = state["history"]
    return {**record, "active": state["active"], "previous": history[-1] if history else None}


def status_of(store: Store) -> Dict[str, Any]:
    """Returns the `status` answer: the server, the active model, the last bench."""
    from edge_agent.bench import last_report
    from edge_agent.server import server_status

    return {
        "server": server_status(store),
        "active": active_ref(store),
        "last_bench": last_report(store),
    }


def serve_lock(
    store: Store,
    *,
    lock_id: str,
    owner: str,
    wait_s: float,
    for_sha: Optional[str] = None,
    need_bytes: int = 0,
    as_json: bool = True,
) -> None:
    """The `lock` command: holds the device lock for deploy `lock_id` until stdin closes.

    Once held, leftover uploads are swept (stale ones; with `need_bytes`, other
    models' partials until that much is free) and one line announces it. A
    holder left behind by the same deploy (its link froze) is asked to end
    first (`end_own_stale_holder`).
    Raises AgentError(locked) when another deploy keeps the lock past `wait_s`.
    """
    from edge_agent import ops, space
    from edge_agent.devicelock import end_own_stale_holder, hold

    ops.check_id(lock_id)
    store.ensure()
    end_own_stale_holder(store.home, lock_id)
    with hold(store.home, wait_s, owner=owner, lock_id=lock_id) as me:
        swept = space.sweep(store.home, keep_sha=for_sha, need_bytes=need_bytes)
        answer = {"locked": True, **me, "swept": swept}
        if as_json:
            sys.stdout.write(json.dumps(answer, sort_keys=True) + "\n")
        else:
            sys.stdout.write(f"holding the device lock {lock_id}; close stdin to release it\n")
        sys.stdout.flush()
        sys.stdin.buffer.read()  # until the deploy closes its channel (or it drops)
