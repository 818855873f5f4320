"""The image pipeline: whatever a device sends becomes JPEG that meets the city's rule for its kind.

The city (manual, interfaces 3–5): face-panel images >= 800x600 and <= 100k; snapshot-camera images
>= 1200x800 and <= 200k; JPEG; sharp. All limits live in ``RULES`` below and nowhere else.

Steps: refuse oversized uploads; a capture that already meets the rule (a baseline RGB JPEG within the byte
limit, at or above the minimum, upright, encoded at or above the quality floor) is passed through with its
metadata segments cut out of the bytes, without a re-encode. Anything else is decoded with the portal's one
decoding rule (afxq_portal.images: decompression bombs and too many pixels refused before decoding, JPEG
decoded at a reduced scale when that still leaves the minimum, EXIF orientation applied, RGB with alpha
flattened on white), refusing anything below the minimum (upscaling would fake the requirement), and
encoded afresh (nothing of the metadata is copied). The size and quality are predicted, not searched: JPEG
bytes grow close to linearly with the pixel count and smoothly with the quality, and a camera's frames are
alike, so what fitted the last image of the same caller (``hint``), kind and size predicts the next; each
prediction is verified by its encode and corrected from what that encode measured. Downscaling happens only
when even the quality floor does not fit, never below the minimum; refusal only when the floor does not fit
at the minimum size. If the predictions do not settle, the exact search of quality by bisection decides.
"""

from __future__ import annotations

import io
import math
import threading
import warnings
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, replace

from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from afxq_portal.images import ACCEPTED_FORMATS, EXIF_ORIENTATION, UnusableImage, decode_upright


@dataclass(frozen=True)
class ImageRule:
    """The city's rule for one kind of image. The minimum is read literally, width x height of the
    upright picture, as the sandbox city checks it: a portrait 600x800 face crop does not meet 800x600
    (the manual names no orientation, so the stricter reading is the safe one)."""

    min_width: int
    min_height: int
    max_bytes: int

    def meets_minimum(self, width: int, height: int) -> bool:
        return width >= self.min_width and height >= self.min_height


FACE_PANEL = "face_panel"
SNAPSHOT = "snapshot"

# The one table of limits. "100k"/"200k" read as 100,000/200,000 bytes: stricter than KiB, so right
# under either reading.
RULES: dict[str, ImageRule] = {
    FACE_PANEL: ImageRule(min_width=800, min_height=600, max_bytes=100_000),
    SNAPSHOT: ImageRule(min_width=1200, min_height=800, max_bytes=200_000),
}

# What we accept from a device before decoding anything.
MAX_INPUT_BYTES = 8 * 1024 * 1024  # a 4 MP frame is 1–2 MB; a phone photo 3–6 MB
MAX_INPUT_PIXELS = 24_000_000  # above any camera of ours (4 MP) and a 12 MP phone photo; 50 MP is refused

# JPEG decode-time downscaling (draft). Only the benchmark turns it off, to show what it saves.
USE_DRAFT = True

# JPEG quality: the best we try, and the floor below which an image is no longer "sharp" for the city.
QUALITY_MAX = 92
QUALITY_FLOOR = 50
QUALITY_PROBE = 75
# The search stops when the bracket is this narrow: a few quality points are not visible.
QUALITY_TOLERANCE = 3
# Each downscale step keeps at most this share of the side (after a first estimated jump).
DOWNSCALE_STEP = 0.85
# The prediction aims at this share of the byte limit (a margin for the next frame being a little heavier), and
# an encode that fits and fills at least ACCEPT of the limit is kept: another one would gain a few quality points.
AIM = 0.92
ACCEPT = 0.80
# When an image must be downscaled, it is to the size where this quality fits, a margin above the floor.
QUALITY_DOWNSCALED = 60
# Before downscaling, the floor at full size is tried when predicted within this share of the limit: the
# prediction is an extrapolation, the size is what the city sees first.
FLOOR_WORTH_TRYING = 1.15
# Bounds of the measured exponent of bytes in the quantiser step: outside them a measurement is noise.
EXPONENT_MIN, EXPONENT_MAX = 0.5, 2.0
# Encodes tried on predictions before the exact search decides (a camera's frames take one, a first frame two).
MAX_ENCODES = 4
# (hint, rule, size) entries remembered per process: a worker serves a few hundred points at most.
MEMORY_ENTRIES = 1024
# The resize filter: Lanczos after an integer reduce() (reducing_gap), sharp and measured in bench/bench_images.py.
RESAMPLE = Image.Resampling.LANCZOS
REDUCING_GAP = 2.0


