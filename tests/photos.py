"""Generated photographs for the image pipeline's tests and benchmark.

Flat colours compress to nothing and make every size limit trivially met, so these images carry
what a camera frame carries: smooth gradients, shapes with edges, a slight blur (the lens), and sensor noise
(σ≈12 at the default strength: 40 blended at 0.3). Their JPEG sizes are in the range of real frames (a
1920x1080 one is about 0.9 MB at quality 92): what bench/bench_images.py and the ingest benches feed the pipeline.
"""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageFilter


def photo(width: int, height: int, *, seed: int = 1, noise: float = 40.0) -> Image.Image:
    """An RGB 'scene': a sky-to-ground gradient, some buildings and a face-sized ellipse, with noise."""
    rnd = random.Random(seed)
    gradient = Image.linear_gradient("L").resize((width, height))
    base = Image.merge("RGB", (
        gradient.point(lambda v: 90 + v // 3),
        gradient.point(lambda v: 120 + v // 4),
        gradient.point(lambda v: 200 - v // 2),
    ))
    draw = ImageDraw.Draw(base)
    for _ in range(24):
        x0, y0 = rnd.randrange(width), rnd.randrange(height // 3, height)
        x1, y1 = x0 + rnd.randrange(width // 20, width // 4), y0 + rnd.randrange(height // 10, height // 2)
        colour = tuple(rnd.randrange(40, 220) for _ in range(3))
        draw.rectangle((x0, y0, x1, y1), fill=colour, outline=(20, 20, 20), width=max(1, width // 400))
    cx, cy, r = width // 2, height // 2, min(width, height) // 6
    draw.ellipse((cx - r, cy - int(r * 1.3), cx + r, cy + int(r * 1.3)), fill=(224, 180, 150))
    base = base.filter(ImageFilter.GaussianBlur(1))
    grain = Image.merge("RGB", [Image.effect_noise((width, height), noise) for _ in range(3)])
    # effect_noise is centred on 128: blend keeps the scene and adds grain of the chosen strength.
    return Image.blend(base, grain, 0.3)


def jpeg_bytes(image: Image.Image, quality: int = 92, **save_args) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, **save_args)
    return buffer.getvalue()


def png_bytes(image: Image.Image, compress_level: int = 1) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def rotated_phone_jpeg(width: int, height: int, *, seed: int = 3) -> bytes:
    """A landscape-stored JPEG whose EXIF says 'rotate 90° clockwise' (orientation 6), as phones do:
    the upright picture is ``height`` x ``width``. The top of the upright picture is marked red."""
    upright = photo(height, width, seed=seed)
    ImageDraw.Draw(upright).rectangle((0, 0, height, width // 10), fill=(255, 0, 0))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # undone by orientation 6
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    exif[0x010F] = "PhoneMaker"  # Make: must not survive the pipeline
    return jpeg_bytes(stored, exif=exif.tobytes())


def png_with_alpha(width: int, height: int, *, seed: int = 4) -> bytes:
    image = photo(width, height, seed=seed).convert("RGBA")
    alpha = Image.new("L", (width, height), 255)
    ImageDraw.Draw(alpha).rectangle((0, 0, width // 3, height), fill=0)  # left third transparent
    image.putalpha(alpha)
    return png_bytes(image)


def bomb_png(width: int = 10_000, height: int = 5_000) -> bytes:
    """A 50-megapixel PNG that is tiny on the wire: one colour compresses to almost nothing."""
    return png_bytes(Image.new("L", (width, height), 0), compress_level=9)


# What Pillow's exif_transpose does to a stored picture for each EXIF orientation, inverted: the stored
# picture of an upright one (flips and transposes undo themselves; the two quarter turns swap).
_STORED_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def oriented_jpeg(width: int, height: int, orientation: int, *, seed: int = 5) -> bytes:
    """A camera JPEG whose upright picture is ``width`` x ``height`` with a red square at its top left, stored
    so that the EXIF ``orientation`` (1–8) makes it upright."""
    upright = photo(width, height, seed=seed)
    ImageDraw.Draw(upright).rectangle((0, 0, width // 8, height // 8), fill=(255, 0, 0))
    if orientation == 1:
        return jpeg_bytes(upright)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return jpeg_bytes(upright.transpose(_STORED_FOR_ORIENTATION[orientation]), exif=exif.tobytes())


def with_metadata(jpeg: bytes) -> bytes:
    """``jpeg`` with what cameras and phones add: EXIF (maker, GPS), XMP, an ICC profile, a comment, and bytes
    after the end of the picture."""
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    exif[0x8825] = {1: "N", 2: (30.0, 39.0, 36.0)}  # GPS: latitude of Chengdu
    xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta><rdf:Description who='resident'/></x:xmpmeta>"
    icc = b"ICC_PROFILE\0\x01\x01" + b"\0" * 128

    def segment(marker: int, payload: bytes) -> bytes:
        return bytes((0xFF, marker)) + (len(payload) + 2).to_bytes(2, "big") + payload

    extra = (segment(0xE1, exif.tobytes()) + segment(0xE1, xmp) + segment(0xE2, icc) + segment(0xFE, b"room 3-2-101, Zhang San"))
    return jpeg[:2] + extra + jpeg[2:] + b"vendor trailer after EOI"
