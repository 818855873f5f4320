"""A local HTTP server standing in for the city's photo host (apply-access `photo` URLs), for the
photo fetch and end-to-end tests."""

from __future__ import annotations

import datetime as dt
import io
import ssl
import struct
import threading
import time
import zlib
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.photos import jpeg_bytes, photo, png_bytes, rotated_phone_jpeg


def huge_header_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A PNG whose header claims 2.5 gigapixels, a few dozen bytes on the wire."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


class PhotoServer:
    """A local HTTP server standing in for the city's photo host; counts the hits per path."""

    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        """``tls``: (certificate file, key file) to serve https instead of http."""
        self.scheme = "https" if tls else "http"
        self.hits: Counter[str] = Counter()
        self.routes = {
            "/ok.jpg": (200, "image/jpeg", jpeg_bytes(photo(640, 480))),
            "/ok.png": (200, "image/png", png_bytes(photo(300, 400))),
            "/rotated.jpg": (200, "image/jpeg", rotated_phone_jpeg(800, 600)),
            "/page.html": (200, "text/html", b"<html><body>not a photo</body></html>" * 10),
            "/truncated.jpg": (200, "image/jpeg", jpeg_bytes(photo(640, 480))[:2000]),
            "/gif.gif": (200, "image/gif", _gif()),
            "/bomb.png": (200, "image/png", huge_header_png()),
            "/error": (500, "text/plain", b"busy"),
            "/gone": (403, "text/plain", b"forbidden"),
        }
        self.big = 6 * 1024 * 1024
        # A slow peer: seconds between two bytes of /trickle-body (declared 100,000 bytes long) and of
        # the status line and headers of /trickle-headers.
        self.trickle_interval = 0.2
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                server.hits[self.path] += 1
                if self.path.startswith("/redirect-to?"):
                    self.send_response(302)
                    self.send_header("Location", self.path.split("?", 1)[1])
                    self.end_headers()
                    return
                if self.path in ("/trickle-body", "/trickle-headers"):
                    self.close_connection = True
                    head = (b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n"
                            b"Content-Length: 100000\r\n\r\n")
                    try:
                        if self.path == "/trickle-body":
                            self.wfile.write(head)
                            head = b"\xff" * 100000
                        for byte in head:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(server.trickle_interval)
                    except OSError:  # the fetcher gave up and closed the connection
                        pass
                    return
                if self.path in ("/big-undeclared", "/big-declared"):
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    if self.path == "/big-declared":
                        self.send_header("Content-Length", str(server.big))
                    self.end_headers()
                    block = b"\xff" * 65536
                    try:
                        for _ in range(server.big // len(block)):
                            self.wfile.write(block)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    self.close_connection = True
                    return
                status, content_type, body = server.routes.get(self.path, (404, "text/plain", b"no"))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _gif() -> bytes:
    out = io.BytesIO()
    photo(100, 100).save(out, format="GIF")
    return out.getvalue()


def self_signed_certificate(folder: Path, host: str = "localhost") -> tuple[str, str]:
    """A certificate for ``host`` (DNS name) signed by itself; returns (certificate file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "photo-host.pem", folder / "photo-host.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)
