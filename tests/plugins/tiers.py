"""The two test tiers, derived from the fixtures each test uses (no tier marks on tests).

`full` is every test (what CI runs); `fast` (`pytest -m fast`, `scripts/check.sh --fast`)
leaves out every test that uses a fixture in FULL, or the fixtures of a pair in
FULL_TOGETHER. The hook reads `item.fixturenames`, the closure of every fixture a test
uses, so a test is full when any fixture it uses, however indirectly, is:

- `tensorflow_child`: it starts a TensorFlow conversion child (tfstudio's convert worker,
  directly or through `tfstudio convert`/`demo`/`watch`). A fixture that converts
  (`demo`, `mobilenet_all`...) or hands out a model only to be converted (`mlp`,
  `recurrent`, the convert tests' sources) depends on it; a test that converts inline
  asks for it with `pytest.mark.usefixtures("tensorflow_child")`.
- `tensorflow_runtime`: it imports TensorFlow itself at run time (in this process, or a
  device whose only runtime is TensorFlow).
- `docker_api`: it uses the Docker Engine and its test images; every Docker fixture
  depends on it.
- a slow scenario: deploys to SSH devices (`lab` with a model), the agent's long-lived
  servers, services and sessions, faults injected into the agent's writes (kills at
  every step, crashes, hangs, concurrent writers, bad models over an active one),
  whole-screen SVG snapshots. Each takes seconds of real processes and waits; together
  they would take the fast tier past its few minutes, though they need nothing it
  lacks. A file of such tests with no fixture to say so asks for `slow_scenario`.

What stays fast still runs real parts: LiteRT, the agent as a subprocess, loopback
sshd (host keys, auth, ssh config, device names, agent installs), Textual's Pilot,
the CLI. Its models come from the on-disk model cache (tests/helpers/model_cache.py),
so it needs TensorFlow only to fill a cold cache, once per machine.
"""

from __future__ import annotations

import collections
import sys
from collections.abc import Iterator

import pytest

from tests.helpers import model_cache

FULL = {
    "tensorflow_child": "starts a TensorFlow conversion child",
    "tensorflow_runtime": "imports TensorFlow at run time",
    "docker_api": "uses the Docker Engine and its test images",
    "slow_scenario": "a slow scenario (see its file)",
    "two_models": "kills the agent at every step of a write",
    "with_active": "refuses bad models over an active one",
    "sessions": "runs long-lived agent sessions",
    "served": "runs the agent's HTTP server",
    "start_server": "runs the agent's HTTP server",
    "service_home": "runs the agent's supervised service",
    "snap_compare": "draws whole screens as SVG snapshots",
}
"""A test that uses any of these fixtures is in the full tier only: {fixture: why}."""

MODELS = ("tiny_models", "digits", "big_model")
FULL_TOGETHER = {
    ("lab", model): "deploys a model to an SSH device (an agent per test, push, checks)"
    for model in MODELS
}
"""A test that uses both fixtures of a pair is in the full tier only: {pair: why}."""


@pytest.fixture(scope="session")
def tensorflow_child() -> Iterator[None]:
    """Declares that a test (or the fixture that asks for this) runs TensorFlow's converter
    in a child process: it puts the test in the full tier. Nothing to set up."""
    yield


@pytest.fixture(scope="session")
def tensorflow_runtime() -> Iterator[None]:
    """Declares that a test imports TensorFlow at run time: it puts it in the full tier."""
    yield


@pytest.fixture(scope="session")
def slow_scenario() -> Iterator[None]:
    """Declares a slow scenario (faults injected into real processes, waits) that no
    fixture of the test names: it puts the test in the full tier."""
    yield


NEEDS = {
    "needs_tf": ("tensorflow_child", "tensorflow_runtime"),
    "needs_docker": ("docker_api",),
    "needs_time": ("slow_scenario",),
}
"""Marks for the tests that need TensorFlow or the Docker Engine, or take minutes
({mark: its fixtures}). scripts/check.sh runs the full tier as four pytest processes
side by side on them: TensorFlow without Docker; Docker (every container of the run is
that process's, so the checks of what containers are left hold) with the slow
scenarios that need neither; and the rest, in two parts (SECOND_PART)."""


