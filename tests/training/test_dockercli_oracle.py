"""tfstudio reads DOCKER_HOST, the TLS variables, DOCKER_CONFIG and contexts as the real CLI.

Every case is an environment (`env -i` clean, HOME in a temp dir). For each
docker CLI on the machine (tests/training/dockercli.py):
1. the endpoint: `docker context inspect` against tfstudio's resolution (URL,
   TLS mode, which TLS files), or both refuse;
2. the wire, where the endpoint is a recording TLS probe on loopback
   (tests/helpers/tlsfront.py): `docker version` and tfstudio's `connect`
   must connect the same way: not at all, plain HTTP, TLS with the same
   client certificate (each certificate's CN names its folder), or a TLS
   handshake that the client aborted (it did not trust the engine).

The contexts are made by the CLI itself (`docker context create`), in the
store tfstudio then reads. Where docker 20.10 and the current CLI differ,
tfstudio follows the current one; the case records what 20.10 does instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers.tlscerts import CertAuthority, write_docker_dir
from tests.helpers.tlsfront import TLS, TlsFront
from tests.training.dockercli import (
    REFUSED,
    Resolved,
    cli_contexts,
    cli_endpoint,
    cli_major,
    docker_clis,
    run_cli,
    tfstudio_endpoint,
)
from tfstudio.errors import TfStudioError
from tfstudio.training.client import connect
from tfstudio.training.dockercontext import list_contexts
from tfstudio.training.engines import local_engine

CLIS = docker_clis()
MISSING = "no docker CLI: run scripts/prepare-test-env.sh (it installs docker.io)"


@dataclass
class World:
    """Folders, contexts and the probe every case is written against."""

    root: Path
    probe: TlsFront
    paths: dict[str, str] = field(default_factory=dict)

    def env(self, template: dict[str, str]) -> dict[str, str]:
        """The case's environment with {port}, {home}, {certpath}... filled in."""
        values = {"port": str(self.probe.port), **self.paths}
        return {"HOME": self.paths["home"], **{k: v.format(**values) for k, v in template.items()}}


def _make_world(root: Path, probe: TlsFront, ca: CertAuthority, other_ca: CertAuthority) -> World:
    world = World(root, probe)
    home = root / "home"
    folders = {
        # ~/.docker holds certificates too (DOCKER_TLS_VERIFY without DOCKER_CERT_PATH).
        "dotdocker": write_docker_dir(home / ".docker", ca, ca.client("home")),
        "certpath": write_docker_dir(root / "certpath", ca, ca.client("certpath")),
        "caonly": write_docker_dir(root / "caonly", ca, None),
        "certnokey": write_docker_dir(root / "certnokey", ca, ca.client("nokey"), key=False),
        "wrongca": write_docker_dir(root / "wrongca", other_ca, ca.client("wrongca")),
        "empty": write_docker_dir(root / "empty", None, None),
        "cfg2": write_docker_dir(root / "cfg2", ca, ca.client("cfg2")),
        "cfgcur": root / "cfgcur",
        "cfgbad": root / "cfgbad",
        "cfgghost": root / "cfgghost",
        "cfgdefault": root / "cfgdefault",
    }
    world.paths = {"home": str(home), **{k: str(v) for k, v in folders.items()}}
    for name in ("cfgcur", "cfgbad", "cfgghost", "cfgdefault"):
        folders[name].mkdir()
    (folders["cfgbad"] / "config.json").write_text('{"currentContext": ')
    (folders["cfgghost"] / "config.json").write_text('{"currentContext": "ghost"}')
    (folders["cfgdefault"] / "config.json").write_text('{"currentContext": "default"}')
    client = {n: write_docker_dir(root / f"ctx-{n}", None, ca.client(n)) for n in ("ctx", "skip")}
    at = f"tcp://127.0.0.1:{probe.port}"
    ca_a, ca_b = str(folders["caonly"] / "ca.pem"), str(folders["wrongca"] / "ca.pem")

    def tls(ca_file: str, who: str) -> str:
        return f"ca={ca_file},cert={client[who] / 'cert.pem'},key={client[who] / 'key.pem'}"

    contexts = {
        str(home / ".docker"): {
            "plain": f"host={at}",
            "tlsctx": f"host={at},{tls(ca_a, 'ctx')}",
            "caonly": f"host={at},ca={ca_a}",
            "skip": f"host={at},skip-tls-verify=true",
            "skipwrong": f"host={at},{tls(ca_b, 'skip')},skip-tls-verify=true",
            "wrongctx": f"host={at},{tls(ca_b, 'ctx')}",
            "noport": "host=tcp://127.0.0.1",
            "sshc": "host=ssh://me@box:2222",
            "unixc": "host=unix:///tmp/tfstudio-none.sock",
        },
        str(folders["cfgcur"]): {
            "cur": f"host={at},{tls(ca_a, 'ctx')}",
            "plainc": f"host={at}",
        },
    }
    for config, made in contexts.items():
        for name, spec in made.items():
            proc = run_cli(
                CLIS[0],
                {"HOME": str(home), "DOCKER_CONFIG": config},
                "context",
                "create",
                name,
                "--docker",
                spec,
            )
            assert proc.returncode == 0, proc.stderr
    # After the contexts exist: 20.10 refuses to start with a missing current context.
    (folders["cfgcur"] / "config.json").write_text('{"auths": {}, "currentContext": "cur"}')
    return world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if not CLIS:
        pytest.fail(MISSING)
    root = tmp_path_factory.mktemp("docker-cli-oracle")
    ca, other_ca = CertAuthority(), CertAuthority("another CA")
    server = ca.server()
    server.write(root / "server-cert.pem", root / "server-key.pem")
    ca.write_ca(root / "client-ca.pem")
    probe = TlsFront(
        root / "server-cert.pem",
        root / "server-key.pem",
        root / "client-ca.pem",
        require_client_cert=False,
    )
    try:
        yield _make_world(root, probe, ca, other_ca)
    finally:
        probe.close()


