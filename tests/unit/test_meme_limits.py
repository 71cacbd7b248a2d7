"""Output over the size limit is re-encoded under it, and says what was done."""

from __future__ import annotations

import io

import pytest
from meme_support import decode, installed_fonts
from PIL import Image

from bot.memes import ImageLimits, OutputTooLarge, RenderOptions, classic_template, render
from bot.memes.errors import BadImage


@pytest.fixture(scope="module", autouse=True)
def fonts():
    return installed_fonts()


def noise(size: tuple[int, int], fmt: str, **options) -> bytes:
    """Random colour noise: the hardest picture to compress."""
    channels = [Image.effect_noise(size, 120) for _ in range(3)]
    buffer = io.BytesIO()
    Image.merge("RGB", channels).save(buffer, fmt, **options)
    return buffer.getvalue()


def test_a_jpeg_over_the_limit_is_re_encoded_at_lower_quality_under_it():
    source = noise((600, 600), "JPEG", quality=95)
    full = render(classic_template("x"), source, ["top", "bottom"])
    limit = int(len(full.data) * 0.7)
    meme = render(
        classic_template("x"), source, ["top", "bottom"], options=RenderOptions(max_bytes=limit)
    )
    assert len(meme.data) <= limit < len(full.data)
    assert (meme.width, meme.height) == (600, 600)
    assert len(meme.adjustments) == 1
    assert meme.adjustments[0].startswith("JPEG quality lowered to ")


def test_when_quality_is_not_enough_the_picture_is_scaled_down():
    source = noise((600, 600), "JPEG", quality=95)
    limit = 60_000
    meme = render(classic_template("x"), source, ["a"], options=RenderOptions(max_bytes=limit))
    assert len(meme.data) <= limit
    assert meme.width < 600 and (meme.width, meme.height) == decode(meme).size
    assert meme.adjustments[-1] == (
        f"scaled down to {meme.width}×{meme.height} to stay under {limit / 1_048_576:g} MB"
    )


def test_a_png_over_the_limit_goes_to_256_colours_then_scales_down():
    source = noise((400, 400), "PNG")
    options = RenderOptions(format="png", max_bytes=150_000)
    meme = render(classic_template("x"), source, ["a"], options=options)
    assert len(meme.data) <= 150_000 and meme.mime == "image/png"
    assert meme.adjustments[0].startswith("reduced to 256 colours")


def test_an_animation_over_the_limit_uses_fewer_colours_then_scales_down():
    frames = [Image.merge("RGB", [Image.effect_noise((200, 200), 120)] * 3) for _ in range(6)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    full = render(classic_template("x"), buffer.getvalue(), ["a", "b"])
    limit = int(len(full.data) * 0.6)
    meme = render(
        classic_template("x"), buffer.getvalue(), ["a", "b"], options=RenderOptions(max_bytes=limit)
    )
    assert len(meme.data) <= limit < len(full.data)
    assert meme.frames == 6 and meme.mime == "image/gif"
    assert meme.adjustments[0].startswith("reduced to ") and "colours" in meme.adjustments[0]


def test_a_limit_nothing_can_meet_is_refused_in_words():
    with pytest.raises(OutputTooLarge, match=r"even after shrinking it; the limit is 0 MB"):
        render(
            classic_template("x"),
            noise((300, 300), "JPEG"),
            ["a"],
            options=RenderOptions(max_bytes=500),
        )


def test_large_backgrounds_are_scaled_to_the_largest_side_before_drawing():
    buffer = io.BytesIO()
    Image.new("RGB", (4000, 1000), "white").save(buffer, "JPEG")
    meme = render(classic_template("x"), buffer.getvalue(), ["a"])
    assert (meme.width, meme.height) == (2048, 512)


def test_an_animation_with_too_many_frames_is_refused_before_decoding():
    frames = [Image.new("RGB", (8, 8), (i, 0, 0)) for i in range(12)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=20)
    options = RenderOptions(limits=ImageLimits(max_frames=10))
    with pytest.raises(BadImage, match="The animation has 12 frames; the limit is 10"):
        render(classic_template("x"), buffer.getvalue(), ["a"], options=options)
