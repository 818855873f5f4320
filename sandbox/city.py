"""A stand-in for the city platform (interfaces 2-5 of the contract), for `make run`, the drills and the tests:
``python -m sandbox.city --port 8090 [--token-lifetime 3600] [--credentials cid:secret:user:password ...]``.

A small threaded HTTP server that keeps its state in memory, with no Django. It checks credentials, tokens
(with a configurable lifetime), field names, formats, batch sizes and image limits exactly as the contract says,
stores what it accepts and shows it on a page at ``/``. Faults are injected on demand. It plays the other party:
its checks are written from the manual on their own (its tables are not uploads.contract's), so that it catches
our mistakes rather than sharing them.

Control API (JSON), used by the tests over HTTP:

- ``GET /_sandbox/records?endpoint=person-inout-info`` what was stored (images as their size/dimensions)
- ``GET /_sandbox/batches``, ``GET /_sandbox/stats``, ``GET /_sandbox/callbacks``, ``GET /_sandbox/webhooks``
- ``POST /_sandbox/faults`` ``{"faults": {"_500": 0.2}}``: modes are ``expired_200`` / ``expired_401`` (the
  token is revoked and `_401` answered in an HTTP 200 / 401), ``_500``, ``502``, ``503``, ``slow`` (store, then
  wait ``slow_seconds`` before answering), ``drop`` (close the connection without storing) and ``drop_after``
  (store, then close the connection: the portal never hears the answer), ``hang`` (wait ``slow_seconds``, store
  nothing, close); ``"communities": ["CITY-X"]`` limits the faults to batches of those communities
- ``POST /_sandbox/config`` ``{"token_lifetime": 3, "slow_seconds": 2, "credentials": ["cid:secret:user:pw"]}``
- ``POST /_sandbox/reset`` forget records, batches, tokens and faults
- ``POST /_sandbox/push-apply-access`` ``{"url": "http://portal/apply-access", "payload": {...}}`` pushes an
  apply-access call to a portal, as the city does after a QR registration
- ``POST /_sandbox/callback`` and ``POST /_sandbox/webhook`` record what the portal posts (registration
  callbacks, link alerts)
"""

from __future__ import annotations

import argparse
import base64
import binascii
import html
import io
import json
import os
import random
import re
import secrets
import socket
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from PIL import Image

# The 场所侧 credentials accepted when --credentials is not given: the demo community's (seed_demo).
DEFAULT_CREDENTIALS = "demo-client:demo-secret:demo-site:demo-password"

ENDPOINTS = ("person-inout-info", "image/people", "image/car")
FAULT_MODES = ("expired_200", "expired_401", "_500", "502", "503", "slow", "drop", "drop_after", "hang")
PASS_TYPES = {"USER", "PROPERTY_STAFF", "THE_WAITER", "VISITOR"}
PLATE_TYPES = {f"{n:02d}" for n in range(1, 28)} | {"51", "52"}
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
MAX_BATCH = 50
MAX_BODY = 64 * 2**20
# (min width, min height, max bytes) per endpoint's images.
IMAGE_LIMITS = {"person-inout-info": (800, 600, 100 * 1024), "image/people": (1200, 800, 200 * 1024),
                "image/car": (1200, 800, 200 * 1024)}


class State:
    def __init__(self, credentials: list[str], token_lifetime: float) -> None:
        self.lock = threading.Lock()
        self.credentials = set(credentials)
        self.token_lifetime = token_lifetime
        self.slow_seconds = 2.0
        self.reset()

    def reset(self) -> None:
        self.tokens: dict[str, float] = {}
        self.records: list[dict] = []
        self.batches: list[dict] = []
        self.callbacks: list[dict] = []
        self.webhooks: list[dict] = []
        self.faults: dict[str, float] = {}
        self.fault_communities: set[str] = set()
        self.logins = 0
        self.login_failures = 0
        self.rejected = 0
        self.unauthorized_answers = 0


# --- checks ---------------------------------------------------------------------------------------

def check_date(value: object) -> str | None:
    if not isinstance(value, str) or not DATE_RE.match(value):
        return "must be yyyy-MM-dd HH:mm:ss"
    try:
        datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return "not a real date and time"
    return None


def check_image(value: object, endpoint: str) -> tuple[str | None, dict]:
    if not isinstance(value, str) or not value:
        return "required, a base64 JPEG", {}
    if value.startswith("data:"):
        return "must be plain base64, without a data: prefix", {}
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return "not valid base64", {}
    min_w, min_h, max_bytes = IMAGE_LIMITS[endpoint]
    if len(data) > max_bytes:
        return f"{len(data)} bytes, over the {max_bytes // 1024} KB limit", {}
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as image:
            width, height = image.size
    except Exception:
        return "not a JPEG image", {}
    if width < min_w or height < min_h:
        return f"{width}x{height}, below {min_w}x{min_h}", {}
    return None, {"bytes": len(data), "size": [width, height]}


