"""Benchmark of the image pipeline (devices/images.py): milliseconds per image for camera captures,
and the ratio to a bare Pillow decode + single JPEG encode of the same image, measured in the same
run. Not a test: nothing is asserted. Run: `make bench` or `.venv/bin/python bench/bench_images.py`.
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "afxq_portal.settings")

import django

django.setup()

from PIL import Image  # noqa: E402

from devices import images  # noqa: E402
from tests import photos  # noqa: E402

SIZES = [(1920, 1080), (2688, 1520)]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))


def bare(data: bytes) -> bytes:
    """The floor: decode fully, encode once at a fixed quality, nothing else."""
    image = Image.open(io.BytesIO(data))
    image.load()
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def milliseconds(work: Callable[[], object]) -> float:
    work()  # warm-up
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        work()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def without_draft(data: bytes, kind: str) -> float:
    images.USE_DRAFT = False
    try:
        return milliseconds(lambda: images.process(data, kind))
    finally:
        images.USE_DRAFT = True


def main() -> None:
    print(f"Pillow {Image.__version__ if hasattr(Image, '__version__') else ''}, median of {ROUNDS} rounds, "
          f"{os.cpu_count()} CPUs")
    print(f"{'capture':>10} {'input':>8}  {'work':<34} {'ms/image':>9} {'× bare':>7}  output")
    for width, height in SIZES:
        data = photos.jpeg_bytes(photos.photo(width, height))
        base = milliseconds(lambda data=data: bare(data))
        face = images.process(data, images.FACE_PANEL)
        snap = images.process(data, images.SNAPSHOT)
        small, big = images.pass_record_images(data)
        rows = [
            ("bare decode + encode (q85)", base, f"{len(bare(data)) // 1000} kB"),
            ("face panel (≤100 kB, ≥800x600)",
             milliseconds(lambda data=data: images.process(data, images.FACE_PANEL)),
             f"{face.width}x{face.height} q{face.quality} {len(face.data) // 1000} kB"),
            ("snapshot (≤200 kB, ≥1200x800)",
             milliseconds(lambda data=data: images.process(data, images.SNAPSHOT)),
             f"{snap.width}x{snap.height} q{snap.quality} {len(snap.data) // 1000} kB"),
            ("face panel, draft() off", without_draft(data, images.FACE_PANEL), ""),
            ("pass record: small + big",
             milliseconds(lambda data=data: images.pass_record_images(data)),
             f"{small.width}x{small.height} + {big.width}x{big.height}"),
        ]
        for label, ms, output in rows:
            print(f"{width}x{height:<5} {len(data) // 1000:>5} kB  {label:<34} {ms:>9.1f} {ms / base:>7.2f}  {output}")


if __name__ == "__main__":
    main()
