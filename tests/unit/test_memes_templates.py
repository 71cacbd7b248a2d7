"""Templates without the network: the bot's own drawn ones, layouts members can give,
Imgur's defaults as entries, what a stored template image becomes, and the words the
command tree says for every meme refusal."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.discord.tree import describe_error
from bot.imgur import models
from bot.memes import BadImage, TemplateInvalid, TextTooLong, render
from bot.memes.fetch import FetchFailed, FetchRefused
from bot.memes.service import ImgurTemplatesUnavailable, TemplateNotFound
from bot.memes.templates import (
    LAYOUTS,
    builtin_entries,
    draw_builtin,
    imgur_entry,
    parse_layout,
    prepare_image,
)


def encoded(size, fmt="PNG", mode="RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, (10, 20, 30, 128)[: len(mode)]).save(buffer, fmt)
    return buffer.getvalue()


def test_the_bots_own_templates_draw_without_downloading_and_render():
    entries = builtin_entries()
    assert len({entry.key for entry in entries}) == len(entries) >= 5
    for entry in entries:
        assert entry.key.startswith("bot:") and entry.source == "bot"
        background = draw_builtin(entry.template.id)
        assert background.size == (800, 800) and not background.animated
        meme = render(entry.template, background, list(entry.sample_texts))
        assert meme.mime == "image/jpeg" and (meme.width, meme.height) == (800, 800)


def test_dark_text_on_the_white_template_is_drawn_in_black():
    white = next(e for e in builtin_entries() if e.key == "bot:white")
    meme = render(white.template, draw_builtin("white"), ["INK", ""])
    top = Image.open(io.BytesIO(meme.data)).convert("L").crop((0, 0, 800, 200))
    assert top.getextrema()[0] < 60  # dark ink on white


def test_imgurs_templates_get_the_classic_layout_and_their_link():
    meme = models.MemeTemplate(
        id="AbC1234", name="Success Kid", link="http://i.imgur.com/AbC1234.jpg"
    )
    entry = imgur_entry(meme)
    assert entry.key == "imgur:AbC1234"
    assert entry.label == "Success Kid · Imgur"
    assert entry.image_url == "https://i.imgur.com/AbC1234.jpg"  # https for Imgur's hosts
    assert entry.page_url == "https://imgur.com/AbC1234"
    assert len(entry.template.boxes) == 2 and entry.sample_texts == ("TOP TEXT", "BOTTOM TEXT")


@pytest.mark.parametrize(("name", "boxes"), [(n, len(b)) for n, b in LAYOUTS.items()])
def test_layout_presets_are_named(name, boxes):
    assert len(parse_layout(f" {name.upper()} ")) == boxes


def test_json_layouts_take_memegens_fields_and_its_names_for_the_list():
    boxes = (
        '[{"anchor_x":0.1,"anchor_y":0.6,"scale_x":0.8,"scale_y":0.3,"align":"left","angle":-8}]'
    )
    (box,) = parse_layout(boxes)
    assert (box.anchor_y, box.align, box.angle) == (0.6, "left", -8)
    assert len(parse_layout('{"text": [{}, {"anchor_y": 0.8}]}')) == 2
    assert len(parse_layout('{"boxes": [{}]}')) == 1


@pytest.mark.parametrize(
    ("layout", "words"),
    [
        ("[{", "not valid JSON"),
        ('[{"color": "blurple"}]', "boxes[1].color: 'blurple' is not a colour"),
        ('[{"anchor_y": 0.9}]', "the box must end inside the image"),
        ("[]", "boxes"),
    ],
)
def test_bad_json_layouts_say_which_box_and_field(layout, words):
    with pytest.raises(TemplateInvalid) as refused:
        parse_layout(layout)
    assert words in str(refused.value)


def test_a_name_is_not_a_layout_the_caller_looks_it_up():
    assert parse_layout("success kid") is None


def test_small_common_stills_are_stored_as_given():
    data = encoded((300, 200), "JPEG")
    prepared = prepare_image(data, max_side=1200)
    assert prepared.data == data and prepared.mime == "image/jpeg"
    assert (prepared.width, prepared.height, prepared.frames) == (300, 200, 1)


def test_big_or_unusual_stills_are_scaled_and_reencoded():
    prepared = prepare_image(encoded((2400, 600), "BMP"), max_side=1200)
    assert (prepared.width, prepared.height, prepared.mime) == (1200, 300, "image/jpeg")
    clear = prepare_image(encoded((1600, 1600), "PNG", "RGBA"), max_side=800)
    assert (clear.width, clear.mime) == (800, "image/png")  # transparency kept


def test_what_is_not_an_image_is_refused_in_words():
    with pytest.raises(BadImage, match="not an image I can read"):
        prepare_image(b"GIF89a but not really", max_side=1200)


@pytest.mark.parametrize(
    "error",
    [
        TextTooLong(2, 300, 200),
        FetchRefused("Template links must be https links on i.imgur.com."),
        FetchFailed("The image's host answered 404; check the link."),
        TemplateNotFound("There is no template called “x”."),
        ImgurTemplatesUnavailable("Imgur's meme templates can't be loaded right now."),
        TemplateInvalid("boxes[1].color: 'blurple' is not a colour"),
    ],
)
def test_every_meme_refusal_reaches_the_member_as_its_own_words(error):
    assert describe_error(error) == (str(error), False)
