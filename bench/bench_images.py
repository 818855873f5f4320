"""Benchmark of the image pipeline (devices/images.py) on camera-like captures (tests/photos.py: gradient,
structure, sensor noise σ≈12, a slight blur, JPEG q92) at 1280x720, 1920x1080 and 2688x1520.

For each capture size, in one run and interleaved (one round runs every variant once, in turn), milliseconds
per pass record (small + big image, face-panel rule) and per snapshot image (snapshot rule):

- floor: a bare decode at the reduced scale the pipeline uses (``draft``), one resize and one encode per
  output, at the very sizes and qualities the pipeline chose: the pipeline without its decisions; each output
  resized from the decoded capture; "× casc." is the ratio to the same floor with the small pass image resized
  from the big one, as the pipeline does (fewer pixels to filter);
- pipeline: ``pass_record_images`` / ``process`` with the point's hint, each round a different frame of the
  same camera (four seeds in turn), as a device sends them;
- first frame: the same with nothing remembered (the memory cleared before each call);
- search: the bisection of full encodes the pipeline used before (``fit_by_search``), for comparison.

Then the resize filters on the 1920x1080 big image, and, when simplejpeg is importable, its decode and encode
against Pillow's. Not a test: nothing is asserted. Run: `.venv/bin/python bench/bench_images.py`
(BENCH_ROUNDS, default 15).
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

import PIL  # noqa: E402
from PIL import Image  # noqa: E402

from devices import images  # noqa: E402
from tests import photos  # noqa: E402

SIZES = [(1280, 720), (1920, 1080), (2688, 1520)]
SEEDS = (1, 2, 3, 4)
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
FACE = images.RULES[images.FACE_PANEL]
SNAP = images.RULES[images.SNAPSHOT]


def interleaved(variants: dict[str, Callable[[int], object]]) -> dict[str, float]:
    """Median milliseconds of each variant; every round runs each once, in turn, on frame ``round``."""
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for work in variants.values():
        work(0)  # warm-up
    for round_ in range(ROUNDS):
        for name, work in variants.items():
            start = time.perf_counter()
            work(round_)
            samples[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def floor_work(data: bytes, rule: images.ImageRule, outputs: list[images.ProcessedImage]) -> None:
    """Decode at the reduced scale, then per output one resize and one encode at what the pipeline chose."""
    upright = images.decode(data, rule)
    for out in outputs:
        images.encode(images.resized(upright, (out.width, out.height)), out.quality)


def cascaded_floor_work(data: bytes, outputs: list[images.ProcessedImage]) -> None:
    """The floor as the pipeline does it for a pass record: the small image resized from the big one."""
    source = images.decode(data, FACE)
    for out in reversed(outputs):  # the big one first
        source = images.resized(source, (out.width, out.height))
        images.encode(source, out.quality)


def searched_pass_record(data: bytes) -> None:
    upright = images.decode(data, FACE)
    images.fit_by_search(upright, FACE)
    images.fit_by_search(images.smallest(upright, FACE), FACE)


def first_frame(work: Callable[[], object]) -> Callable[[int], object]:
    def run(_round: int) -> object:
        images.MEMORY.clear()
        return work()
    return run


def pass_record_variants(frames: list[bytes], outputs: list[images.ProcessedImage]) -> dict[str, Callable[[int], object]]:
    def frame(round_: int) -> bytes:
        return frames[round_ % len(frames)]

    return {
        "floor": lambda r: floor_work(frame(r), FACE, outputs),
        "cascaded floor": lambda r: cascaded_floor_work(frame(r), outputs),
        "pipeline": lambda r: images.pass_record_images(frame(r), hint="bench"),
        "first": first_frame(lambda: images.pass_record_images(frames[0], hint="bench")),
        "search": lambda r: searched_pass_record(frame(r)),
    }


def snapshot_variants(frames: list[bytes], snap: images.ProcessedImage) -> dict[str, Callable[[int], object]]:
    def frame(round_: int) -> bytes:
        return frames[round_ % len(frames)]

    return {
        "floor": lambda r: floor_work(frame(r), SNAP, [snap]),
        "pipeline": lambda r: images.process(frame(r), images.SNAPSHOT, hint="bench"),
        "first": first_frame(lambda: images.process(frames[0], images.SNAPSHOT, hint="bench")),
        "search": lambda r: images.fit_by_search(images.decode(frame(r), SNAP), SNAP),
    }


def pipeline_table() -> None:
    print(f"{'capture':>9} {'input':>7}  {'work':<26} {'floor ms':>8} {'pipeline':>8} {'× floor':>7} "
          f"{'× casc.':>7} {'1st frame':>9} {'× floor':>7} {'search':>7} {'× floor':>7}  output")
    for width, height in SIZES:
        frames = [photos.jpeg_bytes(photos.photo(width, height, seed=seed)) for seed in SEEDS]
        images.MEMORY.clear()
        small, big = images.pass_record_images(frames[0], hint="bench")
        outputs = [big] if small is big else [small, big]
        rows = [("pass record (small + big)", interleaved(pass_record_variants(frames, outputs)),
                 f"{small.width}x{small.height} q{small.quality} {len(small.data) // 1000} kB + "
                 f"{big.width}x{big.height} q{big.quality} {len(big.data) // 1000} kB")]
        if SNAP.meets_minimum(width, height):
            snap = images.process(frames[0], images.SNAPSHOT, hint="bench")
            rows.append(("snapshot image", interleaved(snapshot_variants(frames, snap)),
                         f"{snap.width}x{snap.height} q{snap.quality} {len(snap.data) // 1000} kB"))
        for label, ms, output in rows:
            base = ms["floor"]
            cascaded = f"{ms['pipeline'] / ms['cascaded floor']:>7.2f}" if "cascaded floor" in ms else f"{'':>7}"
            print(f"{width}x{height:<4} {len(frames[0]) // 1000:>4} kB  {label:<26} {base:>8.1f} "
                  f"{ms['pipeline']:>8.1f} {ms['pipeline'] / base:>7.2f} {cascaded} {ms['first']:>9.1f} "
                  f"{ms['first'] / base:>7.2f} {ms['search']:>7.1f} {ms['search'] / base:>7.2f}  {output}")


def filters_table() -> None:
    upright = images.decode(photos.jpeg_bytes(photos.photo(1920, 1080)), FACE)
    big = images.pass_record_images(photos.jpeg_bytes(photos.photo(1920, 1080)), hint="bench")[1]
    size = (big.width, big.height)
    resample = Image.Resampling
    ms = interleaved({
        "LANCZOS, reducing_gap=2 (the pipeline's)": lambda _r: upright.resize(size, resample.LANCZOS,
                                                                              reducing_gap=2.0),
        "LANCZOS": lambda _r: upright.resize(size, resample.LANCZOS),
        "BICUBIC, reducing_gap=2": lambda _r: upright.resize(size, resample.BICUBIC, reducing_gap=2.0),
        "BILINEAR, reducing_gap=2": lambda _r: upright.resize(size, resample.BILINEAR, reducing_gap=2.0),
        "reduce(2) + LANCZOS (a softer cut)": lambda _r: upright.reduce(2).resize(size, resample.LANCZOS),
    })
    resized = upright.resize(size, resample.LANCZOS, reducing_gap=2.0)
    ms[f"(then one encode at q{big.quality})"] = interleaved({"encode": lambda _r: images.encode(resized, big.quality)})[
        "encode"]
    print(f"\nresize 1920x1080 -> {size[0]}x{size[1]} (the big pass image), ms")
    for label, value in ms.items():
        print(f"  {label:<44} {value:>6.1f}")


def simplejpeg_table() -> None:
    try:
        import numpy
        import simplejpeg
    except ImportError:
        print("\nsimplejpeg not importable: its comparison skipped (pip install simplejpeg to measure it)")
        return
    data = photos.jpeg_bytes(photos.photo(1920, 1080))
    pixels = Image.open(io.BytesIO(data))
    pixels.load()
    array = numpy.asarray(pixels)

    def pillow_decode(_r: int) -> None:
        Image.open(io.BytesIO(data)).load()

    ms = interleaved({
        "Pillow decode": pillow_decode,
        "simplejpeg decode": lambda _r: simplejpeg.decode_jpeg(data),
        "Pillow encode q60": lambda _r: images.encode(pixels, 60),
        "simplejpeg encode q60": lambda _r: simplejpeg.encode_jpeg(array, quality=60, colorsubsampling="420"),
        "numpy array -> Pillow image": lambda _r: Image.fromarray(array),
    })
    print(f"\nsimplejpeg {simplejpeg.__version__} vs Pillow, 1920x1080, ms")
    for label, value in ms.items():
        print(f"  {label:<44} {value:>6.1f}")


def main() -> None:
    print(f"Pillow {PIL.__version__}, median of {ROUNDS} interleaved rounds, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    pipeline_table()
    filters_table()
    simplejpeg_table()


if __name__ == "__main__":
    main()
