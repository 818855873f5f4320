"""The embedded broker (afxq_portal/broker.py): a reader never takes a half-written message file, two
readers never take the same one, and a file that does not decode is set aside instead of stopping the
worker."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from kombu import Connection

from afxq_portal import broker


def connection(folder: Path) -> Connection:
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return Connection("filesystem://", transport="afxq_portal.broker:Transport", transport_options={
        "data_folder_in": str(folder / "queue"), "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"), "control_folder": str(folder / "control"),
        "store_processed": False})


def test_it_is_the_transport_the_settings_select_for_the_embedded_broker() -> None:
    # In a fresh process on the laptop defaults: this run itself may be on Redis.
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "DATABASE_URL", "REDIS_URL")}
    done = subprocess.run([sys.executable, "-c", "from django.conf import settings; "
                           "print(settings.CELERY_BROKER_URL, settings.CELERY_BROKER_TRANSPORT)"],
                          env={**env, "DJANGO_SETTINGS_MODULE": "afxq_portal.settings"}, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-800:]
    assert done.stdout.split() == ["filesystem://", "afxq_portal.broker:Transport"]


def test_it_never_shows_a_reader_a_half_written_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The writer stops in the middle of its file; meanwhile a reader looks at the queue.
    seen_during_write: list[object] = []
    real_open = open

    class HalfWay:
        def __init__(self, f) -> None:
            self.f = f

        def __enter__(self) -> HalfWay:
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.close()

        def write(self, data: bytes) -> int:
            self.f.write(data[: len(data) // 2])
            self.f.flush()
            with connection(tmp_path) as reader:
                channel = reader.default_channel
                try:
                    seen_during_write.append(channel._get("photos"))
                except broker.Empty:
                    seen_during_write.append("empty")
            return self.f.write(data[len(data) // 2:])

        def __getattr__(self, name: str):
            return getattr(self.f, name)

    def spying_open(path, mode="r", *args, **kwargs):
        f = real_open(path, mode, *args, **kwargs)
        return HalfWay(f) if "w" in mode and str(path).startswith(str(tmp_path)) else f

    with connection(tmp_path) as writer:
        channel = writer.default_channel
        monkeypatch.setattr("builtins.open", spying_open)
        channel._put("photos", {"body": "x" * 10_000, "headers": {}})
        monkeypatch.undo()
        assert seen_during_write == ["empty"]  # the partial file was not visible under a message name
        assert channel._get("photos")["body"] == "x" * 10_000  # the whole message, once written
        with pytest.raises(broker.Empty):
            channel._get("photos")
    assert os.listdir(tmp_path / "queue") == []


def test_it_gives_each_message_to_exactly_one_of_many_readers(tmp_path: Path) -> None:
    with connection(tmp_path) as writer:
        for n in range(300):
            writer.default_channel._put("celery", {"body": str(n), "headers": {}})
    got: list[str] = []
    lock = threading.Lock()

    def read() -> None:
        with connection(tmp_path) as reader:
            while True:
                try:
                    message = reader.default_channel._get("celery")
                except broker.Empty:
                    return
                with lock:
                    got.append(message["body"])

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(got, key=int) == [str(n) for n in range(300)]


def test_it_sets_aside_a_message_that_does_not_decode_and_goes_on(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    with connection(tmp_path) as conn:
        (tmp_path / "queue" / "0000000000000000_broken.celery.msg").write_bytes(b'{"body": "trunc')
        conn.default_channel._put("celery", {"body": "good", "headers": {}})
        with caplog.at_level(logging.ERROR, logger="afxq_portal.broker"):
            assert conn.default_channel._get("celery")["body"] == "good"
    assert (tmp_path / "processed" / "0000000000000000_broken.celery.msg.corrupt").read_bytes() == b'{"body": "trunc'
    assert "0000000000000000_broken.celery.msg of queue celery does not decode" in caplog.text