SECOND_PART = ("tests/tui/", "tests/agent/")
"""The rest of the suite (no TensorFlow, Docker or slow scenario) runs as two processes:
these folders' tests get the `second_part` mark. Those tests mostly wait (Textual's
screens, agents as subprocesses), so two processes finish them sooner than one even on
two busy cores; the split keeps the two near the same length (about 6 minutes each)."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fast: set by the tier hook: needs no TensorFlow child, dockerd or image"
    )
    config.addinivalue_line(
        "markers", "full(*why): set by the tier hook: uses a fixture in tests/plugins/tiers.FULL"
    )
    for mark, fixtures in NEEDS.items():
        config.addinivalue_line(
            "markers", f"{mark}: set by the tier hook: uses {' or '.join(fixtures)}"
        )
    config.addinivalue_line(
        "markers", f"second_part: set by the tier hook: under {' or '.join(SECOND_PART)}"
    )


def tier_of(fixturenames: list[str]) -> tuple[str, list[str]]:
    """('full', [the FULL fixtures, or 'a+b' pairs, that put it there]) or ('fast', [])."""
    used = set(fixturenames)
    why = [name for name in FULL if name in used]
    why += ["+".join(pair) for pair in FULL_TOGETHER if used.issuperset(pair)]
    return ("full" if why else "fast"), why


_COUNTS = pytest.StashKey[tuple[collections.Counter[str], collections.Counter[str]]]()


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by these marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    counts: collections.Counter[str] = collections.Counter()
    reasons: collections.Counter[str] = collections.Counter()
    for item in items:
        tier, why = tier_of(list(getattr(item, "fixturenames", ())))
        item.add_marker(pytest.mark.full(*why) if tier == "full" else pytest.mark.fast)
        for mark, fixtures in NEEDS.items():
            if any(name in why for name in fixtures):
                item.add_marker(mark)
        if item.nodeid.startswith(SECOND_PART):
            item.add_marker("second_part")
        counts[tier] += 1
        reasons.update(why)
    config.stash[_COUNTS] = counts, reasons


def pytest_report_collectionfinish(config: pytest.Config) -> list[str]:
    counts, reasons = config.stash.get(_COUNTS, (collections.Counter(), collections.Counter()))
    why = ", ".join(f"{name} {n}" for name, n in reasons.most_common())
    return [
        f"tiers of the collected tests: {counts['fast']} fast, {counts['full']} full"
        + (f" ({why})" if why else ""),
        f"model cache: {model_cache.root()} (${model_cache.CACHE_ENV})",
    ]


DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")


class _Watch:
    """What a fast test did that only the full tier may do, seen from this process: it
    started tfstudio's conversion worker, connected to the local Docker Engine, or
    imported TensorFlow (other than to fill the model cache). A test that does so is
    failed, naming the fixture it lacks, so a new test cannot slip into the fast tier
    with a dependency it hides. (A child process's own doings are not seen here.)"""

    def __init__(self) -> None:
        self.item: pytest.Item | None = None
        self.seen: list[str] = []
        self.tensorflow = False
        self.built = 0

    def audit(self, event: str, args: tuple[object, ...]) -> None:
        if self.item is None:
            return
        if event == "subprocess.Popen":
            argv = args[1]
            text = " ".join(map(str, argv)) if isinstance(argv, (list, tuple)) else str(argv)
            if "tfstudio.convert.worker" in text:
                self.seen.append("started a TensorFlow conversion child (tensorflow_child)")
        elif event == "socket.connect" and args[1] in DOCKER_SOCKETS:
            self.seen.append(f"connected to the Docker Engine at {args[1]} (docker_api)")

    def start(self, item: pytest.Item) -> None:
        self.item, self.seen = item, []
        self.tensorflow = "tensorflow" in sys.modules
        self.built = len(model_cache.built)

    def stop(self) -> list[str]:
        found, self.item = self.seen, None
        if (
            not self.tensorflow
            and "tensorflow" in sys.modules
            and len(model_cache.built) == self.built
        ):
            found.append("imported TensorFlow (tensorflow_runtime)")
        return found


_WATCH = _Watch()
sys.addaudithook(_WATCH.audit)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    if item.get_closest_marker("fast"):
        _WATCH.start(item)
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    watched = _WATCH.item is item
    try:
        result = yield
    except BaseException:
        if watched:
            _WATCH.stop()
        raise  # the test's own failure comes first
    found = _WATCH.stop() if watched else []
    if found:
        pytest.fail(
            f"a fast-tier test {'; '.join(dict.fromkeys(found))}: give it that fixture "
            "(tests/plugins/tiers.py)",
            pytrace=False,
        )
    return result


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    built = sorted(set(model_cache.built))
    if built:
        terminalreporter.write_line(
            f"model cache: built {len(built)} {'entry' if len(built) == 1 else 'entries'} "
            f"this run (a cold cache: once per machine): {', '.join(built)}"
        )
