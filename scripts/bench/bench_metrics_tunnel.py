"""Metrics scrape round trip through the SSH tunnel vs a local `curl` of the same endpoint.

A loopback sshd "device" runs the agent's service (its supervised serve on
127.0.0.1). Alternately, several rounds:

- curl: `curl -s http://127.0.0.1:PORT/metrics` run on the device itself
  (a new process each time, as a shell user would);
- tunnel: `MetricsSession.poll()` from the studio: GET /metrics over a
  direct-tcpip channel of the studio's SSH connection (kept open, as
  `--watch` and the UI do), parse, rates and percentiles;
- fresh tunnel: a new direct-tcpip channel and HTTP connection per scrape,
  on the studio's open SSH connection;
- ssh+curl: the same curl run through the studio's SSH connection (what one
  does without a tunnel).

Prints the medians and the ratio tunnel / curl. The first poll (connect,
authenticate, ask the agent where the server listens, open the tunnel) is
printed on its own.

    .venv/bin/python scripts/bench/bench_metrics_tunnel.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time

from _lab import SshdFactory, make_mlp, trust
from paired import pick, report_value

from tests.conftest import VENVS
from tfstudio.fleet.agent_install import install_agent
from tfstudio.fleet.agentcall import AgentClient
from tfstudio.fleet.connect import open_transport
from tfstudio.fleet.registry import Device, add_device, get_device
from tfstudio.fleet.service import control, endpoint
from tfstudio.tunnel.channel import LoopbackHTTP
from tfstudio.tunnel.telemetry import MetricsSession


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=pick(30, 10))
    args = parser.parse_args()
    factory = SshdFactory("tfbm")
    device = None
    try:
        server = factory.start("metrics")
        trust(server)
        user = factory.make_user("m")
        add_device(
            Device(
                name="bench",
                host="127.0.0.1",
                port=server.port,
                user=user,
                key=str(factory.client_key),
                python=str(VENVS / "device" / "bin" / "python"),
            )
        )
        device = get_device("bench")
        model = make_mlp(factory.root / "mlp.tflite", 256)
        model.chmod(0o644)
        with open_transport(device) as transport:
            install_agent(device, transport)
            AgentClient(device, transport).call("install", "--", str(model))
            control(device, transport, "enable", port=0)
            found = endpoint(device, transport)
        url = f"http://127.0.0.1:{found.port}/metrics"
        curl = ["curl", "-s", "-o", "/dev/null", "-H", f"Authorization: Bearer {found.token}", url]

        started = time.perf_counter()
        session = MetricsSession(device, open_transport)
        first = session.poll()
        assert first.ok, first.error
        cold = _ms(started)
        with open_transport(device) as transport:
            tunnel_ms, scrape_ms, curl_ms, ssh_ms, fresh_ms = [], [], [], [], []
            for _ in range(args.rounds):
                started = time.perf_counter()
                subprocess.run(curl, check=True)
                curl_ms.append(_ms(started))
                started = time.perf_counter()
                polled = session.poll()
                tunnel_ms.append(_ms(started))
                assert polled.ok and polled.scrape_ms is not None, polled.error
                scrape_ms.append(polled.scrape_ms)
                started = time.perf_counter()
                http = LoopbackHTTP(transport, found.port, found.token)
                assert http.request("GET", "/metrics").status == 200
                http.close()
                fresh_ms.append(_ms(started))
                started = time.perf_counter()
                assert transport.run(curl, timeout=30).ok
                ssh_ms.append(_ms(started))
        session.close()
        med = statistics.median
        print(f"metrics scrape of the agent service, {args.rounds} rounds, loopback sshd")
        print(f"  curl on the device:          {med(curl_ms):7.2f} ms")
        print(f"  tunnel poll (scrape+parse):  {med(tunnel_ms):7.2f} ms"
              f"   of which HTTP round trip {med(scrape_ms):.2f} ms")  # fmt: skip
        print(f"  fresh tunnel per scrape:     {med(fresh_ms):7.2f} ms")
        print(f"  curl through ssh exec:       {med(ssh_ms):7.2f} ms")
        print(f"  first poll (connect, find the server, open the tunnel): {cold:.1f} ms")
        print(f"  ratio tunnel / curl on the device: {med(tunnel_ms) / med(curl_ms):.2f}x")
        report_value("metrics_tunnel", "metrics scrape through the SSH tunnel",
                     "curl on the device", "none",
                     f"{med(tunnel_ms) / med(curl_ms):.2f}x", None)  # fmt: skip
    finally:
        if device is not None:
            try:
                with open_transport(device) as transport:
                    control(device, transport, "disable")
            except Exception as exc:  # noqa: BLE001 - still stop the servers
                print(f"cleanup: {exc}")
        factory.close()


if __name__ == "__main__":
    main()
