"""`serve`: a small stdlib HTTP server for the active model, in the shape of TF Serving's REST API.

    GET  /v1/models/default            status; version = the model's sha256
    GET  /v1/models/default/metadata   inputs and outputs
    POST /v1/models/default:predict    {"instances": [...]} or {"inputs": ...}
    GET  /metrics                      Prometheus text

It binds to 127.0.0.1 unless told otherwise, and refuses any other address
without a token; with a token every request needs `Authorization: Bearer`.
Bad requests get 400 with {"error"}; nothing a client sends can stop it.
`<home>/server.json` (removed on exit) tells `status` it runs.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import os
import signal
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Optional, Tuple

from edge_agent import fsutil
from edge_agent.errors import AgentError
from edge_agent.metrics import Metrics
from edge_agent.predict import BadRequest, run_predict, tensor_meta
from edge_agent.store import Store, utc_now
from edge_agent.watcher import ModelHolder, Reloader, load_model, log

SERVER_FILE = "server.json"
MAX_BODY_BYTES = 64 * 1024 * 1024
"""Requests above this are refused (400) before being read."""

MODEL_PATH = "/v1/models/default"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: Tuple[str, int], app: App) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        super().__init__(address, _Handler)


class App:
    """What request threads share: the model holder, metrics and the token."""

    def __init__(self, store: Store, token: Optional[str]) -> None:
        self.store = store
        self.token = token
        self.holder = ModelHolder()
        self.metrics = Metrics()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive: a client's request loop reuses its connection
    server_version = "tfstudio-agent"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle plus
    # the client's delayed ACK would add ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        return  # one line per request would swamp a device's log

    def _send(self, code: int, body: Any, endpoint: str, content_type: str = "") -> None:
        data = body.encode() if isinstance(body, str) else (json.dumps(body) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type or "application/json")
        self.send_header("Content-Length", str(len(data)))
        if code == 401:
            self.send_header("WWW-Authenticate", "Bearer")
        self.end_headers()
        self.wfile.write(data)
        self.server.app.metrics.observe_request(endpoint, code)

    def _authorized(self, endpoint: str) -> bool:
        token = self.server.app.token
        if not token:
            return True
        given = self.headers.get("Authorization", "")
        if given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), token.encode()):
            return True
        self._send(401, {"error": "missing or wrong bearer token"}, endpoint)
        return False

    def do_GET(self) -> None:  # noqa: N802 - stdlib's name
        path = self.path.split("?", 1)[0].rstrip("/")
        app = self.server.app
        endpoint = {MODEL_PATH: "status", MODEL_PATH + "/metadata": "metadata"}.get(
            path, "metrics" if path == "/metrics" else "other"
        )
        if not self._authorized(endpoint):
            return
        model = app.holder.current
        if endpoint == "metrics":
            page = app.metrics.render(
                model.sha256 if model else None, model.name if model else None
            )
            self._send(200, page, endpoint, "text/plain; version=0.0.4; charset=utf-8")
        elif endpoint == "other":
            self._send(404, {"error": f"no such endpoint: GET {path}"}, endpoint)
        elif model is None:
            self._send(503, {"error": "no model is active on this device"}, endpoint)
        elif endpoint == "status":
            status = {"error_code": "OK", "error_message": ""}
            self._send(
                200,
                {
                    "model_version_status": [
                        {"version": model.sha256, "state": "AVAILABLE", "status": status}
                    ],
                    "name": model.name,
                },
                endpoint,
            )
        else:
            spec = {"name": "default", "version": model.sha256, "signature_name": "serving_default"}
            meta = {"inputs": tensor_meta(model.inputs), "outputs": tensor_meta(model.outputs)}
            self._send(200, {"model_spec": spec, "metadata": meta}, endpoint)

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        endpoint = "predict" if path == MODEL_PATH + ":predict" else "other"
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body would poison keep-alive
            self._send(
                400, {"error": f"a Content-Length up to {MAX_BODY_BYTES} is required"}, endpoint
            )
            return
        raw = self.rfile.read(length)
        if not self._authorized(endpoint):
            return
        if endpoint == "other":
            self._send(404, {"error": f"no such endpoint: POST {path}"}, endpoint)
            return
        model = self.server.app.holder.current  # one reference for the whole request
        if model is None:
            self._send(503, {"error": "no model is active on this device"}, endpoint)
            return
        started = time.perf_counter()
        try:
            body = json.loads(raw)
            answer = run_predict(model, body)
        except ValueError as exc:  # JSON errors are ValueErrors
            self._send(400, {"error": f"bad request: {exc}"}, endpoint)
            return
        except BadRequest as exc:
            self._send(400, {"error": str(exc)}, endpoint)
            return
        except Exception as exc:  # noqa: BLE001 - e.g. the runtime refusing a tensor
            self._send(500, {"error": f"invoke failed: {exc}"}, endpoint)
            return
        self.server.app.metrics.observe_predict(time.perf_counter() - started)
        self._send(200, answer, endpoint)


def server_status(store: Store) -> Dict[str, Any]:
    """Returns {"running", "pid", "host", "port", ...} from server.json and a liveness check."""
    info = fsutil.read_json(store.home / SERVER_FILE, default=None)
    if not isinstance(info, dict):
        return {"running": False, "pid": None, "host": None, "port": None}
    pid = int(info.get("pid") or 0)
    running = pid > 0 and _alive(pid)
    return {**info, "running": running}


def _alive(pid: int) -> bool:
    if not fsutil.pid_alive(pid):
        return False
    try:  # a recycled pid is not our server
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"serve" in handle.read()
    except OSError:
        return True


def serve(
    store: Store,
    host: str = "127.0.0.1",
    port: int = 8501,
    token: Optional[str] = None,
    json_lines: bool = False,
) -> None:
    """Serves until SIGTERM/SIGINT. Raises AgentError(usage) for an unsafe or busy address."""
    if not is_loopback(host) and not token:
        raise AgentError(
            f"refusing to serve on {host} without a token: anyone on the network could "
            "use the model",
            "usage",
            hint="pass --token TOKEN (or set TFSTUDIO_AGENT_TOKEN), or bind to 127.0.0.1",
        )
    store.ensure()
    existing = server_status(store)
    if existing["running"] and existing.get("pid") != os.getpid():
        raise AgentError(
            f"a server already runs for this home (pid {existing['pid']}, port {existing['port']})",
            "locked",
            hint="stop it first",
        )
    app = App(store, token)
    sha = store.active_sha()
    if sha is not None:
        app.holder.current = load_model(store, sha)
    try:
        httpd = _Server((host, port), app)
    except OSError as exc:
        raise AgentError(f"cannot listen on {host}:{port}: {exc.strerror}", "usage") from None
    reloader = Reloader(store, app.holder, app.metrics)
    reloader.start()
    bound_port = int(httpd.server_address[1])
    info = {
        "pid": os.getpid(),
        "host": host,
        "port": bound_port,
        "started_at": utc_now(),
        "token_required": bool(token),
        "watch": reloader.mode,
    }
    fsutil.write_json_atomic(store.home / SERVER_FILE, info)

    def _stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    active = app.holder.current.sha256 if app.holder.current else None
    if json_lines:
        sys.stdout.write(json.dumps({"event": "serving", **info, "active": active}) + "\n")
    else:
        sys.stdout.write(f"serving {active or 'no model yet'} on http://{host}:{bound_port}\n")
    sys.stdout.flush()
    try:
        httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        log("stopping")
    finally:
        reloader.stop()
        httpd.server_close()
        with contextlib.suppress(OSError):
            current = fsutil.read_json(store.home / SERVER_FILE, default={}) or {}
            if current.get("pid") == os.getpid():
                os.unlink(store.home / SERVER_FILE)
