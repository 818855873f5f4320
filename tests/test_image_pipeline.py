"""The image pipeline on generated photographs: every output is decoded again and checked against
the city's rule for its kind (JPEG, minimum resolution, byte limit, upright, no metadata)."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageStat

from devices import images
from tests import photos
from tests.device_helpers import capture

# Reasons are matched in English here; the portal's default language is Chinese.
pytestmark = pytest.mark.usefixtures("english")


def check_meets(data: bytes, kind: str) -> Image.Image:
    rule = images.RULES[kind]
    assert len(data) <= rule.max_bytes, f"{len(data)} bytes > {rule.max_bytes}"
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    assert image.mode == "RGB"
    assert rule.meets_minimum(*image.size), image.size
    assert not image.getexif(), "metadata must be stripped"
    assert "icc_profile" not in image.info and "comment" not in image.info
    image.load()  # decodes completely: not truncated
    return image


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (2688, 1520), (1280, 960), (4032, 3024), (1200, 800)])
@pytest.mark.parametrize("kind", [images.FACE_PANEL, images.SNAPSHOT])
def test_it_makes_jpeg_captures_meet_the_rule(width: int, height: int, kind: str) -> None:
    source = capture(width, height)
    assert len(source) > images.RULES[kind].max_bytes  # the input really is too big as sent
    result = images.process(source, kind)
    image = check_meets(result.data, kind)
    assert image.size == (result.width, result.height)
    assert images.QUALITY_FLOOR <= result.quality <= images.QUALITY_MAX
    # Never larger than the source, and the aspect ratio is kept.
    assert image.width <= width and image.height <= height
    assert abs(image.width / image.height - width / height) < 0.01


def test_it_accepts_an_image_exactly_at_the_minimum() -> None:
    result = images.process(capture(800, 600), images.FACE_PANEL)
    assert check_meets(result.data, images.FACE_PANEL).size == (800, 600)


def test_it_converts_png_with_alpha_to_rgb_on_white() -> None:
    result = images.process(photos.png_with_alpha(1600, 1000), images.SNAPSHOT)
    image = check_meets(result.data, images.SNAPSHOT)
    # The transparent left third became white, not black.
    r, g, b = image.getpixel((5, image.height // 2))
    assert min(r, g, b) > 230


def test_it_converts_a_grayscale_png() -> None:
    gray = photos.photo(1300, 900).convert("L")
    result = images.process(photos.png_bytes(gray), images.SNAPSHOT)
    check_meets(result.data, images.SNAPSHOT)


def test_it_applies_the_exif_orientation_and_strips_it() -> None:
    # Stored 1600x1200 with orientation 6: the upright photo is portrait 1200x1600, red at the top.
    result = images.process(photos.rotated_phone_jpeg(1600, 1200), images.FACE_PANEL)
    image = check_meets(result.data, images.FACE_PANEL)
    assert image.height > image.width
    r, g, b = image.getpixel((image.width // 2, 3))
    assert r > 200 and g < 60 and b < 60


def test_it_decodes_large_jpegs_at_a_reduced_scale_but_not_below_the_minimum() -> None:
    # 4032x3024 can be decoded at 1/4 (1008x756) for a face panel, and still meets 800x600.
    result = images.process(capture(4032, 3024), images.FACE_PANEL)
    assert (result.width, result.height) == (1008, 756)


def test_it_downscales_when_no_quality_fits_but_never_below_the_minimum() -> None:
    noisy = photos.jpeg_bytes(photos.photo(1600, 1200, noise=80), quality=95)
    result = images.process(noisy, images.FACE_PANEL)
    image = check_meets(result.data, images.FACE_PANEL)
    assert image.width < 1600


def test_it_refuses_an_image_that_fits_at_no_size() -> None:
    # Pure noise at the minimum size: not even the quality floor fits in 100 kB.
    noise = Image.merge("RGB", [Image.effect_noise((800, 600), 128) for _ in range(3)])
    with pytest.raises(images.ImageRefused, match="does not fit"):
        images.process(photos.jpeg_bytes(noise, quality=95), images.FACE_PANEL)


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "empty"),
    (b"GIF89a" + b"\0" * 100, "not a JPEG or PNG"),
    (b"\xff\xd8\xff\xe0 this is not really a jpeg", "corrupt or truncated"),
])
def test_it_refuses_what_is_not_an_image(data: bytes, reason: str) -> None:
    with pytest.raises(images.ImageRefused, match=reason):
        images.process(data, images.FACE_PANEL)


def test_it_refuses_a_truncated_jpeg() -> None:
    data = capture(1920, 1080)
    with pytest.raises(images.ImageRefused, match="corrupt or truncated"):
        images.process(data[: len(data) // 2], images.FACE_PANEL)


def test_it_refuses_a_tiny_image_instead_of_upscaling() -> None:
    with pytest.raises(images.ImageRefused, match="640x480; at least 800x600"):
        images.process(capture(640, 480), images.FACE_PANEL)
    with pytest.raises(images.ImageRefused, match="1000x750; at least 1200x800"):
        images.process(capture(1000, 750), images.SNAPSHOT)


def test_it_refuses_a_50_megapixel_bomb_before_decoding_it() -> None:
    bomb = photos.bomb_png(10_000, 5_000)
    assert len(bomb) < 200_000  # small on the wire: only the header tells
    with pytest.raises(images.ImageRefused, match=r"50\.0 megapixels"):
        images.process(bomb, images.SNAPSHOT)


def test_it_refuses_an_oversized_upload() -> None:
    with pytest.raises(images.ImageRefused, match="at most"):
        images.process(b"\xff\xd8" + b"\0" * (images.MAX_INPUT_BYTES + 1), images.SNAPSHOT)


def test_it_makes_a_small_and_a_big_pass_image_from_the_capture() -> None:
    small, big = images.pass_record_images(capture(2688, 1520))
    small_image = check_meets(small.data, images.FACE_PANEL)
    big_image = check_meets(big.data, images.FACE_PANEL)
    assert small_image.height == 600 and small_image.width < big_image.width
    assert len(small.data) < len(big.data)


def test_it_makes_the_small_pass_image_from_the_face_crop() -> None:
    crop = photos.jpeg_bytes(photos.photo(900, 1100, seed=9))  # portrait face crop
    small, big = images.pass_record_images(capture(1920, 1080), crop)
    small_image = check_meets(small.data, images.FACE_PANEL)
    assert small_image.height > small_image.width  # from the portrait crop, not the landscape capture
    check_meets(big.data, images.FACE_PANEL)


def test_it_says_which_pass_image_was_refused() -> None:
    with pytest.raises(images.ImageRefused) as refused:
        images.pass_record_images(capture(1920, 1080), capture(400, 300))
    assert refused.value.source == "face_crop"
    with pytest.raises(images.ImageRefused) as refused:
        images.pass_record_images(b"junk")
    assert refused.value.source == "capture"


def test_it_keeps_the_limits_in_one_table() -> None:
    assert images.RULES[images.FACE_PANEL] == images.ImageRule(800, 600, 100_000)
    assert images.RULES[images.SNAPSHOT] == images.ImageRule(1200, 800, 200_000)


def test_it_reads_the_minimum_as_width_by_height_of_the_upright_picture() -> None:
    portrait = photos.jpeg_bytes(photos.photo(600, 800))
    with pytest.raises(images.ImageRefused, match="600x800; at least 800x600"):
        images.process(portrait, images.FACE_PANEL)
    # Stored 1600x1000 but turned by EXIF into 1000x1600: too narrow for a snapshot.
    with pytest.raises(images.ImageRefused, match="1000x1600; at least 1200x800"):
        images.process(photos.rotated_phone_jpeg(1600, 1000), images.SNAPSHOT)


def sixteen_bit_png(width: int, height: int) -> bytes:
    grey = photos.photo(width, height).convert("L")
    wide = grey.convert("I").point(lambda value: value * 256)  # the full 16-bit range
    buffer = io.BytesIO()
    wide.convert("I;16").save(buffer, format="PNG")
    return buffer.getvalue()


def palette_png_with_transparency(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    photos.photo(width, height).convert("P").save(buffer, format="PNG", transparency=0)
    return buffer.getvalue()


@pytest.mark.parametrize("make", [
    lambda: photos.jpeg_bytes(photos.photo(1300, 900).convert("CMYK")),
    lambda: photos.jpeg_bytes(photos.photo(1300, 900).convert("L")),
    lambda: photos.png_bytes(photos.photo(1300, 900).convert("P")),
    lambda: palette_png_with_transparency(1300, 900),
    lambda: photos.png_bytes(photos.photo(1300, 900).convert("LA")),
    lambda: sixteen_bit_png(1300, 900),
], ids=["cmyk-jpeg", "grey-jpeg", "palette-png", "palette-png-transparent", "grey-alpha-png", "16-bit-png"])
def test_it_converts_every_colour_mode_to_rgb_jpeg(make) -> None:
    source = make()
    image = check_meets(images.process(source, images.SNAPSHOT).data, images.SNAPSHOT)
    original = Image.open(io.BytesIO(source))
    original.load()
    if original.mode == "I;16":
        # Brightness kept, not clipped to white: the mean of the output is that of the 8-bit scene.
        expected = ImageStat.Stat(photos.photo(1300, 900).convert("L")).mean[0]
        assert abs(ImageStat.Stat(image.convert("L")).mean[0] - expected) < 8
