"""The photo fetch: SSRF refusals (loopback, private, link-local, redirect to private, file:,
oversized, not an image), an allowed network accepted, the re-encoded JPEG (EXIF applied, metadata
gone), and the real worker path: retries with backoff, then the person marked."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings
from PIL import Image

from afxq_portal.netlist import parse_allowed_networks, parse_entry
from residents import photos
from residents.models import Resident
from tests.factories import make_id_card
from tests.photo_server import PhotoServer, self_signed_certificate
from tests.photos import jpeg_bytes, photo
from tests.processes import start_worker

LOCAL = ["127.0.0.1/32"]


@pytest.fixture
def server() -> Iterator[PhotoServer]:
    srv = PhotoServer()
    try:
        yield srv
    finally:
        srv.close()


def refused(url: str) -> str:
    with pytest.raises(photos.PhotoRefused) as info:
        photos.fetch_photo(url)
    return str(info.value)


# --- refusals -----------------------------------------------------------------------------------

@override_settings(PHOTO_FETCH_ALLOWED_NETWORKS=[])
def test_it_refuses_loopback_unless_allowed(server: PhotoServer) -> None:
    assert "loopback" in refused(server.url("/ok.jpg"))
    assert "loopback" in refused(server.url("/ok.jpg", host="localhost"))
    assert "loopback" in refused(server.url("/ok.jpg", host="[::1]"))
    assert "loopback" in refused(server.url("/ok.jpg", host="[::ffff:127.0.0.1]"))
    assert "loopback" in refused(server.url("/ok.jpg", host="127.1.2.3"))
    assert server.hits["/ok.jpg"] == 0  # refused before connecting


@pytest.mark.parametrize("url", [
    "http://10.0.0.1/p.jpg", "http://172.16.5.4/p.jpg", "http://192.168.1.10:8080/p.jpg",
    "http://[fd00::1]/p.jpg", "http://[::ffff:192.168.0.1]/p.jpg",
])
def test_it_refuses_private_addresses(url: str) -> None:
    assert "private" in refused(url)


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/p.jpg"])
def test_it_refuses_link_local_addresses(url: str) -> None:
    assert "link-local" in refused(url)


@pytest.mark.parametrize(("url", "why"), [
    ("http://0.0.0.0/p.jpg", "unspecified"), ("http://224.0.0.1/p.jpg", "multicast"),
    ("http://240.0.0.1/p.jpg", "reserved"), ("http://100.64.0.1/p.jpg", "not a public address"),
])
def test_it_refuses_other_special_addresses(url: str, why: str) -> None:
    assert why in refused(url)


@pytest.mark.parametrize(("url", "why"), [
    ("http://[2002:7f00:1::1]/p.jpg", "6to4 for 127.0.0.1, which is loopback"),
    ("http://[2002:a9fe:a9fe::1]/latest/meta-data/", "6to4 for 169.254.169.254, which is link-local"),
    ("http://[2002:c0a8:0101::1]/p.jpg", "6to4 for 192.168.1.1, which is private"),
    # Teredo: the client is the last 32 bits XOR 0xffffffff (80ff:fffe -> 127.0.0.1).
    ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/p.jpg", "Teredo client for 127.0.0.1, which is loopback"),
    ("http://[64:ff9b::a9fe:a9fe]/p.jpg", "NAT64 for 169.254.169.254, which is link-local"),
])
def test_it_refuses_ipv6_forms_that_wrap_a_forbidden_ipv4_address(url: str, why: str) -> None:
    assert why in refused(url)


def test_it_judges_6to4_of_a_public_address_by_that_address() -> None:
    public = photos.ipaddress.ip_address("2002:5db8:d822::1")  # 6to4 of 93.184.216.34
    assert photos.address_problem(public) is None


@override_settings(PHOTO_FETCH_ALLOWED_NETWORKS=["127.0.0.1/32:1|2"])
def test_it_refuses_a_port_the_allowed_network_does_not_name(server: PhotoServer) -> None:
    # With 127.0.0.1/32 allowed on every port the fetcher reached Redis; an entry with ports allows those only.
    message = refused(server.url("/ok.jpg"))
    assert f"address 127.0.0.1 is loopback and port {server.port} is not allowed" in message
    assert "127.0.0.1/32 (ports 1, 2)" in message
    assert server.hits["/ok.jpg"] == 0
    with override_settings(PHOTO_FETCH_ALLOWED_NETWORKS=[f"127.0.0.1/32:{server.port}"]):
        assert Image.open(io.BytesIO(photos.fetch_photo(server.url("/ok.jpg")))).size == (640, 480)
    with override_settings(PHOTO_FETCH_ALLOWED_NETWORKS=[f"127.0.0.0/8:{server.port - 1}-{server.port + 1}"]):
        photos.fetch_photo(server.url("/ok.jpg"))


def test_it_refuses_a_redirect_to_another_port_of_an_allowed_network(server: PhotoServer) -> None:
    with override_settings(PHOTO_FETCH_ALLOWED_NETWORKS=[f"127.0.0.1/32:{server.port}"]):
        assert "port 6379 is not allowed" in refused(server.url("/redirect-to?http://127.0.0.1:6379/"))


@pytest.mark.parametrize(("entry", "network", "ports"), [
    ("127.0.0.1/32", "127.0.0.1/32", None),
    ("10.1.0.0/16:80|443", "10.1.0.0/16", {80, 443}),
    ("10.1.2.3:8000-8002", "10.1.2.3/32", {8000, 8001, 8002}),
    ("::1/128", "::1/128", None),
    ("[::1]/128:8080|8443", "::1/128", {8080, 8443}),
    ("[fd00::1]:8080", "fd00::1/128", {8080}),
])
def test_it_parses_allowed_network_entries(entry: str, network: str, ports: set[int] | None) -> None:
    parsed = parse_entry(entry)
    assert str(parsed.network) == network
    assert parsed.ports == (None if ports is None else frozenset(ports))


@pytest.mark.parametrize(("entry", "why"), [
    ("127.0.0.1/33", "is not a network"), ("localhost", "is not a network"),
    ("127.0.0.1/32:http", "port 'http' is not a number"), ("127.0.0.1/32:70000", "outside 1-65535"),
    ("127.0.0.1/32:90-80", "outside 1-65535"), ("[::1]/128:", "must be followed by ports"),
    ("127.0.0.1/32:", "port '' is not a number"),
])
def test_it_refuses_a_bad_allowed_network_entry_naming_it(entry: str, why: str) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        parse_allowed_networks("PHOTO_FETCH_ALLOWED_NETWORKS", ["10.0.0.0/8", entry])
    message = str(info.value)
    assert message.startswith(f"PHOTO_FETCH_ALLOWED_NETWORKS: entry {entry!r} is not NETWORK or NETWORK:PORTS")
    assert why in message


def test_it_stops_at_start_on_a_bad_allowed_network_entry() -> None:
    done = subprocess.run([sys.executable, "-c", "import afxq_portal.settings"], cwd=settings.BASE_DIR,
                          capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PHOTO_FETCH_ALLOWED_NETWORKS": "127.0.0.1/32:redis"})
    assert done.returncode != 0
    assert "PHOTO_FETCH_ALLOWED_NETWORKS: entry '127.0.0.1/32:redis'" in done.stderr


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://photos.example.com/p.jpg", "gopher://x/1",
                                 "//photos.example.com/p.jpg", "http://user:pw@photos.example.com/p.jpg"])
def test_it_refuses_other_schemes_and_credentials(url: str) -> None:
    refused(url)


@override_settings(PHOTO_FETCH_ALLOWED_NETWORKS=LOCAL)
@pytest.mark.parametrize("target", ["http://10.0.0.1/p.jpg", "http://169.254.169.254/latest/meta-data/",
                                    "http://[::1]/p.jpg", "file:///etc/passwd"])
def test_it_refuses_a_redirect_to_a_forbidden_target(server: PhotoServer, target: str) -> None:
    # The first hop is allowed (127.0.0.1 is on the allow-list); the hop it redirects to is not.
    refused(server.url(f"/redirect-to?{target}"))
    assert sum(n for path, n in server.hits.items() if path.startswith("/redirect-to?")) == 1


@override_settings(PHOTO_FETCH_ALLOWED_NETWORKS=LOCAL)
def test_it_follows_a_redirect_to_an_allowed_host(server: PhotoServer) -> None:
    jpeg = photos.fetch_photo(server.url("/redirect-to?/ok.jpg"))
    assert Image.open(io.BytesIO(jpeg)).size == (640, 480)


@override_settings(PHOTO_FETCH_ALLOWED_NETWORKS=LOCAL)
def test_it_stops_after_too_many_redirects(server: PhotoServer) -> None:
    loop = "/redirect-to?/redirect-to?/redirect-to?/redirect-to?/redirect-to?/ok.jpg"
    assert "redirects" in refused(server.url(loop))


@override_settings(PHOTO_FETCH_ALLOWED_NETWORKS=LOCAL)
@pytest.mark.parametrize("path", ["/big-declared", "/big-undeclared"])
def test_it_refuses_an_oversized_photo_while_streaming(server: PhotoServer, path: str) -> None:
    assert str(settings.PHOTO_FETCH_MAX_BYTES) in refused(server.url(path))


@override_settings(PHOTO_FETCH_ALLOWED_NETWORKS=LOCAL)
@pytest.mark.parametrize("path", ["/page.html", "/gif.gif"])
def test_it_refuses_what_is_not_a_jpeg_or_png(server: PhotoServer, path: str) -> None:
    assert "not a JPEG or PNG" in refused(server.url(path))


@override_settings(PHOTO_FETCH_ALLOWED_NETWORKS=LOCAL)
def test_it_refuses_a_truncated_jpeg_as_corrupt(server: PhotoServer) -> None:
    assert "corrupt or truncated" in refused(server.url("/truncated.jpg"))


@override_settings(PHOTO_FETCH_ALLOWED_NETWORKS=LOCAL)
def test_it_refuses_a_decompression_bomb(server: PhotoServer) -> None:
    message = refused(server.url("/bomb.png"))
    assert "pixels" in message or "DecompressionBomb" in message


@override_settings(PHOTO_FETCH_ALLOWED_NETWORKS=LOCAL, PHOTO_FETCH_MAX_PIXELS=100_000)
def test_it_refuses_more_pixels_than_the_setting(server: PhotoServer) -> None:
    assert "more than 100000" in refused(server.url("/ok.jpg"))


@override_settings(PHOTO_FETCH_ALLOWED_NETWORKS=LOCAL)
def test_it_calls_server_errors_temporary_and_client_errors_permanent(server: PhotoServer) -> None:
    with pytest.raises(photos.PhotoTemporaryError):
        photos.fetch_photo(server.url("/error"))
    with pytest.raises(photos.PhotoTemporaryError):
        photos.fetch_photo(server.url("/missing.jpg"))  # 404: the city may not have stored it yet
    assert "HTTP 403" in refused(server.url("/gone"))


@override_settings(PHOTO_FETCH_ALLOWED_NETWORKS=LOCAL)
def test_it_calls_a_closed_port_temporary(server: PhotoServer) -> None:
    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = closed.server_address[1]
    closed.server_close()
    with pytest.raises(photos.PhotoTemporaryError):
        photos.fetch_photo(f"http://127.0.0.1:{port}/ok.jpg")


@override_settings(PHOTO_FETCH_ALLOWED_NETWORKS=["127.0.0.0/8"])
def test_it_tries_each_checked_address_in_turn(server: PhotoServer, monkeypatch) -> None:
    # DNS (the unit's edge) answers two addresses; nothing listens on the first (127.0.0.2).
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "photos.test":  # the connection itself resolves the address literal
            return real(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in ("127.0.0.2", "127.0.0.1")]

    monkeypatch.setattr(photos.socket, "getaddrinfo", getaddrinfo)
    jpeg = photos.fetch_photo(server.url("/ok.jpg", host="photos.test"))
    assert Image.open(io.BytesIO(jpeg)).size == (640, 480)


def test_it_refuses_a_name_answering_a_forbidden_address_among_others(monkeypatch) -> None:
    def getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in ("93.184.216.34", "10.0.0.1")]

    monkeypatch.setattr(photos.socket, "getaddrinfo", getaddrinfo)
    assert "10.0.0.1 is private" in refused("http://photos.test/p.jpg")


# --- slow peers: one wall-clock deadline for the whole fetch ----------------------------------------

@override_settings(PHOTO_FETCH_ALLOWED_NETWORKS=LOCAL, PHOTO_FETCH_TOTAL_TIMEOUT=1.0, PHOTO_FETCH_READ_TIMEOUT=10.0)
@pytest.mark.parametrize("path", ["/trickle-body", "/trickle-headers"])
def test_it_gives_up_on_a_trickling_peer_at_the_total_timeout(server: PhotoServer, path: str) -> None:
    # One byte every 0.2 s: each byte restarts the 10 s read timeout, so only the deadline can stop it.
    started = time.monotonic()
    with pytest.raises(photos.PhotoTemporaryError) as info:
        photos.fetch_photo(server.url(path))
    assert time.monotonic() - started < 1.5
    assert "PHOTO_FETCH_TOTAL_TIMEOUT (1 s)" in str(info.value)
    assert server.hits[path] == 1


@override_settings(PHOTO_FETCH_ALLOWED_NETWORKS=LOCAL, PHOTO_FETCH_TOTAL_TIMEOUT=1.0, PHOTO_FETCH_READ_TIMEOUT=10.0)
def test_it_gives_up_on_a_tls_handshake_that_never_ends() -> None:
    # Accepts the connection and never answers the ClientHello.
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        with pytest.raises(photos.PhotoTemporaryError) as info:
            photos.fetch_photo(f"https://127.0.0.1:{listener.getsockname()[1]}/ok.jpg")
        assert time.monotonic() - started < 1.5
        assert "PHOTO_FETCH_TOTAL_TIMEOUT" in str(info.value)
    finally:
        for conn in accepted:
            conn.close()
        listener.close()


# --- https: the checked address is connected to, the certificate is checked against the host name ---

@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[PhotoServer, str]]:
    cert, key = self_signed_certificate(tmp_path)
    srv = PhotoServer(tls=(cert, key))
    try:
        yield srv, cert
    finally:
        srv.close()


def test_it_fetches_over_https_checking_the_certificate(tls_server) -> None:
    server, cert = tls_server
    with override_settings(PHOTO_FETCH_ALLOWED_NETWORKS=LOCAL, PHOTO_FETCH_CA_BUNDLE=cert):
        jpeg = photos.fetch_photo(server.url("/ok.jpg", host="localhost"))
        assert Image.open(io.BytesIO(jpeg)).size == (640, 480)
        # The certificate names "localhost", not the address: asking by address fails verification.
        assert "TLS verification failed" in refused(server.url("/ok.jpg"))
    with override_settings(PHOTO_FETCH_ALLOWED_NETWORKS=LOCAL):
        # A certificate no trusted authority signed.
        assert "TLS verification failed" in refused(server.url("/ok.jpg", host="localhost"))
    assert server.hits["/ok.jpg"] == 1


# --- accepted -----------------------------------------------------------------------------------

@override_settings(PHOTO_FETCH_ALLOWED_NETWORKS=LOCAL)
def test_it_accepts_an_allowed_network_and_reencodes(server: PhotoServer) -> None:
    for path, size in (("/ok.jpg", (640, 480)), ("/ok.png", (300, 400))):
        jpeg = photos.fetch_photo(server.url(path))
        image = Image.open(io.BytesIO(jpeg))
        assert image.format == "JPEG" and image.size == size and image.mode == "RGB"
        assert not image.getexif() and "icc_profile" not in image.info


@override_settings(PHOTO_FETCH_ALLOWED_NETWORKS=LOCAL)
def test_it_applies_exif_orientation_and_strips_metadata(server: PhotoServer) -> None:
    jpeg = photos.fetch_photo(server.url("/rotated.jpg"))
    image = Image.open(io.BytesIO(jpeg)).convert("RGB")
    # Stored 800x600 with "rotate 90°": upright it is 600x800, red band on top.
    assert image.size == (600, 800)
    red, green, blue = image.getpixel((300, 10))
    assert red > 200 and green < 60 and blue < 60
    assert not image.getexif()
    assert b"PhoneMaker" not in jpeg


def test_it_keeps_at_most_1600_pixels_a_side() -> None:
    for size, expected in (((4000, 3000), (1600, 1200)), ((1000, 3300), (485, 1600)), ((1600, 900), (1600, 900))):
        jpeg = photos.reencode(jpeg_bytes(photo(*size)))
        assert Image.open(io.BytesIO(jpeg)).size == expected


# --- through the API and a real worker --------------------------------------------------------------

def apply(client: Client, url: str, ywlsh: str, serial: int) -> None:
    body = {
        "address": "四川省成都市锦江区观音桥55号2栋1单元31楼06号", "name": "张三", "idCard": make_id_card(serial),
        "photo": url, "source": "01", "type": "01", "phone": "13812345678", "communityId": "CITY-A",
        "ownerId": f"OWNER-{serial}", "ywlsh": ywlsh, "xbdm": 1,
    }
    response = client.post("/apply-access", data=json.dumps(body), content_type="application/json")
    assert response.json() == {"code": 1, "message": ""}


def wait_for(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.mark.integration
def test_it_fetches_photos_in_a_worker_and_marks_those_that_never_arrive(
        transactional_db, community_a, gary, charlie, server: PhotoServer, output_dir: Path) -> None:
    worker = start_worker(output_dir, name="photo-worker", PHOTO_FETCH_ALLOWED_NETWORKS="127.0.0.1/32",
                          PHOTO_FETCH_RETRY_BASE_SECONDS="0.2", PHOTO_FETCH_MAX_RETRIES="2")
    try:
        client = Client()
        apply(client, server.url("/rotated.jpg"), "YW-1", 1)
        apply(client, server.url("/error"), "YW-2", 2)
        apply(client, "http://10.0.0.1/p.jpg", "YW-3", 3)
        wait_for(lambda: Resident.objects.count() == 3)  # the worker applies the accepted calls first
        good, flaky, private = (Resident.objects.get(ywlsh=y) for y in ("YW-1", "YW-2", "YW-3"))
        wait_for(lambda: Resident.objects.filter(pk=good.pk, photo_status="ok").exists())
        wait_for(lambda: not Resident.objects.filter(photo_status="pending").exists())
    finally:
        worker.stop()
    good.refresh_from_db()
    flaky.refresh_from_db()
    private.refresh_from_db()
    # Stored outside MEDIA_ROOT, as a clean upright JPEG.
    path = Path(good.photo.path)
    assert path.is_relative_to(Path(settings.PRIVATE_MEDIA_ROOT))
    assert not path.is_relative_to(Path(settings.MEDIA_ROOT))
    with Image.open(path) as image:
        assert image.size == (600, 800)
    # Retried with backoff (1 attempt + 2 retries), then marked.
    assert server.hits["/error"] == 3
    assert flaky.photo_status == "failed" and "gave up after 3 attempts" in flaky.photo_error
    # Refused at once, never retried.
    assert private.photo_status == "failed" and "private" in private.photo_error
    # Served to the guard of the community only.
    guard = Client()
    guard.force_login(gary)
    response = guard.get(f"/residents/{good.pk}/photo/")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert "no-store" in response["Cache-Control"]
    assert b"".join(response.streaming_content) == path.read_bytes()
    other = Client()
    other.force_login(charlie)
    assert other.get(f"/residents/{good.pk}/photo/").status_code == 404
    assert Client().get(f"/residents/{good.pk}/photo/").status_code == 302  # to the login page
    assert Client().get(f"/{settings.MEDIA_URL}{good.photo.name}").status_code == 404


@pytest.mark.integration
def test_it_applies_calls_while_slow_photo_hosts_hold_the_photo_workers(
        transactional_db, community_a, server: PhotoServer, output_dir: Path) -> None:
    # As deployed: workers for the default queue, and a photo worker. Two trickling photo hosts hold the
    # photo worker's processes; a call accepted afterwards is applied at once all the same.
    photo_env = {"PHOTO_FETCH_ALLOWED_NETWORKS": "127.0.0.1/32", "PHOTO_FETCH_TOTAL_TIMEOUT": "20"}
    workers = [
        start_worker(output_dir, name="default-worker", queues=[settings.CELERY_TASK_DEFAULT_QUEUE], **photo_env),
        start_worker(output_dir, name="photos-worker", queues=[settings.CELERY_PHOTO_QUEUE], **photo_env),
    ]
    try:
        client = Client()
        apply(client, server.url("/trickle-body"), "YW-SLOW-1", 11)
        apply(client, server.url("/trickle-body"), "YW-SLOW-2", 12)
        wait_for(lambda: server.hits["/trickle-body"] == 2, timeout=30)  # both fetches are under way
        started = time.monotonic()
        apply(client, server.url("/ok.jpg"), "YW-FAST", 13)
        wait_for(lambda: Resident.objects.filter(ywlsh="YW-FAST").exists(), timeout=30)
        applied_after = time.monotonic() - started
        still_trickling = Resident.objects.filter(ywlsh__startswith="YW-SLOW", photo_status="pending").count()
    finally:
        for worker in workers:
            worker.stop()
    assert still_trickling == 2
    assert applied_after < 5, f"the call was applied {applied_after:.1f} s after it was accepted"


def test_it_drops_the_sources_comment_segment() -> None:
    # Pillow copies a decoded JPEG's COM segment into the JPEG it saves unless told otherwise.
    source = io.BytesIO()
    Image.new("RGB", (640, 480), (120, 90, 60)).save(source, format="JPEG", comment=b"shot by 13812345678")
    assert b"13812345678" in source.getvalue()
    jpeg = photos.reencode(source.getvalue())
    assert b"13812345678" not in jpeg and "comment" not in Image.open(io.BytesIO(jpeg)).info