class ImageRefused(ValueError):
    """The image cannot be made to meet the rule; ``str(exc)`` is the reason for the device and
    ``source`` says which input it was ("capture" or "face_crop" for a pass record)."""

    source: str = ""


@dataclass(frozen=True)
class ProcessedImage:
    data: bytes
    width: int
    height: int
    quality: int


def decode(data: bytes, rule: ImageRule) -> Image.Image:
    """Decode ``data`` to an upright RGB image (afxq_portal.images), at a reduced scale when the minimum allows it."""
    if not data:
        raise ImageRefused(_("the image is empty"))
    if len(data) > MAX_INPUT_BYTES:
        raise ImageRefused(_("the image is %(n)d bytes; at most %(max)d are accepted")
                           % {"n": len(data), "max": MAX_INPUT_BYTES})

    def meets_minimum(width: int, height: int) -> None:
        if not rule.meets_minimum(width, height):
            raise ImageRefused(_("the image is %(w)dx%(h)d; at least %(min_w)dx%(min_h)d is required")
                               % {"w": width, "h": height, "min_w": rule.min_width, "min_h": rule.min_height})

    try:
        return decode_upright(data, max_pixels=MAX_INPUT_PIXELS, check=meets_minimum,
                              draft=(lambda _w, _h: (rule.min_width, rule.min_height)) if USE_DRAFT else None)
    except UnusableImage as exc:
        raise ImageRefused(str(exc)) from exc


def draft_box(rule: ImageRule, turned: bool) -> tuple[int, int]:
    """The minimum in the stored (not yet turned) orientation, as draft() wants it."""
    return (rule.min_height, rule.min_width) if turned else (rule.min_width, rule.min_height)


def decoded_pixels(data: bytes, kind: str) -> int:
    """The pixels ``process`` will decode for ``data`` (after the JPEG draft), from the header alone: what the
    image will cost, known before anything is decoded. 0 for what ``decode`` refuses before decoding."""
    rule = RULES[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS))
            if image.width * image.height > MAX_INPUT_PIXELS or len(data) > MAX_INPUT_BYTES:
                return 0
            # Only a JPEG's EXIF is read: it comes before the pixels, where a PNG's reading it would decode all.
            if image.format == "JPEG" and USE_DRAFT:
                turned = image.getexif().get(EXIF_ORIENTATION) in (5, 6, 7, 8)
                image.draft("RGB", draft_box(rule, turned))
        except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning, OSError,
                SyntaxError, ValueError):
            return 0
    return image.width * image.height


