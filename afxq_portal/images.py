"""Decoding an image from outside (a device, the city, an Excel .zip) to an upright RGB picture: the one rule.

JPEG or PNG only; a decompression bomb, or more pixels than the caller's cap, is refused before any pixel is
decoded (Pillow only warns below twice its limit); the caller's minimum is checked on the upright size; a JPEG
is decoded at a reduced scale when the caller's box allows it (``draft``); the EXIF orientation is applied; the
result is RGB, with transparent parts on white (a black background hides dark hair) and 16-bit grey scaled
rather than clipped. Nothing of the input's metadata is carried: callers encode a fresh JPEG from the pixels.

What each caller keeps to itself: its byte cap, its pixel cap, its minimum and message (``check``), how small a
JPEG may be decoded (``draft``), and what it encodes.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext
from django.utils.translation import gettext_noop as N_
from PIL import Image, ImageOps, UnidentifiedImageError

ACCEPTED_FORMATS = ("JPEG", "PNG")
EXIF_ORIENTATION = 0x0112
# Orientations 5–8 turn the picture a quarter: the upright width is the stored height.
_TURNED = (5, 6, 7, 8)


class UnusableImage(ValueError):
    """The bytes are not a picture we can decode. ``str(exc)`` is the reason in the active language,
    :meth:`in_english` the same reason untranslated (for messages kept in English)."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message)
        self.message, self.params = message, params

    def __str__(self) -> str:
        return gettext(self.message) % self.params if self.params else gettext(self.message)

    def in_english(self) -> str:
        return self.message % self.params if self.params else self.message


def decode_upright(data: bytes, *, max_pixels: int, check: Callable[[int, int], None] | None = None,
                   draft: Callable[[int, int], tuple[int, int] | None] | None = None) -> Image.Image:
    """The picture in ``data`` (JPEG or PNG), upright and RGB, or UnusableImage.

    More than ``max_pixels`` is refused from the header. ``check(width, height)`` gets the upright size, before
    the pixels are decoded (a PNG's EXIF may follow them: its orientation is known only once decoded), and
    raises the caller's own refusal (a minimum size). ``draft(width, height)`` gets the same size and returns
    the smallest upright box the caller needs, or None: a JPEG is then decoded at 1/2, 1/4 or 1/8 scale when
    that still covers the box."""
    with warnings.catch_warnings():
        # Pillow warns (rather than fails) between MAX_IMAGE_PIXELS and twice that: make it fail.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS))
        except UnidentifiedImageError as exc:
            raise UnusableImage(N_("not a JPEG or PNG image")) from exc
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise UnusableImage(N_("the image has too many pixels (decompression bomb)")) from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise UnusableImage(N_("the image is corrupt or truncated")) from exc
        width, height = image.size
        if width * height > max_pixels:
            raise UnusableImage(N_("the image is %(w)dx%(h)d pixels (%(mp).1f megapixels), more than %(max)d"),
                                w=width, h=height, mp=width * height / 1e6, max=max_pixels)
        try:
            turned = image.getexif().get(EXIF_ORIENTATION) in _TURNED
        except (OSError, SyntaxError, ValueError) as exc:
            raise UnusableImage(N_("the image is corrupt or truncated")) from exc
        upright_size = (height, width) if turned else (width, height)
        if check is not None:
            check(*upright_size)
        box = draft(*upright_size) if draft is not None and image.format == "JPEG" else None
        if box is not None:
            # draft() keeps both sides >= the box, given in the stored (not yet turned) orientation.
            image.draft("RGB", (box[1], box[0]) if turned else box)
        try:
            image.load()
            # In place: without a turn to apply, exif_transpose would otherwise return a full copy of the pixels.
            ImageOps.exif_transpose(image, in_place=True)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise UnusableImage(N_("the image is corrupt or truncated")) from exc
    return to_rgb(image)


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB without alpha: transparent parts become white (a black background hides dark hair)."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L"):
        # 16-bit grey (some PNGs): convert("RGB") would clip everything above 255 to white.
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB") if image.mode != "RGB" else image
