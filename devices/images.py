"""The image pipeline: whatever a device sends becomes JPEG that meets the city's rule for its kind.

The city (manual, interfaces 3–5): face-panel images >= 800x600 and <= 100k; snapshot-camera images
>= 1200x800 and <= 200k; JPEG; sharp. All limits live in ``RULES`` below and nowhere else.

Steps: refuse oversized uploads; decode with the portal's one decoding rule (afxq_portal.images: decompression
bombs and too many pixels refused before decoding, JPEG decoded at a reduced scale when that still leaves the
minimum, EXIF orientation applied, RGB with alpha flattened on white), refusing anything below the minimum
(upscaling would fake the requirement); drop every piece of metadata (nothing is copied to the output); then
find the best JPEG quality that fits the byte limit, and only when even the quality floor does not fit,
downscale in steps, never below the minimum. Refuse only when nothing fits.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

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
    # No exif=, icc_profile= or comment: nothing of the device's metadata goes to the city.
    image.save(buffer, format="JPEG", quality=quality, optimize=False, progressive=False)
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


def scaled(image: Image.Image, factor: float, rule: ImageRule) -> Image.Image:
    width, height = image.size
    factor = max(factor, minimum_scale(rule, width, height))
    size = (max(1, math.ceil(width * factor)), max(1, math.ceil(height * factor)))
    # reducing_gap: reduce() by an integer factor first, then a short Lanczos: fast and sharp.
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)


def fit(image: Image.Image, rule: ImageRule) -> ProcessedImage:
    """The largest size (not above ``image``'s) and best quality that fit ``rule.max_bytes``."""
    current = image
    while True:
        result, floor_bytes = best_quality(current, rule.max_bytes)
        if result is not None:
            quality, data = result
            return ProcessedImage(data, current.width, current.height, quality)
        at_minimum = minimum_scale(rule, current.width, current.height) >= 0.999
        if at_minimum:
            raise ImageRefused(_("the image does not fit in %(max)d bytes even at %(w)dx%(h)d and quality %(q)d")
                               % {"max": rule.max_bytes, "w": current.width, "h": current.height,
                                  "q": QUALITY_FLOOR})
        # JPEG size grows roughly with the pixel count: jump close to the size that fits, then step.
        estimate = math.sqrt(rule.max_bytes / floor_bytes) * 0.97
        current = scaled(current, min(estimate, DOWNSCALE_STEP), rule)


def process(data: bytes, kind: str) -> ProcessedImage:
    """One image a device sent, made to meet the rule of ``kind`` (FACE_PANEL or SNAPSHOT)."""
    rule = RULES[kind]
    return fit(decode(data, rule), rule)


def smallest(image: Image.Image, rule: ImageRule) -> Image.Image:
    """``image`` scaled down to the smallest size that still meets the minimum."""
    factor = minimum_scale(rule, image.width, image.height)
    return scaled(image, factor, rule) if factor < 1 else image


def pass_record_images(capture: bytes, face_crop: bytes | None = None) -> tuple[ProcessedImage, ProcessedImage]:
    """(small, big) of a pass record (interface 3): the small one from the face crop when the device
    sent one, else from the capture, at the smallest size that meets the minimum; the big one from the
    capture at the largest size that fits. Both meet the face-panel rule."""
    rule = RULES[FACE_PANEL]
    try:
        upright = decode(capture, rule)
        big = fit(upright, rule)
    except ImageRefused as exc:
        exc.source = "capture"
        raise
    if face_crop is None:
        return fit(smallest(upright, rule), rule), big
    try:
        return fit(smallest(decode(face_crop, rule), rule), rule), big
    except ImageRefused as exc:
        exc.source = "face_crop"
        raise