@dataclass(frozen=True)
class Case:
    id: str
    env: dict[str, str]
    old_cli: Resolved | None = None
    """What docker 20.10 resolves where it differs from the current CLI (and tfstudio)."""


P = "tcp://127.0.0.1:{port}"
VERIFY = {"DOCKER_TLS_VERIFY": "1"}
CASES = [
    # DOCKER_HOST forms
    Case("nothing-set", {}),
    Case("host-unix", {"DOCKER_HOST": "unix:///var/run/docker.sock"}),
    Case("host-unix-empty-path", {"DOCKER_HOST": "unix://"}),
    Case("host-tcp-port", {"DOCKER_HOST": P}),
    Case("host-tcp-no-port", {"DOCKER_HOST": "tcp://127.0.0.1"}),
    Case("host-tcp-no-scheme", {"DOCKER_HOST": "127.0.0.1:{port}"}),
    Case("host-tcp-no-host", {"DOCKER_HOST": "tcp://:{port}"}),
    Case("host-tcp-bare", {"DOCKER_HOST": "tcp://"}),
    Case("host-tcp-empty-port", {"DOCKER_HOST": "tcp://127.0.0.1:"}),
    Case("host-spaces", {"DOCKER_HOST": "  " + P + "  "}),
    Case("host-ssh", {"DOCKER_HOST": "ssh://me@box:2222"}),
    Case("host-ssh-no-port", {"DOCKER_HOST": "ssh://me@box"}),
    Case("host-ipv6-no-port", {"DOCKER_HOST": "tcp://[::1]"}),
    Case("host-http", {"DOCKER_HOST": "http://127.0.0.1:{port}"}),
    Case("host-bad-port", {"DOCKER_HOST": "tcp://127.0.0.1:abc"}),
    # TLS variables with the default context
    Case("verify-dot-docker", {**VERIFY, "DOCKER_HOST": P}),
    Case("verify-cert-path", {**VERIFY, "DOCKER_HOST": P, "DOCKER_CERT_PATH": "{certpath}"}),
    Case("verify-no-files", {**VERIFY, "DOCKER_HOST": P, "DOCKER_CERT_PATH": "{empty}"}),
    Case("verify-ca-only", {**VERIFY, "DOCKER_HOST": P, "DOCKER_CERT_PATH": "{caonly}"}),
    Case("verify-cert-no-key", {**VERIFY, "DOCKER_HOST": P, "DOCKER_CERT_PATH": "{certnokey}"}),
    Case("verify-wrong-ca", {**VERIFY, "DOCKER_HOST": P, "DOCKER_CERT_PATH": "{wrongca}"}),
    Case("tls-wrong-ca", {"DOCKER_TLS": "1", "DOCKER_HOST": P, "DOCKER_CERT_PATH": "{wrongca}"}),
    Case("tls-cert-path", {"DOCKER_TLS": "1", "DOCKER_HOST": P, "DOCKER_CERT_PATH": "{certpath}"}),
    Case("tls-no-files", {"DOCKER_TLS": "1", "DOCKER_HOST": P, "DOCKER_CERT_PATH": "{empty}"}),
    Case("verify-0", {"DOCKER_TLS_VERIFY": "0", "DOCKER_HOST": P}),
    Case("verify-false", {"DOCKER_TLS_VERIFY": "false", "DOCKER_HOST": P}),
    Case(
        "verify-empty",
        {"DOCKER_TLS_VERIFY": "", "DOCKER_HOST": P, "DOCKER_CERT_PATH": "{certpath}"},
    ),
    Case("cert-path-alone", {"DOCKER_HOST": P, "DOCKER_CERT_PATH": "{certpath}"}),
    Case("cert-path-empty", {**VERIFY, "DOCKER_HOST": P, "DOCKER_CERT_PATH": ""}),
    Case("verify-no-host", VERIFY),
    Case("tls-no-host", {"DOCKER_TLS": "1"}),
    Case("verify-no-port", {**VERIFY, "DOCKER_HOST": "tcp://127.0.0.1"}),
    Case("verify-unix", {**VERIFY, "DOCKER_HOST": "unix:///var/run/docker.sock"}),
    Case(
        "verify-unix-no-files", {**VERIFY, "DOCKER_HOST": "unix://", "DOCKER_CERT_PATH": "{empty}"}
    ),
    Case("verify-ssh", {**VERIFY, "DOCKER_HOST": "ssh://me@box"}),
    Case("verify-config-dir", {**VERIFY, "DOCKER_HOST": P, "DOCKER_CONFIG": "{cfg2}"}),
    Case(
        "verify-cert-path-over-config",
        {**VERIFY, "DOCKER_HOST": P, "DOCKER_CONFIG": "{cfg2}", "DOCKER_CERT_PATH": "{certpath}"},
    ),
    # contexts
    Case("context-plain", {"DOCKER_CONTEXT": "plain"}),
    Case("context-tls", {"DOCKER_CONTEXT": "tlsctx"}),
    Case("context-ca-only", {"DOCKER_CONTEXT": "caonly"}),
    Case("context-skip-verify", {"DOCKER_CONTEXT": "skip"}),
    Case("context-skip-verify-wrong-ca", {"DOCKER_CONTEXT": "skipwrong"}),
    Case("context-wrong-ca", {"DOCKER_CONTEXT": "wrongctx"}),
    Case("context-no-port", {"DOCKER_CONTEXT": "noport"}),
    Case("context-ssh", {"DOCKER_CONTEXT": "sshc"}),
    Case("context-unix", {"DOCKER_CONTEXT": "unixc"}),
    Case("context-unknown", {"DOCKER_CONTEXT": "nosuch"}),
    Case("context-default-with-tls", {"DOCKER_CONTEXT": "default", **VERIFY}),
    Case("context-ignores-tls-variables", {"DOCKER_CONTEXT": "plain", **VERIFY}),
    Case(
        "context-tls-ignores-cert-path",
        {"DOCKER_CONTEXT": "tlsctx", **VERIFY, "DOCKER_CERT_PATH": "{empty}"},
    ),
    Case("host-beats-context", {"DOCKER_HOST": P, "DOCKER_CONTEXT": "tlsctx"}),
    Case("current-context", {"DOCKER_CONFIG": "{cfgcur}"}),
    Case("host-beats-current-context", {"DOCKER_CONFIG": "{cfgcur}", "DOCKER_HOST": P}),
    Case("env-context-beats-current", {"DOCKER_CONFIG": "{cfgcur}", "DOCKER_CONTEXT": "plainc"}),
    Case("context-of-another-config", {"DOCKER_CONFIG": "{cfg2}", "DOCKER_CONTEXT": "plain"}),
    Case("config-unparsable", {"DOCKER_CONFIG": "{cfgbad}"}),
    Case("current-context-missing", {"DOCKER_CONFIG": "{cfgghost}"}),
    Case("current-context-default", {"DOCKER_CONFIG": "{cfgdefault}", **VERIFY, "DOCKER_HOST": P}),
    Case("config-empty-is-home", {"DOCKER_CONFIG": "", "DOCKER_CONTEXT": "tlsctx"}),
    # where 20.10 differs from the current CLI
    Case(
        "empty-host-and-context",
        {"DOCKER_HOST": "", "DOCKER_CONTEXT": "plain"},
        old_cli=Resolved("unix:///var/run/docker.sock"),
    ),
    Case("empty-context", {"DOCKER_CONTEXT": ""}, old_cli=REFUSED),
]


