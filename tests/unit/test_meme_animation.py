"""Animated backgrounds: every frame captioned, timing and looping kept, no smearing."""

from __future__ import annotations

import io

import pytest
from meme_support import count, decode, ink, installed_fonts, outside
from PIL import Image, ImageChops, ImageDraw

from bot.memes import Template, classic_template, load_background, render, render_preview
from bot.memes.encode import gif_frame_count

# One box for the first half of the animation, another for the second.
HALF_AND_HALF = Template.build(
    id="timed", name="Timed",
    boxes=[{"anchor_y": 0.0, "scale_y": 0.4, "stop": 0.5},
           {"anchor_y": 0.6, "scale_y": 0.4, "start": 0.5}],
)  # fmt: skip
COLOURS = [(200, 40, 40), (40, 160, 60), (40, 60, 200), (220, 200, 40), (120, 40, 160)]
DURATIONS = [40, 70, 100, 40, 250]


@pytest.fixture(scope="module", autouse=True)
def fonts():
    return installed_fonts()


def gif(frames: list[Image.Image], durations: list[int], **options) -> bytes:
    buffer = io.BytesIO()
    frames[0].save(
        buffer, "GIF", save_all=True, append_images=frames[1:], duration=durations, **options
    )
    return buffer.getvalue()


def flat_gif(loop: int | None = 3) -> bytes:
    frames = [Image.new("RGB", (240, 180), colour) for colour in COLOURS]
    return gif(frames, DURATIONS, **({} if loop is None else {"loop": loop}))


def frames_of(data: bytes) -> list[tuple[Image.Image, int]]:
    image = Image.open(io.BytesIO(data))
    out = []
    for number in range(image.n_frames):
        image.seek(number)
        out.append((image.convert("RGB"), image.info["duration"]))
    return out


def test_every_frame_is_captioned_and_keeps_its_duration_and_the_loop_count():
    template = classic_template("Loop")
    meme = render(template, flat_gif(loop=3), ["top", "bottom"])
    assert meme.mime == "image/gif"
    assert (meme.frames, meme.duration_ms, meme.loop) == (5, sum(DURATIONS), 3)
    frames = frames_of(meme.data)
    assert [duration for _, duration in frames] == DURATIONS
    assert Image.open(io.BytesIO(meme.data)).info["loop"] == 3
    boxes = [template.boxes[i].pixel_box(240, 180) for i in (0, 1)]
    for (frame, _), colour in zip(frames, COLOURS, strict=True):
        mask = ink(frame, colour, threshold=12)  # palette rounding aside
        for left, top, width, height in boxes:
            assert count(mask.crop((left, top, left + width, top + height))) > 100
        assert count(mask) == sum(
            count(mask.crop((left, top, left + width, top + height)))
            for left, top, width, height in boxes
        )


def test_an_animation_that_plays_once_still_plays_once():
    meme = render(classic_template("Once"), flat_gif(loop=None), ["a", "b"])
    assert meme.loop is None
    assert "loop" not in Image.open(io.BytesIO(meme.data)).info


def test_boxes_show_only_during_their_part_of_the_animation():
    template = HALF_AND_HALF
    meme = render(template, flat_gif(), ["first", "second"])
    starts = [0, 40, 110, 210, 250]  # of 500 ms: frames 0-2 start before 0.5, 3-4 after
    first_box = (0, 0, 240, 72)
    second_box = (0, 108, 240, 180)
    for (frame, _), colour, start in zip(frames_of(meme.data), COLOURS, starts, strict=True):
        mask = ink(frame, colour, threshold=12)
        if start / 500 < 0.5:
            assert count(mask.crop(first_box)) > 100 and outside(mask, first_box) == 0
        else:
            assert count(mask.crop(second_box)) > 100 and outside(mask, second_box) == 0