def encode(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    # No exif= or icc_profile=: nothing of the device's metadata goes to the city. Pillow writes the source's
    # COM segment (image.info["comment"], kept by decode and resize) unless told otherwise: an empty comment.
    image.save(buffer, format="JPEG", quality=quality, optimize=False, progressive=False, comment=b"")
    return buffer.getvalue()


def best_quality(image: Image.Image, max_bytes: int) -> tuple[tuple[int, bytes] | None, int]:
    """The highest quality in [QUALITY_FLOOR, QUALITY_MAX] whose JPEG fits, by bisection, or None if
    even the floor does not fit; and the size at the floor when it was measured (for the next scale
    step), else 0. The first probe is in the middle, where most camera frames end up."""
    probe = encode(image, QUALITY_PROBE)
    if len(probe) <= max_bytes:
        low, high, found = QUALITY_PROBE + 1, QUALITY_MAX, (QUALITY_PROBE, probe)
    else:
        floor = encode(image, QUALITY_FLOOR)
        if len(floor) > max_bytes:
            return None, len(floor)
        low, high, found = QUALITY_FLOOR + 1, QUALITY_PROBE - 1, (QUALITY_FLOOR, floor)
    while high - low >= QUALITY_TOLERANCE:
        middle = (low + high + 1) // 2
        data = encode(image, middle)
        if len(data) <= max_bytes:
            found, low = (middle, data), middle + 1
        else:
            high = middle - 1
    return found, 0


def minimum_scale(rule: ImageRule, width: int, height: int) -> float:
    """The smallest factor that keeps ``width`` x ``height`` at or above the minimum."""
    return max(rule.min_width / width, rule.min_height / height)


def scaled_size(width: int, height: int, factor: float, rule: ImageRule) -> tuple[int, int]:
    factor = min(1.0, max(factor, minimum_scale(rule, width, height)))
    return max(1, math.ceil(width * factor)), max(1, math.ceil(height * factor))


def resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    # reducing_gap: reduce() by an integer factor first when the factor allows, then the filter on what is left.
    return image if image.size == size else image.resize(size, RESAMPLE, reducing_gap=REDUCING_GAP)


def scaled(image: Image.Image, factor: float, rule: ImageRule) -> Image.Image:
    return resized(image, scaled_size(image.width, image.height, factor, rule))


def fit_by_search(image: Image.Image, rule: ImageRule) -> ProcessedImage:
    """The largest size (not above ``image``'s) and best quality that fit ``rule.max_bytes``, by bisection of
    full encodes: exact but several encodes an image, so only what ``fit`` falls back on."""
    current = image
    while True:
        result, floor_bytes = best_quality(current, rule.max_bytes)
        if result is not None:
            quality, data = result
            return ProcessedImage(data, current.width, current.height, quality)
        if minimum_scale(rule, current.width, current.height) >= 0.999:
            raise does_not_fit(rule, current.width, current.height)
        # JPEG size grows roughly with the pixel count: jump close to the size that fits, then step.
        estimate = math.sqrt(rule.max_bytes / floor_bytes) * 0.97
        current = scaled(current, min(estimate, DOWNSCALE_STEP), rule)


def does_not_fit(rule: ImageRule, width: int, height: int) -> ImageRefused:
    return ImageRefused(_("the image does not fit in %(max)d bytes even at %(w)dx%(h)d and quality %(q)d")
                        % {"max": rule.max_bytes, "w": width, "h": height, "q": QUALITY_FLOOR})


# The prediction. libjpeg scales its quantisation tables by (200 - 2q)% for q >= 50: the step of the quantiser.
def quantiser_step(quality: float) -> float:
    return (200 - 2 * quality) / 100 if quality >= 50 else 50 / quality


def quality_of_step(step: float) -> float:
    return 100 - 50 * step if step <= 1 else 50 / step


@dataclass(frozen=True)
class Encoded:
    """What one encode measured: the bytes of ``width`` x ``height`` at ``quality``; ``exponent`` is how the
    bytes grow as the quantiser step shrinks (bytes ~ step^-exponent), learnt from two encodes of one size."""

    width: int
    height: int
    quality: int
    size: int
    exponent: float = 1.0

    def bytes_per_pixel(self, quality: float) -> float:
        ratio = quantiser_step(self.quality) / quantiser_step(quality)
        return self.size / (self.width * self.height) * ratio ** self.exponent

    def quality_for(self, max_bytes: float, pixels: int) -> int:
        """The highest quality whose predicted bytes at ``pixels`` stay within ``max_bytes``."""
        per_pixel = max_bytes / pixels
        step = quantiser_step(self.quality) * (self.size / (self.width * self.height) / per_pixel) ** (1 / self.exponent)
        return math.floor(quality_of_step(step))

    def learn(self, other: Encoded) -> Encoded:
        """``other`` (a later encode) with the exponent measured between the two, when they share a size."""
        if (other.width, other.height) != (self.width, self.height) or other.quality == self.quality:
            return replace(other, exponent=self.exponent)
        measured = (math.log(other.size / self.size)
                    / math.log(quantiser_step(self.quality) / quantiser_step(other.quality)))
        return replace(other, exponent=min(EXPONENT_MAX, max(EXPONENT_MIN, measured)))


def plan(seen: Encoded, width: int, height: int, rule: ImageRule) -> tuple[int, int, int]:
    """The (width, height, quality) to encode ``width`` x ``height`` at, predicted from ``seen``: the full size
    at the best quality that fits; when the floor does not fit there, the size at which QUALITY_DOWNSCALED fits
    (a margin above the floor: a frame a little heavier than predicted is then corrected by quality alone)."""
    aim = rule.max_bytes * AIM
    at_full = seen.quality_for(aim, width * height)
    seen_full = (seen.width, seen.height) == (width, height)
    # Growing back to the full size from a downscaled encode needs the margin too: bytes per pixel grow with it.
    if at_full >= (QUALITY_FLOOR if seen_full else QUALITY_DOWNSCALED):
        return width, height, min(QUALITY_MAX, at_full)
    if seen_full and seen.quality > QUALITY_FLOOR and (
            seen.bytes_per_pixel(QUALITY_FLOOR) * width * height <= rule.max_bytes * FLOOR_WORTH_TRYING):
        return width, height, QUALITY_FLOOR  # the full size is worth one encode more than a downscale
    if not seen_full:
        at_seen = seen.quality_for(aim, seen.width * seen.height)
        if QUALITY_FLOOR <= at_seen <= QUALITY_DOWNSCALED + QUALITY_TOLERANCE:
            return seen.width, seen.height, at_seen
    pixels = aim / seen.bytes_per_pixel(QUALITY_DOWNSCALED)
    size = scaled_size(width, height, math.sqrt(pixels / (width * height)), rule)
    quality = max(QUALITY_FLOOR, min(QUALITY_MAX, seen.quality_for(aim, size[0] * size[1])))
    return size[0], size[1], quality


class Memory:
    """What fitted last, per (hint, rule, decoded size): a small LRU in the process (each worker learns its own)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.entries: OrderedDict[Hashable, Encoded] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Hashable) -> Encoded | None:
        with self.lock:
            seen = self.entries.get(key)
            if seen is not None:
                self.entries.move_to_end(key)
            return seen

    def put(self, key: Hashable, seen: Encoded) -> None:
        with self.lock:
            self.entries[key] = seen
            self.entries.move_to_end(key)
            while len(self.entries) > self.capacity:
                self.entries.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


MEMORY = Memory(MEMORY_ENTRIES)


def fit(image: Image.Image, rule: ImageRule, hint: Hashable = None) -> ProcessedImage:
    """The largest size (not above ``image``'s) and best quality that fit ``rule.max_bytes``, in about one encode.

    ``hint`` names where the image comes from (a point): its last image predicts this one. Every encode is
    verified; one that is over the limit, or well under it while a better one is predicted, is corrected from
    what it measured. A result always fits; refused only when the floor does not fit at the minimum size."""
    return fitted(image, rule, hint)[0]


def fitted(image: Image.Image, rule: ImageRule, hint: Hashable = None) -> tuple[ProcessedImage, Image.Image]:
    """``fit``, and the pixels it encoded (``image`` resized to the result's size)."""
    width, height = image.size
    key = (hint, rule, width, height)
    seen = MEMORY.get(key)
    target = plan(seen, width, height, rule) if seen is not None else (width, height, QUALITY_PROBE)
    best: tuple[Encoded, bytes, Image.Image] | None = None
    pixels = image
    for _attempt in range(MAX_ENCODES):
        if pixels.size != target[:2]:
            pixels = resized(image, target[:2])
        data = encode(pixels, target[2])
        measured = Encoded(*target, len(data))
        seen = seen.learn(measured) if seen is not None else measured
        if len(data) <= rule.max_bytes:
            if best is None or (measured.width, measured.quality) > (best[0].width, best[0].quality):
                best = (seen, data, pixels)
            if len(data) >= rule.max_bytes * ACCEPT or measured.quality == QUALITY_MAX:
                break
        elif target[2] <= QUALITY_FLOOR and minimum_scale(rule, target[0], target[1]) >= 0.999:
            raise does_not_fit(rule, target[0], target[1])
        following = plan(seen, width, height, rule)
        if best is not None and (following[0], following[2]) <= (best[0].width, best[0].quality + QUALITY_TOLERANCE):
            break  # nothing predicted is clearly better than what already fits
        if following == target:
            # Predicted again what was just over the limit: step down (quality first, then size).
            following = ((*target[:2], max(QUALITY_FLOOR, target[2] - QUALITY_TOLERANCE)) if target[2] > QUALITY_FLOOR
                         else (*scaled_size(width, height, target[0] / width * DOWNSCALE_STEP, rule), QUALITY_FLOOR))
        target = following
    if best is None:
        result = fit_by_search(image, rule)
        best = (Encoded(result.width, result.height, result.quality, len(result.data)), result.data,
                resized(image, (result.width, result.height)))
    MEMORY.put(key, best[0])
    return ProcessedImage(best[1], best[0].width, best[0].height, best[0].quality), best[2]


# Passing through: a capture that already meets the rule keeps its encoded pixels, without its metadata.
_STANDARD_LUMINANCE = (  # ITU T.81 Annex K, the table libjpeg scales by quality
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
_JFIF = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"  # version 1.1, 1:1, no thumbnail
_EOI, _SOS, _COM = 0xD9, 0xDA, 0xFE


def estimated_quality(tables: dict[int, list[int]]) -> int:
    """The libjpeg quality whose luminance table is closest to ``tables[0]`` (by sum: order-independent)."""
    step = sum(tables[0]) / sum(_STANDARD_LUMINANCE)
    return round(quality_of_step(step))


def without_metadata(data: bytes) -> bytes:
    """``data`` (a JPEG) without any APPn segment (EXIF, XMP, ICC, JFIF thumbnails, vendors') or comment, and
    nothing after its end; a fresh JFIF header instead. The entropy-coded data is copied as it is. ValueError
    if the structure is not that of a complete JPEG."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("no SOI")
    out, at, end = [b"\xff\xd8", _JFIF], 2, len(data)
    while at + 1 < end:
        if data[at] != 0xFF:
            raise ValueError(f"no marker at {at}")
        marker = data[at + 1]
        if marker == 0xFF:  # a fill byte before a marker
            at += 1
            continue
        if marker == _EOI:
            out.append(b"\xff\xd9")
            return b"".join(out)
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # TEM, RSTn: no length
            out.append(data[at:at + 2])
            at += 2
            continue
        if at + 4 > end:
            raise ValueError("truncated segment")
        segment_end = at + 2 + int.from_bytes(data[at + 2:at + 4], "big")
        if segment_end > end or segment_end < at + 4:
            raise ValueError("bad segment length")
        if not (0xE0 <= marker <= 0xEF or marker == _COM):
            out.append(data[at:segment_end])
        at = segment_end
        if marker == _SOS:
            scan = at
            while True:  # entropy-coded data: 0xFF is followed by a stuffed 0, a restart marker or a fill byte
                scan = data.find(b"\xff", scan)
                if scan < 0 or scan + 1 >= end:
                    raise ValueError("truncated scan")
                following = data[scan + 1]
                if following == 0 or 0xD0 <= following <= 0xD7:
                    scan += 2
                elif following == 0xFF:
                    scan += 1
                else:
                    break
            out.append(data[at:scan])
            at = scan
    raise ValueError("no EOI")


def passed_through(data: bytes, rule: ImageRule) -> ProcessedImage | None:
    """``data`` stripped of its metadata if it already meets ``rule`` as it is, else None (then it is decoded
    and encoded; that path gives every refusal its reason)."""
    if not data or len(data) > rule.max_bytes or data[:2] != b"\xff\xd8":
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=["JPEG"])
            width, height = image.size
            if (image.mode != "RGB" or width * height > MAX_INPUT_PIXELS or not rule.meets_minimum(width, height)
                    or image.info.get("progressive") or image.info.get("progression") or "adobe" in image.info
                    or image.getexif().get(EXIF_ORIENTATION, 1) != 1
                    or estimated_quality(image.quantization) < QUALITY_FLOOR):
                return None
            stripped = without_metadata(data)
            # Decoded at 1/8 scale, to know that every scan is there: cheap, and a truncated one raises.
            check = Image.open(io.BytesIO(stripped), formats=["JPEG"])
            check.draft("RGB", (max(1, width // 8), max(1, height // 8)))
            check.load()
        except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning, OSError,
                SyntaxError, ValueError, KeyError):
            return None
    if len(stripped) > rule.max_bytes:  # the fresh JFIF header is 18 bytes
        return None
    return ProcessedImage(stripped, width, height, estimated_quality(image.quantization))


def process(data: bytes, kind: str, hint: Hashable = None) -> ProcessedImage:
    """One image a device sent, made to meet the rule of ``kind`` (FACE_PANEL or SNAPSHOT). ``hint`` names the
    source (a point's id): its images are alike, so the last one's fit predicts the next one's."""
    return process_to_rule(data, RULES[kind], hint)


def process_to_rule(data: bytes, rule: ImageRule, hint: Hashable = None) -> ProcessedImage:
    """``process`` for a rule of the caller's (a face terminal's own limits), not one of the city's."""
    return passed_through(data, rule) or fit(decode(data, rule), rule, hint)


def smallest(image: Image.Image, rule: ImageRule) -> Image.Image:
    """``image`` scaled down to the smallest size that still meets the minimum."""
    factor = minimum_scale(rule, image.width, image.height)
    return scaled(image, factor, rule) if factor < 1 else image


def pass_record_images(capture: bytes, face_crop: bytes | None = None,
                       hint: Hashable = None) -> tuple[ProcessedImage, ProcessedImage]:
    """(small, big) of a pass record (interface 3): the small one from the face crop when the device
    sent one, else from the capture, at the smallest size that meets the minimum; the big one from the
    capture at the largest size that fits (the capture itself, stripped, when it already meets the rule).
    Both meet the face-panel rule. ``hint`` as for ``process``."""
    rule = RULES[FACE_PANEL]
    big = passed_through(capture, rule)
    try:
        # The big image's pixels, when made here: the small one is resized from them rather than from the
        # capture, fewer pixels to filter for as sharp a result (bench/README.md, issue 15).
        source = decode(capture, rule) if big is None or face_crop is None else None
        if big is None:
            big, source = fitted(source, rule, hint)
    except ImageRefused as exc:
        exc.source = "capture"
        raise
    if face_crop is None:
        small = smallest(source, rule)
        # A capture decoded at the minimum already: the small image is the big one, not a second encode of it.
        return (big if small is source and (big.width, big.height) == small.size else fit(small, rule, hint)), big
    try:
        return fit(smallest(decode(face_crop, rule), rule), rule, hint), big
    except ImageRefused as exc:
        exc.source = "face_crop"
        raise