ELSEWHERE = {
    # Endpoints that are not the probe (the local socket, ssh://, ports 2375/2376 of
    # localhost): compared by their resolution only.
    "nothing-set",
    "host-unix",
    "host-unix-empty-path",
    "host-tcp-no-port",
    "host-tcp-bare",
    "host-tcp-empty-port",
    "host-ssh",
    "host-ssh-no-port",
    "verify-no-host",
    "tls-no-host",
    "verify-no-port",
    "verify-unix",
    "verify-ssh",
    "context-ssh",
    "context-unix",
    "context-default-with-tls",
    "config-unparsable",
    "empty-context",
}
ON_PROBE = [c for c in CASES if c.id not in ELSEWHERE]


def _cli_id(cli: str) -> str:
    return cli.replace("/", "_").strip("_")


@pytest.fixture(params=CLIS or ["missing"], ids=[_cli_id(c) for c in CLIS] or ["missing"])
def cli(request: pytest.FixtureRequest) -> str:
    if request.param == "missing":
        pytest.fail(MISSING)
    return str(request.param)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_endpoint_as_the_cli_resolves_it(world: World, cli: str, case: Case) -> None:
    env = world.env(case.env)
    theirs, stderr = cli_endpoint(cli, env)
    ours = tfstudio_endpoint(env)
    if case.old_cli is not None and cli_major(cli) < 23:
        assert theirs == case.old_cli, f"docker 20.10 changed? {theirs} ({stderr})"
        return
    assert ours == theirs, f"docker: {theirs} ({stderr or 'no error'}); tfstudio: {ours}"