def test_overlays_follow_their_own_timing():
    template = Template.build(
        id="o", name="o", boxes=[{"scale_y": 0.2}],
        overlays=[{"image": "star", "center_x": 0.5, "center_y": 0.6, "scale": 0.3, "start": 0.4}],
    )  # fmt: skip
    star = io.BytesIO()
    Image.new("RGB", (20, 20), (255, 255, 255)).save(star, "PNG")
    meme = render(template, flat_gif(), [""], overlays={"star": star.getvalue()})
    shown = [frame.getpixel((120, 108)) == (255, 255, 255) for frame, _ in frames_of(meme.data)]
    assert shown == [False, False, False, True, True]  # frames start at 0, .08, .22, .42, .5


def test_transparent_frames_do_not_smear_into_each_other():
    # Frame 0: a red square on the left; frame 1 clears to transparent (disposal 2) and
    # draws a blue square on the right. A writer that forgot to clear would show both.
    red = Image.new("RGBA", (120, 80), (0, 0, 0, 0))
    ImageDraw.Draw(red).rectangle((5, 30, 35, 60), fill=(255, 0, 0, 255))
    blue = Image.new("RGBA", (120, 80), (0, 0, 0, 0))
    ImageDraw.Draw(blue).rectangle((85, 30, 115, 60), fill=(0, 0, 255, 255))
    source = gif([red, blue], [100, 100], loop=0, disposal=2)
    expected = load_background(source).frames
    assert expected[1].getpixel((20, 45))[3] == 0  # Pillow shows the source cleared too

    template = Template.build(id="t", name="t", boxes=[{"scale_y": 0.3}])
    meme = render(template, source, ["hi"])
    out = Image.open(io.BytesIO(meme.data))
    out.seek(1)
    second = out.convert("RGBA")
    assert second.getpixel((20, 45))[3] == 0  # no red left behind
    assert second.getpixel((100, 45))[:3] == (0, 0, 255)
    out.seek(0)
    first = out.convert("RGBA")
    assert first.getpixel((20, 45))[:3] == (255, 0, 0)
    assert first.getpixel((100, 45))[3] == 0


def test_frames_outside_the_captions_are_the_source_frames():
    frames = []
    for number in range(6):
        frame = Image.new("RGB", (160, 120), (30, 30, 30))
        ImageDraw.Draw(frame).ellipse((number * 20, 50, number * 20 + 30, 80), fill=(250, 200, 0))
        frames.append(frame)
    source = gif(frames, [60] * 6, loop=0)
    template = Template.build(id="t", name="t", boxes=[{"scale_y": 0.3}])
    meme = render(template, source, ["moving"])
    for (frame, _), original in zip(
        frames_of(meme.data), load_background(source).frames, strict=True
    ):
        below = (0, 40, 160, 120)  # under the caption box: the source, palette aside
        assert _max_difference(frame.crop(below), original.crop(below)) <= 8


def _max_difference(a: Image.Image, b: Image.Image) -> int:
    return max(high for _, high in ImageChops.difference(a, b).getextrema())


def test_identical_frames_merged_by_the_writer_are_counted_honestly():
    frames = [Image.new("RGB", (64, 64), c) for c in ["red", "red", "blue"]]
    meme = render(classic_template("x"), gif(frames, [100, 100, 100], loop=0), ["a"])
    assert meme.frames == Image.open(io.BytesIO(meme.data)).n_frames == 2
    assert meme.duration_ms == 300
    assert [d for _, d in frames_of(meme.data)] == [200, 100]


def test_a_preview_of_an_animation_is_its_first_frame_with_every_box_shown():
    template = HALF_AND_HALF
    preview = render_preview(template, flat_gif(), ["first", "second"])
    assert preview.frames == 1 and preview.mime == "image/jpeg"
    mask = ink(decode(preview), COLOURS[0], threshold=40)
    assert count(mask.crop((0, 0, 240, 72))) > 100
    assert count(mask.crop((0, 108, 240, 180))) > 100


def test_the_frame_count_reader_agrees_with_pillow():
    data = flat_gif()
    assert gif_frame_count(data) == Image.open(io.BytesIO(data)).n_frames == 5