def _required(record: dict, name: str) -> str | None:
    value = record.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return "required"
    return None


def check_record(endpoint: str, record: object) -> tuple[list[str], dict]:
    """Errors as "field: reason", and the record as stored (images replaced by their size)."""
    if not isinstance(record, dict):
        return ["record: must be a JSON object"], {}
    errors: list[str] = []
    stored = {k: v for k, v in record.items()}
    image_fields = ("imageBase64", "bigImageBase64") if endpoint == "person-inout-info" else (
        "photoBase1", "photoBase2", "photoBase3")
    required_images = image_fields if endpoint == "person-inout-info" else ("photoBase1",)
    for name in image_fields:
        if name not in record and name not in required_images:
            continue
        error, info = check_image(record.get(name), endpoint)
        if error:
            errors.append(f"{name}: {error}")
        stored[name] = info
    for name in ("communityId", "policePointId"):
        if _required(record, name):
            errors.append(f"{name}: required")
    if endpoint == "person-inout-info":
        for name in ("userId",):
            if _required(record, name):
                errors.append(f"{name}: required")
        if record.get("way") != "FACE":
            errors.append("way: must be FACE")
        if record.get("source") != "THIRDPARTY_CLIENT":
            errors.append("source: must be THIRDPARTY_CLIENT")
        if record.get("type") not in PASS_TYPES:
            errors.append(f"type: must be one of {sorted(PASS_TYPES)}")
        if record.get("inout") not in ("in", "out"):
            errors.append("inout: must be in or out")
        if (error := check_date(record.get("openDate"))):
            errors.append(f"openDate: {error}")
    else:
        if (error := check_date(record.get("passDate"))):
            errors.append(f"passDate: {error}")
        if str(record.get("passType")) not in ("0", "1"):
            errors.append("passType: must be 0 (in) or 1 (out)")
    if endpoint == "image/car":
        if _required(record, "licensePlate"):
            errors.append("licensePlate: required")
        plate_type = record.get("licensePlateType")
        code = f"{plate_type:02d}" if isinstance(plate_type, int) else str(plate_type)
        if code not in PLATE_TYPES:
            errors.append("licensePlateType: not in the code table (附录1)")
    return errors, stored


