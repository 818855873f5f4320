"""What the sandbox servers share: their threaded server and loopback URL, the serving loop, the control client.

Part of the sandbox: it imports none of the portal's code.
"""

from __future__ import annotations

import io
import json
import socket
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def make_threaded_server(host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer,
                                                                                              str]:
    """The server and the URL that names it. Listening on every address, it is named by loopback (the portal
    runs on this machine)."""
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    bound_host, bound_port = server.server_address[:2]
    return server, f"http://{'127.0.0.1' if bound_host in ('0.0.0.0', '') else bound_host}:{bound_port}"


def drop_connection(handler: BaseHTTPRequestHandler) -> None:
    """Close the connection with no answer at all (a peer off the network); what the handler writes after is
    discarded."""
    try:
        handler.connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    handler.close_connection = True
    handler.wfile = io.BytesIO()


def serve(server: ThreadingHTTPServer, label: str) -> None:
    """Print the line callers wait for (and read the port from; keep its wording), then serve until Ctrl-C."""
    host, port = server.server_address[:2]
    print(f"{label} listening on http://{host}:{port}/", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


class ControlClient:
    """A sandbox's JSON control API from Python (tests, scripts)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _call(self, method: str, path: str, payload: dict | None = None) -> dict:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())
