"""The renderer, checked by measuring its pictures: captions inside their boxes, outlined,
shrunk to fit, any script drawn as real glyphs, rotated boxes, bad input refused in words."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from meme_support import (
    BACKGROUND,
    PNG,
    bands,
    coloured,
    count,
    decode,
    flat,
    ink,
    inside_polygon,
    installed_fonts,
    outside,
    rotated_rectangle,
)
from PIL import Image, ImageChops, ImageFilter

from bot.memes import (
    BadImage,
    RenderOptions,
    Template,
    TextBox,
    TextTooLong,
    TooManyTexts,
    classic_template,
    clear_caches,
    load_background,
    render,
    render_preview,
)


@pytest.fixture(scope="module", autouse=True)
def fonts():
    return installed_fonts()


def one_box(**box) -> Template:
    return Template.build(id="one", name="One box", boxes=[box])


def box_pixels(template: Template, size: tuple[int, int], index: int = 0):
    left, top, width, height = template.boxes[index].pixel_box(*size)
    return left, top, left + width, top + height


# -- captions stay inside their boxes -------------------------------------------------------


def test_caption_inks_inside_its_box_and_nowhere_else():
    template = one_box(anchor_x=0.1, anchor_y=0.3, scale_x=0.6, scale_y=0.25)
    meme = render(template, flat(400, 300), ["one does not simply walk into mordor"], options=PNG)
    mask = ink(decode(meme))
    assert count(mask) > 2000
    assert outside(mask, box_pixels(template, (400, 300))) == 0


def test_every_box_of_the_classic_layout_holds_its_own_caption():
    template = classic_template("Classic")
    meme = render(template, flat(500, 500), ["top text", "bottom text"], options=PNG)
    mask = ink(decode(meme))
    top, bottom = (box_pixels(template, (500, 500), i) for i in (0, 1))
    assert count(mask.crop(top)) > 500 and count(mask.crop(bottom)) > 500
    assert count(mask) == count(mask.crop(top)) + count(mask.crop(bottom))
    # the classic captions hug the top and the bottom edges of their boxes
    top_ink, bottom_ink = mask.crop(top).getbbox(), mask.crop(bottom).getbbox()
    assert top_ink[1] == 0 and bottom_ink[3] == bottom[3] - bottom[1]


words = st.sampled_from(
    ["meme", "WHEN", "the", "code", "compiles", "😀", "中文字", "👨‍👩‍👧", "ÉTÉ", "Ωμέγα",
     "supercalifragilisticexpialidocious", "🇫🇷", "gjpqy", "W", "—", "1️⃣", "שלום",
     "مرحبا", "ไทย", "Ꙭ"]
)  # fmt: skip


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.lists(words, min_size=1, max_size=25).map(" ".join),
    anchor=st.tuples(st.floats(0, 0.5), st.floats(0, 0.5)),
    scale=st.tuples(st.floats(0.05, 0.5), st.floats(0.03, 0.5)),
    align=st.sampled_from(["left", "center", "right"]),
    valign=st.sampled_from(["top", "middle", "bottom"]),
)
@example(  # found by this test: an RTL run measured in the wrong direction
    text="שלום meme code 😀 code", anchor=(0.0, 0.0), scale=(0.05078125, 0.0625),
    align="left", valign="top",
)  # fmt: skip
def test_no_text_ever_leaves_its_box(text, anchor, scale, align, valign):
    template = one_box(
        anchor_x=anchor[0], anchor_y=anchor[1], scale_x=scale[0], scale_y=scale[1],
        align=align, valign=valign,
    )  # fmt: skip
    meme = render(template, flat(360, 240), [text], options=PNG)
    mask = ink(decode(meme))
    assert outside(mask, box_pixels(template, (360, 240))) == 0


def test_long_text_shrinks_and_wraps_instead_of_overflowing():
    template = one_box(anchor_x=0.05, anchor_y=0.05, scale_x=0.9, scale_y=0.4)
    uncapped = RenderOptions(format="png", max_text_height=1.0)
    short = ink(decode(render(template, flat(400, 400), ["short"], options=uncapped)))
    long_text = " ".join(["a rather long caption that keeps going"] * 4)
    long = ink(decode(render(template, flat(400, 400), [long_text], options=uncapped)))
    box = box_pixels(template, (400, 400))
    assert outside(long, box) == 0
    short_lines, long_lines = bands(short), bands(long)
    assert len(short_lines) == 1 and len(long_lines) >= 4
    short_height = short_lines[0][1] - short_lines[0][0]
    long_height = max(b - a for a, b in long_lines)
    assert long_height < short_height / 2


def test_a_word_longer_than_the_box_is_broken_across_lines():
    template = one_box(anchor_x=0.1, anchor_y=0.1, scale_x=0.3, scale_y=0.8)
    meme = render(template, flat(400, 400), ["W" * 60], options=PNG)
    mask = ink(decode(meme))
    assert outside(mask, box_pixels(template, (400, 400))) == 0
    assert len(bands(mask)) >= 3


@pytest.mark.parametrize("align", ["left", "center", "right"])
def test_lines_align_within_the_box(align):
    template = one_box(anchor_x=0.1, anchor_y=0.1, scale_x=0.8, scale_y=0.3, align=align)
    left, _, right, _ = box_pixels(template, (500, 500))
    mask = ink(decode(render(template, flat(500, 500), ["hi"], options=PNG)))
    ink_left, _, ink_right, _ = mask.getbbox()
    # Lines align by their layout box, as in any word processor: the letters' own side
    # bearings (a few pixels at this size) stay between the ink and the edge.
    bearing = 5
    if align == "left":
        assert 0 <= ink_left - left <= bearing
    elif align == "right":
        assert 0 <= right - ink_right <= bearing
    else:
        assert abs((ink_left - left) - (right - ink_right)) <= bearing


def test_the_largest_font_is_capped_so_one_word_does_not_fill_a_huge_box():
    template = one_box(anchor_x=0.0, anchor_y=0.0, scale_x=1.0, scale_y=1.0)
    mask = ink(decode(render(template, flat(600, 600), ["ok"], options=PNG)))
    _, top, _, bottom = mask.getbbox()
    assert bottom - top < 0.1 * 600 * 1.1  # RenderOptions.max_text_height = 0.10


# -- the classic look -------------------------------------------------------------------------


def dark_ring_share(image: Image.Image, width: int) -> float:
    """Of the pixels just outside the white letters (a ring ``width`` px wide), the share
    that are dark."""
    grey = image.convert("L")
    white = grey.point(lambda v: 255 if v > 235 else 0)
    ring = ImageChops.subtract(white.filter(ImageFilter.MaxFilter(2 * width + 1)), white)
    dark = grey.point(lambda v: 255 if v < 50 else 0)
    return count(ImageChops.multiply(ring, dark)) / max(1, count(ring))


def test_white_caption_is_outlined_in_black():
    template = one_box(anchor_x=0.05, anchor_y=0.05, scale_x=0.9, scale_y=0.5)
    bare_template = one_box(anchor_x=0.05, anchor_y=0.05, scale_x=0.9, scale_y=0.5, outline=None)
    grey = (128, 128, 128)
    large = RenderOptions(format="png", max_text_height=0.3)  # 150 px: a 7 px outline
    outlined = decode(render(template, flat(500, 500, grey), ["outline"], options=large))
    bare = decode(render(bare_template, flat(500, 500, grey), ["outline"], options=large))
    assert dark_ring_share(outlined, 3) > 0.8
    assert dark_ring_share(bare, 3) == 0


def outline_thickness(image: Image.Image) -> int:
    """Dark pixels between the image's left edge of ink and the first white pixel, along
    the row through the middle of the ink."""
    grey = image.convert("L")
    mask = ink(image, (128, 128, 128), threshold=30)
    left, top, right, bottom = mask.getbbox()
    row = (top + bottom) // 2
    values = [grey.getpixel((x, row)) for x in range(left, right)]
    first_white = next(i for i, v in enumerate(values) if v > 235)
    return sum(1 for v in values[:first_white] if v < 50)


def test_outline_thickness_grows_with_the_font_size():
    big = RenderOptions(format="png", max_text_height=1.0)
    template = one_box(anchor_x=0.0, anchor_y=0.0, scale_x=1.0, scale_y=1.0)
    small = decode(render(template, flat(120, 120, (128, 128, 128)), ["I"], options=big))
    large = decode(render(template, flat(600, 600, (128, 128, 128)), ["I"], options=big))
    thin, thick = outline_thickness(small), outline_thickness(large)
    assert thin >= 1
    assert 3 <= thick / thin <= 7  # the font is five times larger


def test_text_is_upper_case_unless_the_box_says_otherwise():
    upper = one_box(anchor_x=0, anchor_y=0, scale_x=1, scale_y=1)
    asis = one_box(anchor_x=0, anchor_y=0, scale_x=1, scale_y=1, style="none")
    shouted = decode(render(upper, flat(300, 100), ["shout"], options=PNG))
    typed_upper = decode(render(asis, flat(300, 100), ["SHOUT"], options=PNG))
    typed_lower = decode(render(asis, flat(300, 100), ["shout"], options=PNG))
    assert shouted.tobytes() == typed_upper.tobytes()
    assert shouted.tobytes() != typed_lower.tobytes()


# -- any script, real glyphs ---------------------------------------------------------------


def rgb_pixels(image: Image.Image) -> list[tuple[int, int, int]]:
    data = image.convert("RGB").tobytes()
    return [(data[i], data[i + 1], data[i + 2]) for i in range(0, len(data), 3)]


def glyph_mask(text: str, **box) -> Image.Image:
    template = one_box(anchor_x=0, anchor_y=0, scale_x=1, scale_y=1, style="none", **box)
    options = RenderOptions(format="png", max_text_height=0.8)
    return ink(decode(render(template, flat(160, 160), [text], options=options)))


def differs(a: Image.Image, b: Image.Image) -> int:
    return count(ImageChops.difference(a, b))


def test_cjk_hangul_and_kana_are_drawn_as_distinct_glyphs_not_missing_glyph_boxes():
    missing = glyph_mask("\u0378")  # unassigned: every font draws its "missing glyph" box
    glyphs = {char: glyph_mask(char) for char in "中文字한ア"}
    for char, mask in glyphs.items():
        assert count(mask) > 200, char
        assert differs(mask, missing) > 500, f"{char} came out as the missing-glyph box"
    masks = list(glyphs.values())
    for i, a in enumerate(masks):
        for b in masks[i + 1 :]:
            assert differs(a, b) > 500


def test_emoji_come_out_in_colour():
    template = one_box(anchor_x=0, anchor_y=0, scale_x=1, scale_y=1)
    grey = (128, 128, 128)
    options = RenderOptions(format="png", max_text_height=0.8)
    smile = decode(render(template, flat(160, 160, grey), ["😀"], options=options))
    assert coloured(smile) > 1500  # a yellow face, not a white outline of a box
    r, g, b = (sum(c) / len(c) for c in zip(*rgb_pixels(smile), strict=True))
    assert r > b and g > b  # yellow dominates
    flag = decode(render(template, flat(160, 160, grey), ["🇫🇷"], options=options))
    pixels = rgb_pixels(flag)
    assert sum(1 for r, g, b in pixels if b > 150 and r < 100) > 200  # blue stripe
    assert sum(1 for r, g, b in pixels if r > 200 and g < 100 and b < 100) > 200  # red stripe


def test_an_emoji_sequence_is_one_glyph_not_its_parts():
    family = glyph_mask("👨‍👩‍👧")
    man = glyph_mask("👨")
    family_width = family.getbbox()[2] - family.getbbox()[0]
    man_width = man.getbbox()[2] - man.getbbox()[0]
    assert family_width < 1.5 * man_width


def test_mixed_scripts_share_one_line_inside_the_box():
    template = one_box(anchor_x=0.05, anchor_y=0.3, scale_x=0.9, scale_y=0.3)
    meme = decode(render(template, flat(600, 300), ["Hi 中文 😀 Ωμέγα"], options=PNG))
    mask = ink(meme)
    assert len(bands(mask)) == 1
    assert outside(mask, box_pixels(template, (600, 300))) == 0
    assert coloured(meme) > 0


def emoji_and_letters_columns(text: str) -> tuple[float, float]:
    """Mean x of the colour emoji's pixels and of the white letters' pixels."""
    template = one_box(anchor_x=0, anchor_y=0, scale_x=1, scale_y=1, outline=None)
    picture = decode(render(template, flat(400, 100, (128, 128, 128)), [text], options=PNG))
    pixels = rgb_pixels(picture)
    emoji = [i % 400 for i, (r, g, b) in enumerate(pixels) if r > 200 and b < 80]
    letters = [i % 400 for i, (r, g, b) in enumerate(pixels) if min(r, g, b) > 240]
    return sum(emoji) / len(emoji), sum(letters) / len(letters)


def test_a_right_to_left_sentence_puts_what_follows_it_on_its_left():
    emoji_x, letters_x = emoji_and_letters_columns("مرحبا بالعالم 😀")
    assert emoji_x < letters_x
    emoji_x, letters_x = emoji_and_letters_columns("hello world 😀")
    assert emoji_x > letters_x


# -- rotated boxes -----------------------------------------------------------------------------


@pytest.mark.parametrize("angle", [15, -40, 90, 180])
def test_rotated_text_stays_inside_the_rotated_box(angle):
    template = one_box(anchor_x=0.25, anchor_y=0.3, scale_x=0.5, scale_y=0.4, angle=angle)
    box = box_pixels(template, (400, 400))
    mask = ink(decode(render(template, flat(400, 400), ["turn it around"], options=PNG)))
    polygon = rotated_rectangle(box, angle)
    inked = [(x, y) for (x, y), v in zip(_coordinates(mask), mask.tobytes(), strict=True) if v]
    assert len(inked) > 500
    assert all(inside_polygon(x + 0.5, y + 0.5, polygon, margin=2) for x, y in inked)


def test_rotation_turns_the_text():
    flat_box = one_box(anchor_x=0.1, anchor_y=0.4, scale_x=0.8, scale_y=0.2)
    turned = one_box(anchor_x=0.1, anchor_y=0.4, scale_x=0.8, scale_y=0.2, angle=90)
    level = ink(decode(render(flat_box, flat(400, 400), ["sideways"], options=PNG))).getbbox()
    upright = ink(decode(render(turned, flat(400, 400), ["sideways"], options=PNG))).getbbox()
    assert level[2] - level[0] > level[3] - level[1]  # wider than tall
    assert upright[3] - upright[1] > upright[2] - upright[0]  # taller than wide


def _coordinates(mask: Image.Image):
    width, height = mask.size
    return ((x, y) for y in range(height) for x in range(width))


# -- strangers' text ---------------------------------------------------------------------------


def test_control_and_invisible_characters_are_stripped_before_drawing():
    template = one_box(anchor_x=0, anchor_y=0, scale_x=1, scale_y=1)
    clean = render(template, flat(300, 120), ["HELLO WORLD"], options=PNG)
    dirty = render(template, flat(300, 120), ["HEL\x00LO\u202e \x1b\u200bWORLD\x07"], options=PNG)
    assert decode(clean).tobytes() == decode(dirty).tobytes()


def test_a_box_over_the_length_cap_is_refused_with_a_message():
    template = classic_template("Classic")
    with pytest.raises(TextTooLong) as caught:
        render(template, flat(100, 100), ["fine", "x" * 201])
    assert str(caught.value) == (
        "Text 2 is 201 characters long; the limit is 200 per box. Shorten it and try again."
    )
    assert (caught.value.box, caught.value.length, caught.value.limit) == (2, 201, 200)


def test_the_cap_counts_what_readers_see_not_code_points():
    template = one_box()
    families = "👨‍👩‍👧" * 150  # 750 code points, 150 characters
    render(template, flat(100, 100), [families], options=PNG)


def test_more_texts_than_boxes_is_refused():
    with pytest.raises(TooManyTexts, match="Classic has 2 text boxes but 3 texts were given"):
        render(classic_template("Classic"), flat(100, 100), ["a", "b", "c"])


def test_empty_boxes_leave_the_picture_untouched():
    meme = render(classic_template("Classic"), flat(200, 200), ["", None], options=PNG)
    assert count(ink(decode(meme))) == 0
    meme = render(classic_template("Classic"), flat(200, 200), ["  \x00\u200b "], options=PNG)
    assert count(ink(decode(meme))) == 0


def test_text_in_a_box_too_small_to_read_still_stays_inside_it():
    template = one_box(anchor_x=0.5, anchor_y=0.5, scale_x=0.02, scale_y=0.02)
    meme = render(template, flat(200, 200), ["far too much text for four pixels"], options=PNG)
    assert outside(ink(decode(meme)), box_pixels(template, (200, 200))) == 0
    assert meme.notes == ("box 1: the text did not fit its box even at 1 px; it was cut",)


def test_a_box_that_rounds_to_no_pixels_draws_nothing_and_does_not_crash():
    template = one_box(anchor_x=0.5, anchor_y=0.5, scale_x=0.01, scale_y=0.01)
    meme = render(template, flat(10, 10), ["nothing fits here"], options=PNG)
    assert count(ink(decode(meme))) == 0


def test_characters_no_font_has_are_named_in_a_note():
    meme = render(one_box(), flat(200, 200), ["hi \U0010fffd"], options=PNG)
    assert meme.notes == (
        "box 1: no installed font has \U0010fffd (U+10FFFD); shown as empty boxes",
    )


def test_renders_in_parallel_threads_match_serial_ones():
    from concurrent.futures import ThreadPoolExecutor

    jobs = [(classic_template("x"), flat(300, 300), [f"caption {n} 中 😀", f"bottom {n}"])
            for n in range(8)]  # fmt: skip
    serial = [render(*job, options=PNG).data for job in jobs]
    clear_caches()
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda job: render(*job, options=PNG).data, jobs))
    assert parallel == serial


# -- bad images --------------------------------------------------------------------------------


def test_an_empty_image_is_refused_in_words():
    with pytest.raises(BadImage, match="The image is empty"):
        render(classic_template("x"), Image.new("RGB", (0, 5)), ["a"])
    with pytest.raises(BadImage, match="The image is empty"):
        render(classic_template("x"), b"", ["a"])


def test_a_file_that_is_not_an_image_is_refused_in_words():
    with pytest.raises(BadImage, match="not an image I can read"):
        render(classic_template("x"), b"%PDF-1.4 not a picture", ["a"])


def test_a_truncated_image_is_refused_in_words():
    data = flat(300, 300, fmt="JPEG")
    noisy = io.BytesIO()
    Image.effect_noise((300, 300), 80).save(noisy, "PNG")
    with pytest.raises(BadImage, match="damaged or cut short"):
        render(classic_template("x"), noisy.getvalue()[:2000], ["a"])
    assert render(classic_template("x"), data, ["a"]).mime == "image/jpeg"


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size (a decompression bomb's shape)."""
    import struct
    import zlib

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    ihdr = struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    body = zlib.compress(b"\0" * 64)
    idat = (
        struct.pack(">I", len(body))
        + b"IDAT"
        + body
        + struct.pack(">I", zlib.crc32(b"IDAT" + body))
    )
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + ihdr + idat + end