# --- the server -----------------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "afxq-sandbox-city/1"
    state: State  # set on the subclass made by make_server

    def log_message(self, format: str, *args) -> None:
        pass

    # plumbing
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: object, content_type: str = "application/json; charset=utf-8") -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _envelope(self, code: str, error: str | None = None, status: int = 200) -> None:
        self._send(status, {"timestamp": int(time.time() * 1000), "data": None, "responseCode": code,
                            "errorMsg": error})

    def _drop(self) -> None:
        """Close the connection with no answer at all."""
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close_connection = True
        self.wfile = io.BytesIO()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        state = self.state
        with state.lock:
            if url.path == "/_sandbox/records":
                records = [r for r in state.records
                           if r["endpoint"] == query.get("endpoint", r["endpoint"])
                           and r["fields"].get("communityId") == query.get("communityId", r["fields"].get("communityId"))]
                return self._send(200, {"records": records})
            if url.path == "/_sandbox/batches":
                return self._send(200, {"batches": state.batches})
            if url.path == "/_sandbox/callbacks":
                return self._send(200, {"callbacks": state.callbacks})
            if url.path == "/_sandbox/webhooks":
                return self._send(200, {"webhooks": state.webhooks})
            if url.path == "/_sandbox/stats":
                return self._send(200, self._stats())
            if url.path == "/":
                return self._send(200, self._page().encode(), "text/html; charset=utf-8")
        self._send(404, {"error": "not found"})

    def _stats(self) -> dict:
        state = self.state
        counts: dict[str, int] = {}
        for record in state.records:
            counts[record["endpoint"]] = counts.get(record["endpoint"], 0) + 1
        return {"records": counts, "batches": len(state.batches), "logins": state.logins,
                "login_failures": state.login_failures, "rejected": state.rejected,
                "unauthorized_answers": state.unauthorized_answers, "faults": state.faults,
                "token_lifetime": state.token_lifetime, "callbacks": len(state.callbacks),
                "webhooks": len(state.webhooks)}

    def _page(self) -> str:
        stats = self._stats()
        rows = "".join(
            f"<tr><td>{html.escape(r['endpoint'])}</td><td>{html.escape(r['received_at'])}</td>"
            f"<td>{html.escape(json.dumps({k: v for k, v in r['fields'].items()}, ensure_ascii=False))}</td></tr>"
            for r in reversed(self.state.records[-30:]))
        return (
            "<!doctype html><meta charset=utf-8><title>Sandbox city platform</title>"
            "<style>body{font-family:sans-serif;margin:2em}td{border-top:1px solid #ccc;padding:4px;"
            "font-size:12px;vertical-align:top}</style>"
            "<h1>Sandbox city platform (沙箱市级平台)</h1>"
            f"<p>Records stored: {html.escape(json.dumps(stats['records'], ensure_ascii=False))} — "
            f"batches: {stats['batches']} — logins: {stats['logins']} (refused: {stats['login_failures']}) — "
            f"rejected batches: {stats['rejected']} — token lifetime: {stats['token_lifetime']} s — "
            f"faults: {html.escape(json.dumps(stats['faults']))}</p>"
            f"<h2>Latest records</h2><table><tr><th>endpoint</th><th>received</th><th>fields</th></tr>{rows}</table>")

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        try:
            body = self._body()
        except ValueError:
            return self._send(413, {"error": "body too large"})
        if url.path == "/oauth/token":
            return self._token(body)
        if url.path.startswith("/api/platform/"):
            return self._upload(url.path.removeprefix("/api/platform/"), body)
        if url.path.startswith("/_sandbox/"):
            return self._control(url.path.removeprefix("/_sandbox/"), body)
        self._send(404, {"error": "not found"})

    # interface 2
    def _token(self, body: bytes) -> None:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        key = ":".join(form.get(k, "") for k in ("client_id", "client_secret", "username", "password"))
        state = self.state
        with state.lock:
            if form.get("grant_type") != "password" or key not in state.credentials:
                state.login_failures += 1
                return self._send(400, {"error": "invalid_grant", "error_description": "Bad credentials"})
            state.logins += 1
            token = secrets.token_hex(16)
            state.tokens[token] = time.monotonic() + state.token_lifetime
            lifetime = state.token_lifetime
        self._send(200, {"access_token": token, "token_type": "bearer", "expires_in": int(max(1, lifetime)),
                         "scope": "read write"})

    def _unauthorized(self, http_401: bool) -> None:
        with self.state.lock:
            self.state.unauthorized_answers += 1
        self._envelope("_401", "invalid_token", status=401 if http_401 else 200)

    def _faulty_community(self, body: bytes) -> bool:
        """Faults hit every community, or only those listed in fault_communities (by the batch's communityId)."""
        if not self.state.fault_communities:
            return True
        match = re.search(rb'"communityId"\s*:\s*"([^"]*)"', body)
        return bool(match) and match.group(1).decode("utf-8", "replace") in self.state.fault_communities

    def _fault(self) -> str | None:
        for mode, rate in self.state.faults.items():
            if random.random() < rate:
                return mode
        return None

    # interfaces 3-5
    def _upload(self, endpoint: str, body: bytes) -> None:
        state = self.state
        if endpoint not in ENDPOINTS:
            return self._send(404, {"error": "not found"})
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        with state.lock:
            expires = state.tokens.get(token)
            valid = expires is not None and expires > time.monotonic()
            fault = self._fault() if self._faulty_community(body) else None
            if fault in ("expired_200", "expired_401"):
                state.tokens.pop(token, None)
        if fault == "hang":
            time.sleep(state.slow_seconds)
            return self._drop()
        if not valid:
            # Both styles happen at the city: alternate so that the portal meets both.
            return self._unauthorized(http_401=state.unauthorized_answers % 2 == 1)
        if fault in ("expired_200", "expired_401"):
            return self._unauthorized(http_401=fault == "expired_401")
        if fault == "drop":
            return self._drop()
        if fault in ("502", "503"):
            return self._send(int(fault), b"<html>Bad Gateway</html>", "text/html")
        if fault == "_500":
            return self._envelope("_500", "sandbox: injected failure")
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            return self._envelope("_500", "Content-Type must be application/json")
        try:
            records = json.loads(body)
        except ValueError:
            return self._envelope("_500", "body is not JSON")
        if not isinstance(records, list) or not records:
            return self._envelope("_500", "body must be a non-empty JSON array")
        if len(records) > MAX_BATCH:
            return self._envelope("_500", f"at most {MAX_BATCH} records per request, got {len(records)}")
        errors, stored = [], []
        for index, record in enumerate(records):
            record_errors, kept = check_record(endpoint, record)
            errors += [f"record {index}: {e}" for e in record_errors]
            stored.append(kept)
        if errors:
            with state.lock:
                state.rejected += 1
            return self._envelope("_500", "; ".join(errors[:10]))
        now = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        with state.lock:
            batch_id = len(state.batches) + 1
            state.batches.append({"id": batch_id, "endpoint": endpoint, "count": len(stored), "bytes": len(body),
                                  "answer_lost": fault in ("slow", "drop_after"), "fault": fault})
            state.records += [{"endpoint": endpoint, "batch": batch_id, "received_at": now, "fields": f}
                              for f in stored]
        if fault == "drop_after":
            return self._drop()
        if fault == "slow":
            time.sleep(state.slow_seconds)
        self._envelope("_200")

    # control API
    def _control(self, action: str, body: bytes) -> None:
        state = self.state
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return self._send(400, {"error": "body is not JSON"})
        with state.lock:
            if action == "faults":
                faults = {str(k): float(v) for k, v in (data.get("faults") or {}).items()}
                unknown = set(faults) - set(FAULT_MODES)
                if unknown:
                    return self._send(400, {"error": f"unknown fault modes {sorted(unknown)}", "modes": FAULT_MODES})
                state.faults = faults
                state.fault_communities = set(data.get("communities") or [])
                return self._send(200, {"faults": state.faults, "communities": sorted(state.fault_communities)})
            if action == "config":
                if "token_lifetime" in data:
                    state.token_lifetime = float(data["token_lifetime"])
                if "slow_seconds" in data:
                    state.slow_seconds = float(data["slow_seconds"])
                if "credentials" in data:
                    state.credentials = set(data["credentials"])
                if data.get("revoke_tokens"):
                    state.tokens.clear()
                return self._send(200, {"token_lifetime": state.token_lifetime, "credentials": len(state.credentials)})
            if action == "reset":
                state.reset()
                return self._send(200, {"reset": True})
            if action == "callback":
                state.callbacks.append(data)
                return self._send(200, {"code": 1})
            if action == "webhook":
                state.webhooks.append(data)
                return self._send(200, {"ok": True})
        if action == "push-apply-access":
            return self._push(data)
        self._send(404, {"error": "not found"})

    def _push(self, data: dict) -> None:
        """Play the city: POST an apply-access body to a portal and report its answer."""
        url, payload = data.get("url"), data.get("payload")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")) or not isinstance(payload, dict):
            return self._send(400, {"error": "url (http/https) and payload (object) are required"})
        request = urllib.request.Request(url, data=json.dumps(payload, ensure_ascii=False).encode(), method="POST",
                                         headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, text = response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode("utf-8", "replace")
        except OSError as exc:
            return self._send(502, {"error": f"could not reach the portal: {exc}"})
        self._send(200, {"status": status, "body": text})


def make_server(host: str, port: int, credentials: list[str], token_lifetime: float) -> ThreadingHTTPServer:
    state = State(credentials, token_lifetime)
    handler = type("SandboxHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


class SandboxClient:
    """The control API from Python (tests, scripts)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _call(self, method: str, path: str, payload: dict | None = None) -> dict:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def records(self, endpoint: str | None = None) -> list[dict]:
        return self._call("GET", "/_sandbox/records" + (f"?endpoint={endpoint}" if endpoint else ""))["records"]

    def batches(self) -> list[dict]:
        return self._call("GET", "/_sandbox/batches")["batches"]

    def stats(self) -> dict:
        return self._call("GET", "/_sandbox/stats")

    def callbacks(self) -> list[dict]:
        return self._call("GET", "/_sandbox/callbacks")["callbacks"]

    def webhooks(self) -> list[dict]:
        return self._call("GET", "/_sandbox/webhooks")["webhooks"]

    def set_faults(self, faults: dict[str, float] | None = None, communities: list[str] | None = None) -> dict:
        """{"503": 0.2, "_500": 0.2, ...}; None or {} clears them. ``communities``: only their batches."""
        return self._call("POST", "/_sandbox/faults", {"faults": faults or {}, "communities": communities or []})

    def configure(self, **config: object) -> dict:
        return self._call("POST", "/_sandbox/config", config)

    def reset(self) -> dict:
        return self._call("POST", "/_sandbox/reset", {})

    def push_apply_access(self, url: str, payload: dict) -> dict:
        return self._call("POST", "/_sandbox/push-apply-access", {"url": url, "payload": payload})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.city", description=(
        "Run a stand-in for the city platform (interfaces 2-5) with fault injection, for development and tests."))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090, help="0 picks a free port (printed on start)")
    parser.add_argument("--token-lifetime", type=float, default=3600.0, help="seconds a token is valid")
    parser.add_argument("--credentials", action="append", default=None,
                        help="client_id:client_secret:username:password accepted by /oauth/token (repeatable; "
                             "default: SANDBOX_CITY_CREDENTIALS, a comma list, else the demo community's)")
    options = parser.parse_args(argv)
    credentials = options.credentials or [
        c.strip() for c in os.environ.get("SANDBOX_CITY_CREDENTIALS", DEFAULT_CREDENTIALS).split(",") if c.strip()]
    server = make_server(options.host, options.port, credentials, options.token_lifetime)
    host, port = server.server_address[:2]
    # Callers wait for this line (and read the port from it): keep its wording.
    print(f"sandbox city listening on http://{host}:{port}/", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
