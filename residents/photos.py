"""Fetching the face photo the city names by URL: SSRF-safe download and image re-encoding.

The URL comes from outside, so it is treated like any user-given URL (OWASP SSRF): http/https only;
the host is resolved once and every address checked (loopback, private, link-local, multicast,
reserved, unspecified, and the IPv4 addresses inside IPv4-mapped, 6to4, Teredo and NAT64 forms, are
refused unless the operator allowed the network, and the port, in PHOTO_FETCH_ALLOWED_NETWORKS); we
then connect to the checked address itself, so a second DNS answer cannot swap it; every redirect hop
is checked the same way; the body is streamed with a byte cap. One wall-clock deadline
(PHOTO_FETCH_TOTAL_TIMEOUT) bounds the whole fetch, every hop's connect, TLS handshake, headers and
body: a read timeout alone restarts with every byte, so a peer trickling one byte at a time would
hold a worker for as long as it likes. The bytes must be a real JPEG or PNG within a pixel budget, decoded
by the portal's one rule (afxq_portal.images, as device images are: EXIF orientation applied, transparency on
white); what we keep is a fresh JPEG, all metadata dropped. Excel .zip photos go through the same re-encoding.
"""

from __future__ import annotations

import io
import ipaddress
import math
import socket
import threading
import time
from collections.abc import Iterable
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3
from django.conf import settings
from urllib3.connection import HTTPConnection, HTTPSConnection

from afxq_portal.images import UnusableImage, decode_upright
from afxq_portal.netlist import AllowedNetwork, parse_entry
from afxq_portal.text import ascii_digits

MAX_REDIRECTS = 3
# Small reads, so that the deadline is checked often (a 64 KiB read can take 64 Ki slow bytes).
READ_SIZE = 1024
MAX_SIDE = 1600  # what we keep: enough for a face, far less than a phone's 12 MP
MIN_SIDE = 32
JPEG_QUALITY = 88
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Worth retrying later: the city's file server is busy or the photo is not there yet.
_TEMPORARY_STATUSES = frozenset({404, 408, 425, 429, 500, 502, 503, 504})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class PhotoError(Exception):
    """Base class; the message says why, in English, without personal data (it is logged and kept)."""


class PhotoRefused(PhotoError):
    """Permanent: retrying will not help (forbidden address, not an image, too large...)."""


class PhotoTemporaryError(PhotoError):
    """Transient: network error, timeout, a 5xx. Retried with backoff."""