def test_an_image_over_the_pixel_limit_is_refused_before_it_is_decoded():
    with pytest.raises(BadImage, match=r"12000×5000 \(60 megapixels\); the limit is 50"):
        render(classic_template("x"), png_claiming(12_000, 5_000), ["a"])


def test_a_decompression_bomb_is_refused_by_pillows_own_check_too():
    with pytest.raises(BadImage, match="decodes to far too many pixels"):
        render(classic_template("x"), png_claiming(30_000, 30_000), ["a"])


# -- custom backgrounds and overlays ---------------------------------------------------------


def test_any_template_lays_out_on_any_background_size():
    template = one_box(anchor_x=0.5, anchor_y=0.5, scale_x=0.5, scale_y=0.5)
    widths = []
    for size in [(200, 100), (600, 300)]:
        mask = ink(decode(render(template, flat(*size), ["mine"], options=PNG)))
        left, top, right, _ = mask.getbbox()
        assert left >= size[0] // 2 and top >= size[1] // 2
        widths.append(right - left)
    assert 2.5 < widths[1] / widths[0] < 3.5  # three times the picture, three times the text


def test_overlays_are_pasted_under_the_text_and_missing_ones_are_noted():
    template = Template.build(
        id="o", name="o",
        boxes=[{"anchor_x": 0, "anchor_y": 0.4, "scale_x": 1, "scale_y": 0.2}],
        overlays=[{"image": "red", "center_x": 0.5, "center_y": 0.5, "scale": 0.5},
                  {"image": "gone", "center_x": 0.1, "center_y": 0.1}],
    )  # fmt: skip
    red = flat(50, 50, (255, 0, 0))
    meme = render(template, flat(200, 200), ["x"], overlays={"red": red}, options=PNG)
    picture = decode(meme).convert("RGB")
    assert picture.getpixel((60, 60)) == (255, 0, 0)  # inside the overlay, away from text
    assert picture.getpixel((20, 20)) == BACKGROUND  # the missing overlay left nothing
    assert picture.getpixel((100, 100)) != (255, 0, 0)  # the caption is drawn on top
    assert meme.notes == ("overlay 'gone' was not supplied; it was left out",)


