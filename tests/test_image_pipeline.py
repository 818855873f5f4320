"""The image pipeline on generated photographs: every output is decoded again and checked against
the city's rule for its kind (JPEG, minimum resolution, byte limit, upright, no metadata)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from functools import cache

import pytest
from PIL import Image, ImageStat

from devices import images
from tests import photos
from tests.device_helpers import capture

# Reasons are matched in English here; the portal's default language is Chinese.
pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture(autouse=True)
def forgotten() -> Iterator[None]:
    """Each test starts with nothing remembered of earlier images (the fits are per process)."""
    images.MEMORY.clear()
    yield
    images.MEMORY.clear()


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


@pytest.fixture
def encodes(monkeypatch) -> list[tuple[tuple[int, int], int, int]]:
    """Every JPEG encode of the pipeline: (size, quality, bytes)."""
    seen: list[tuple[tuple[int, int], int, int]] = []
    real = images.encode

    def encode(image: Image.Image, quality: int) -> bytes:
        data = real(image, quality)
        seen.append((image.size, quality, len(data)))
        return data

    monkeypatch.setattr(images, "encode", encode)
    return seen


def test_a_cameras_next_frame_takes_one_encode_per_output(encodes) -> None:
    images.pass_record_images(capture(1920, 1080, seed=1), hint="point-1")
    encodes.clear()
    small, big = images.pass_record_images(capture(1920, 1080, seed=2), hint="point-1")
    assert len(encodes) == 2, encodes
    check_meets(small.data, images.FACE_PANEL)
    check_meets(big.data, images.FACE_PANEL)
    assert big.width < 1920  # this noisy frame fits only downscaled: still one encode


def test_a_prediction_over_the_limit_is_corrected(encodes) -> None:
    rule = images.RULES[images.FACE_PANEL]
    # What was remembered says this point's frames are tiny: the prediction is the best quality at full size.
    images.MEMORY.put(("point-1", rule, 1280, 720), images.Encoded(1280, 720, 50, 1_000))
    result = images.process(capture(1280, 720), images.FACE_PANEL, hint="point-1")
    check_meets(result.data, images.FACE_PANEL)
    assert encodes[0] == ((1280, 720), images.QUALITY_MAX, encodes[0][2]) and encodes[0][2] > rule.max_bytes
    assert result.quality >= images.QUALITY_FLOOR and len(result.data) >= rule.max_bytes * images.ACCEPT
    # Corrected in memory too: the next frame takes one encode.
    encodes.clear()
    check_meets(images.process(capture(1280, 720, seed=2), images.FACE_PANEL, hint="point-1").data,
                images.FACE_PANEL)
    assert len(encodes) == 1, encodes


def test_a_prediction_far_under_the_limit_is_corrected_to_the_full_size(encodes) -> None:
    rule = images.RULES[images.SNAPSHOT]
    # Remembered as very heavy: the prediction is a downscale; the frame really fits at its full size.
    images.MEMORY.put(("point-2", rule, 1920, 1080), images.Encoded(1920, 1080, 50, 2_000_000))
    result = images.process(capture(1920, 1080), images.SNAPSHOT, hint="point-2")
    check_meets(result.data, images.SNAPSHOT)
    assert (result.width, result.height) == (1920, 1080), encodes
    assert encodes[0][0][0] < 1920


def test_a_prediction_that_never_settles_falls_back_to_the_exact_search(monkeypatch) -> None:
    monkeypatch.setattr(images, "MAX_ENCODES", 1)
    rule = images.RULES[images.FACE_PANEL]
    images.MEMORY.put(("point-3", rule, 1280, 720), images.Encoded(1280, 720, 50, 1_000))
    result = images.process(capture(1280, 720), images.FACE_PANEL, hint="point-3")
    exact = images.fit_by_search(images.decode(capture(1280, 720), rule), rule)
    assert (result.width, result.height, result.quality, result.data) == (
        exact.width, exact.height, exact.quality, exact.data)


def test_the_memory_keeps_a_bounded_number_of_fits() -> None:
    memory = images.Memory(capacity=2)
    for n in range(3):
        memory.put(n, images.Encoded(800, 600, 80, n))
    assert memory.get(0) is None and memory.get(1) is not None and memory.get(2) is not None


def light_capture(width: int = 1000, height: int = 700, quality: int = 85, **save_args) -> bytes:
    """A capture that already meets the face-panel rule as sent: a quiet scene, under 100 kB."""
    data = photos.jpeg_bytes(photos.photo(width, height, noise=5), quality=quality, **save_args)
    assert len(data) < 90_000
    return data


def test_a_capture_that_meets_the_rule_is_passed_through_without_its_metadata(encodes) -> None:
    plain = light_capture()
    source = photos.with_metadata(plain)
    result = images.process(source, images.FACE_PANEL)
    assert not encodes  # not re-encoded
    image = check_meets(result.data, images.FACE_PANEL)
    assert "xmp" not in image.info and "exif" not in image.info
    for secret in (b"CameraMaker", b"Zhang San", b"xmpmeta", b"ICC_PROFILE", b"vendor trailer"):
        assert secret not in result.data
    # The same pixels: the entropy-coded data is copied as it was.
    original = Image.open(io.BytesIO(plain))
    assert image.tobytes() == original.tobytes()
    assert (result.width, result.height) == (1000, 700) and result.quality == 85


def test_the_big_pass_image_of_a_light_capture_is_the_capture_passed_through(encodes) -> None:
    source = photos.with_metadata(light_capture())
    small, big = images.pass_record_images(source)
    assert {size for size, _quality, _bytes in encodes} == {(small.width, small.height)}  # only the small one
    assert (big.width, big.height) == (1000, 700) and b"CameraMaker" not in big.data
    check_meets(big.data, images.FACE_PANEL)
    assert check_meets(small.data, images.FACE_PANEL).height == 600


@cache
def turned_light_capture() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return light_capture(700, 1000, exif=exif.tobytes())


@pytest.mark.parametrize(("make", "why"), [
    (turned_light_capture, "not upright as stored"),
    (lambda: light_capture(quality=30), "encoded below the quality floor"),
    (lambda: light_capture(progressive=True), "progressive"),
    (lambda: photos.jpeg_bytes(photos.photo(1000, 700, noise=5).convert("L")), "not RGB"),
    (lambda: light_capture(760, 700), "below the minimum"),
], ids=["turned", "low-quality", "progressive", "grey", "small"])
def test_a_capture_that_does_not_meet_the_rule_as_sent_is_not_passed_through(make, why, encodes) -> None:
    try:
        result = images.process(make(), images.FACE_PANEL)
    except images.ImageRefused as exc:
        assert "at least 800x600" in str(exc), why
        return
    assert encodes, why  # re-encoded
    check_meets(result.data, images.FACE_PANEL)
    assert result.quality >= images.QUALITY_FLOOR


def test_a_truncated_capture_within_the_limit_is_refused_not_passed_through() -> None:
    data = light_capture()
    with pytest.raises(images.ImageRefused, match="corrupt or truncated"):
        images.process(data[: len(data) * 2 // 3], images.FACE_PANEL)


@pytest.mark.parametrize("cut", [b"", b"\xff\xd8", b"\xff\xd8\xff\xe1\x00", b"\xff\xd8\x00\x00"])
def test_cutting_metadata_refuses_what_is_not_a_complete_jpeg(cut: bytes) -> None:
    with pytest.raises(ValueError):
        images.without_metadata(cut)


def assert_upright(image: Image.Image) -> None:
    """The red square of photos.oriented_jpeg is at the top left of the upright picture, and only there."""
    def red(x: int, y: int) -> bool:
        r, g, b = image.getpixel((x, y))
        return r > 200 and g < 70 and b < 70
    w, h = image.size
    assert red(3, 3) and not red(w - 4, 3) and not red(3, h - 4) and not red(w - 4, h - 4)


@cache
def oriented(width: int, height: int, orientation: int) -> bytes:
    return photos.oriented_jpeg(width, height, orientation)


@pytest.mark.parametrize("orientation", [1, 2, 3, 4, 5, 6, 7, 8])
@pytest.mark.parametrize(("width", "height"), [(1280, 720), (1920, 1080), (2688, 1520)])
def test_every_capture_size_and_orientation_meets_the_rule_first_and_next_frame(width, height, orientation) -> None:
    source = oriented(width, height, orientation)
    for frame in ("first", "next"):  # the next frame is made from what the first one taught
        small, big = images.pass_record_images(source, hint="point-1")
        for made in (small, big):
            image = check_meets(made.data, images.FACE_PANEL)
            assert_upright(image)
            assert abs(image.width / image.height - width / height) < 0.01, frame
        assert small.height == 600
        if images.RULES[images.SNAPSHOT].meets_minimum(width, height):
            snapshot = images.process(source, images.SNAPSHOT, hint="point-1")
            assert_upright(check_meets(snapshot.data, images.SNAPSHOT))


@pytest.mark.parametrize("kind", [images.FACE_PANEL, images.SNAPSHOT])
def test_a_reencoded_capture_carries_none_of_its_metadata(kind: str) -> None:
    # Pillow copies a source's COM segment into a new JPEG unless told not to.
    result = images.process(photos.with_metadata(capture(1920, 1080)), kind)
    check_meets(result.data, kind)
    for secret in (b"CameraMaker", b"Zhang San", b"xmpmeta", b"ICC_PROFILE", b"vendor trailer"):
        assert secret not in result.data