def allowed_networks() -> list[AllowedNetwork]:
    # The settings hold parsed entries; strings come from override_settings in tests and shells.
    return [entry if isinstance(entry, AllowedNetwork) else parse_entry(entry)
            for entry in settings.PHOTO_FETCH_ALLOWED_NETWORKS if isinstance(entry, AllowedNetwork) or entry.strip()]


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _wrapped(address: IPAddress) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address carries and reaches through a relay or translator, which
    ipaddress judges by the IPv6 prefix alone (it calls 2002:7f00:1:: global: 6to4 of 127.0.0.1)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    if address.sixtofour is not None:  # 2002::/16: bits 16-47
        return [("6to4", address.sixtofour)]
    if address.teredo is not None:  # 2001::/32: the server, and the client XOR 0xffffffff in the last 32 bits
        server, client = address.teredo
        return [("Teredo client", client), ("Teredo server", server)]
    if address in _NAT64:
        return [("NAT64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))]
    return []


def _special(address: IPAddress) -> str | None:
    # Most specific first: 169.254/16 and 0.0.0.0 are also "private" to the ipaddress module.
    for flag in ("is_loopback", "is_link_local", "is_unspecified", "is_multicast", "is_reserved", "is_private"):
        if getattr(address, flag):
            return flag[3:].replace("_", "-")
    if not address.is_global:
        return "not a public address"
    return None


def address_problem(address: IPAddress, allowed: Iterable[AllowedNetwork] = (), port: int | None = None) -> str | None:
    """Why we refuse to connect to ``address`` on ``port``, or None. An allowed network admits its own
    addresses (on its ports); an address that wraps another (6to4, Teredo, NAT64) is judged by both."""
    address = _unmapped(address)
    allowed = list(allowed)
    if any(entry.allows(address, port) for entry in allowed):
        return None
    for kind, inner in _wrapped(address):
        why = _special(inner)
        if why and not any(entry.allows(inner, port) for entry in allowed):
            return f"address {address} is {kind} for {inner}, which is {why}"
    why = _special(address)
    if why is None:
        return None
    problem = f"address {address} is {why}"
    ports_only = [str(entry) for entry in allowed if address in entry.network]
    if ports_only:
        problem += f" and port {port} is not allowed (PHOTO_FETCH_ALLOWED_NETWORKS: {'; '.join(ports_only)})"
    return problem


def resolve_checked(host: str, port: int) -> list[IPAddress]:
    """Resolve ``host`` once and return the addresses to connect to, in DNS order; refuse if ANY
    answer is forbidden (a name answering both a public and a private address is an attack, not a
    fallback)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise PhotoTemporaryError(f"cannot resolve {host}: {exc}") from exc
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos))
    if not addresses:
        raise PhotoTemporaryError(f"{host} has no address")
    allowed = allowed_networks()
    for address in addresses:
        problem = address_problem(address, allowed, port)
        if problem:
            raise PhotoRefused(f"{host}: {problem}")
    return addresses


class _Watchdog:
    """Shuts down the sockets of one fetch at its deadline. Reads between which we check the clock
    cannot bound what happens inside one blocking call (a status line or a TLS handshake sent a byte at
    a time), so a timer cuts the socket under it; the blocked call then fails at once."""

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._connections: list[HTTPConnection] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()

    def watch(self, connection: HTTPConnection) -> None:
        with self._lock:
            self._connections.append(connection)
            if self.fired:
                _shut(connection)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for connection in self._connections:
                _shut(connection)


def _shut(connection: HTTPConnection) -> None:
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # already closed
            pass


class _WatchedConnectionMixin:
    """Hands each new socket to the fetch's watchdog, which shuts it down at the deadline."""

    sock: socket.socket | None

    def __init__(self, *args: object, watchdog: _Watchdog, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._watchdog = watchdog

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]
        # Set before the TLS handshake too (HTTPSConnection.connect assigns it first), so the
        # watchdog can cut a handshake that trickles.
        self.sock = sock
        self._watchdog.watch(self)
        return sock


class _WatchedHTTPConnection(_WatchedConnectionMixin, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedConnectionMixin, HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise PhotoTemporaryError(_too_long())
    return remaining


def _too_long() -> str:
    return f"photo fetch took longer than PHOTO_FETCH_TOTAL_TIMEOUT ({settings.PHOTO_FETCH_TOTAL_TIMEOUT:g} s)"


def _open(url: str, deadline: float, watchdog: _Watchdog) -> urllib3.BaseHTTPResponse:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise PhotoRefused(f"scheme {scheme or '(none)'} is not http or https")
    try:
        host, port = parts.hostname, parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise PhotoRefused(f"bad URL: {exc}") from exc
    if not host or parts.username or parts.password:
        raise PhotoRefused("URL without a host, or with credentials")
    host_header = f"[{host}]" if ":" in host else host
    if parts.port:
        host_header += f":{parts.port}"
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    error: Exception | None = None
    # Each checked address in turn (an IPv6 answer on a host without IPv6 must not lose the photo).
    for address in resolve_checked(host, port):
        try:
            return _get(scheme, host, host_header, address, port, path, deadline, watchdog)
        except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as exc:
            error = exc
    raise PhotoTemporaryError(f"{host}: cannot connect ({type(error).__name__})") from error


def _get(scheme: str, host: str, host_header: str, address: IPAddress, port: int, path: str,
         deadline: float, watchdog: _Watchdog) -> urllib3.BaseHTTPResponse:
    remaining = _remaining(deadline)
    timeout = urllib3.Timeout(connect=min(settings.PHOTO_FETCH_CONNECT_TIMEOUT, remaining),
                              read=min(settings.PHOTO_FETCH_READ_TIMEOUT, remaining))
    # Connect to the address we checked, naming the host in the Host header and for TLS (SNI and
    # certificate check), so DNS cannot change between the check and the connection.
    if scheme == "https":
        pool = _HTTPSPool(str(address), port, timeout=timeout, retries=False, maxsize=1,
                          server_hostname=host, assert_hostname=host, cert_reqs="CERT_REQUIRED",
                          ca_certs=settings.PHOTO_FETCH_CA_BUNDLE or certifi.where(), watchdog=watchdog)
    else:
        pool = _HTTPPool(str(address), port, timeout=timeout, retries=False, maxsize=1, watchdog=watchdog)
    try:
        return pool.urlopen("GET", path, headers={"Host": host_header, "Accept": "image/jpeg, image/png",
                                                  "User-Agent": "afxq-portal photo fetcher"},
                            redirect=False, retries=False, preload_content=False, assert_same_host=False)
    except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError):
        raise  # the caller tries the next address
    except urllib3.exceptions.SSLError as exc:
        # A certificate that does not verify, or does not name the host: not fixed by retrying soon.
        raise PhotoRefused(f"{host}: TLS verification failed") from exc
    except urllib3.exceptions.HTTPError as exc:
        raise PhotoTemporaryError(f"{host}: {type(exc).__name__}") from exc


def download(url: str) -> bytes:
    """The body at ``url``, following at most MAX_REDIRECTS redirects, each hop checked again, all
    of it within PHOTO_FETCH_TOTAL_TIMEOUT of wall-clock time."""
    total = settings.PHOTO_FETCH_TOTAL_TIMEOUT
    deadline = time.monotonic() + total
    with _Watchdog(total) as watchdog:
        try:
            return _download(url, deadline, watchdog)
        except PhotoError as exc:
            # Whatever the cut socket made the blocked call raise (a TLS error, a protocol error), the
            # reason is the deadline.
            if watchdog.fired or time.monotonic() >= deadline:
                raise PhotoTemporaryError(_too_long()) from exc
            raise


def _download(url: str, deadline: float, watchdog: _Watchdog) -> bytes:
    limit = settings.PHOTO_FETCH_MAX_BYTES
    for _hop in range(MAX_REDIRECTS + 1):
        response = _open(url, deadline, watchdog)
        try:
            if response.status in _REDIRECTS:
                location = response.headers.get("Location")
                if not location:
                    raise PhotoRefused(f"redirect {response.status} without a Location")
                url = urljoin(url, location)
                continue
            if response.status != 200:
                error = PhotoTemporaryError if response.status in _TEMPORARY_STATUSES else PhotoRefused
                raise error(f"HTTP {response.status}")
            declared = response.headers.get("Content-Length")
            if declared and ascii_digits(declared) and int(declared) > limit:
                raise PhotoRefused(f"photo is {declared} bytes, more than {limit}")
            return _read_capped(response, limit, deadline)
        finally:
            response.release_conn()
            response.close()
    raise PhotoRefused(f"more than {MAX_REDIRECTS} redirects")


def _read_capped(response: urllib3.BaseHTTPResponse, limit: int, deadline: float) -> bytes:
    # The cap holds while streaming: a server that lies about (or omits) Content-Length is cut off
    # after `limit` bytes, never buffered whole. read1 returns what one socket read gave (read() would
    # wait for all READ_SIZE bytes), and the socket may wait no longer than the deadline allows.
    chunks, size = [], 0
    sock = getattr(response.connection, "sock", None)
    try:
        while True:
            remaining = _remaining(deadline)
            if sock is not None:
                sock.settimeout(min(settings.PHOTO_FETCH_READ_TIMEOUT, remaining))
            chunk = response.read1(READ_SIZE, decode_content=False)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise PhotoRefused(f"photo is more than {limit} bytes")
            chunks.append(chunk)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise PhotoTemporaryError(f"download failed: {type(exc).__name__}") from exc
    _remaining(deadline)
    return b"".join(chunks)


def reencode(data: bytes) -> bytes:
    """A clean JPEG of the photo in ``data`` (a JPEG or PNG), or PhotoRefused."""

    def big_enough(width: int, height: int) -> None:
        if min(width, height) < MIN_SIDE:
            raise PhotoRefused(f"photo is only {width}x{height} pixels")

    def draft(width: int, height: int) -> tuple[int, int] | None:
        # Decode a phone's 12 MP JPEG at 1/2 or 1/4 scale when the result still covers MAX_SIDE: several
        # times less work than a full decode that thumbnail() would throw away.
        ratio = MAX_SIDE / max(width, height)
        return (math.ceil(width * ratio), math.ceil(height * ratio)) if ratio < 1 else None

    try:
        image = decode_upright(data, max_pixels=settings.PHOTO_FETCH_MAX_PIXELS, check=big_enough, draft=draft)
    except UnusableImage as exc:
        raise PhotoRefused(exc.in_english()) from exc
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    # No exif=, no icc_profile=: the saved JPEG carries no metadata (camera, GPS, time). Pillow would copy the
    # source's COM segment (image.info["comment"]) unless given an empty one.
    image.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True, comment=b"")
    return out.getvalue()


def fetch_photo(url: str) -> bytes:
    """Download and re-encode the photo at ``url``."""
    return reencode(download(url))