def _wire(world: World, run: object) -> set[tuple[str, str | None]]:
    world.probe.clear()
    assert callable(run)
    run()
    world.probe.settle()
    return {(e.kind, e.client_cn) for e in world.probe.events}


def _wire_pairs() -> list[tuple[str, Case]]:
    """Each CLI with the probe cases it resolves as tfstudio does.

    docker 20.10 resolves the `old_cli` cases elsewhere (the endpoint test holds it to
    that), so its wire is not compared there: those pairs are not generated at all.
    """
    if not CLIS:
        return [("missing", case) for case in ON_PROBE]
    return [
        (cli, case)
        for cli in CLIS
        for case in ON_PROBE
        if case.old_cli is None or cli_major(cli) >= 23
    ]


WIRE_PAIRS = _wire_pairs()


@pytest.mark.parametrize(
    ("cli_path", "case"), WIRE_PAIRS, ids=[f"{_cli_id(c)}-{k.id}" for c, k in WIRE_PAIRS]
)
def test_connects_as_the_cli_connects(
    world: World, cli_path: str, case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    if cli_path == "missing":
        pytest.fail(MISSING)
    cli = cli_path
    env = world.env(case.env)
    theirs_at, _ = cli_endpoint(cli, env)
    probe_urls = {f"tcp://{h}:{world.probe.port}" for h in ("127.0.0.1", "localhost")}
    # The probe, a refusal, or a context without a port (the CLI fails to dial it).
    assert theirs_at.url in probe_urls | {"", "tcp://127.0.0.1"}, f"{theirs_at}: not the probe"
    for name in [n for n in os.environ if n.startswith("DOCKER_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    def cli_run() -> None:
        run_cli(cli, env, "version", "--format", "{{.Server.Version}}")

    def ours() -> None:
        try:
            connect(local_engine(), connect_timeout=5).close()
        except TfStudioError:
            pass

    theirs = _wire(world, cli_run)
    mine = _wire(world, ours)
    assert mine == theirs, (
        f"docker connected {theirs or 'not at all'}; tfstudio {mine or 'not at all'}"
    )


def test_the_probe_saw_tls_and_client_certificates(world: World) -> None:
    """The wire comparison is not vacuous: the probe tells certificates apart."""
    env = world.env({**VERIFY, "DOCKER_HOST": P, "DOCKER_CERT_PATH": "{certpath}"})
    world.probe.clear()
    run_cli(CLIS[0], env, "version")
    world.probe.settle()
    assert {(e.kind, e.client_cn) for e in world.probe.events} == {(TLS, "certpath")}


@pytest.mark.parametrize(
    "template",
    [
        {},
        {"DOCKER_CONTEXT": "tlsctx"},
        {"DOCKER_CONFIG": "{cfgcur}"},
        {"DOCKER_CONFIG": "{cfgcur}", "DOCKER_HOST": "unix:///run/x.sock"},
        {"DOCKER_HOST": P, "DOCKER_CONTEXT": "skip"},
    ],
    ids=["home", "env-context", "current-context", "host-over-current", "host-over-env-context"],
)
def test_contexts_listed_as_docker_context_ls(
    world: World, cli: str, template: dict[str, str]
) -> None:
    env = world.env(template)
    theirs = cli_contexts(cli, env)
    ours = [
        {"name": c.name, "current": c.current, "url": c.endpoint.url} for c in list_contexts(env)
    ]
    assert ours == theirs