def test_an_unknown_font_falls_back_and_says_so():
    template = one_box(font="impact-not-installed")
    meme = render(template, flat(200, 200), ["x"], options=PNG)
    assert count(ink(decode(meme))) > 0
    assert meme.notes == ("box 1: font 'impact-not-installed' was not found; used sans-bold",)


# -- output ------------------------------------------------------------------------------------


def test_a_photo_comes_out_as_jpeg_and_transparency_as_png():
    photo = render(classic_template("x"), flat(100, 80, fmt="JPEG"), ["a"])
    assert (photo.mime, photo.extension, photo.width, photo.height) == (
        "image/jpeg",
        "jpg",
        100,
        80,
    )
    clear = render(classic_template("x"), flat(100, 80, (0, 0, 0, 0)), ["a"])
    assert (clear.mime, clear.extension) == ("image/png", "png")
    assert decode(clear).mode == "RGBA"


def test_the_callers_picture_and_cached_background_are_never_drawn_on():
    picture = Image.new("RGB", (3000, 1000), BACKGROUND)
    render(classic_template("x"), picture, ["a", "b"])
    assert picture.size == (3000, 1000) and picture.getcolors() == [(3_000_000, BACKGROUND)]
    cached = load_background(flat(300, 300))
    render(classic_template("x"), cached, ["a", "b"])
    assert cached.frames[0].getcolors() == [(90_000, BACKGROUND)]


def test_a_preview_is_small_and_still():
    big = io.BytesIO()
    Image.new("RGB", (2400, 1600), (10, 200, 30)).save(big, "JPEG")
    preview = render_preview(classic_template("x"), big.getvalue(), ["top", "bottom"])
    assert (preview.width, preview.height) == (600, 400)  # 1/4 scale: the first to fit 640
    assert preview.mime == "image/jpeg" and preview.frames == 1


def test_the_render_options_refuse_an_unknown_format():
    with pytest.raises(ValueError, match="format must be auto, jpeg, png or webp"):
        RenderOptions(format="bmp")


def test_a_textbox_alone_gives_a_full_width_top_box():
    assert TextBox().pixel_box(100, 100) == (0, 0, 100, 20)
