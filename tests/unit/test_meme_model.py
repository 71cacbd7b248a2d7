"""Templates: stored as JSON and read back equal; anything invalid explained in one line."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.memes import (
    Overlay,
    Template,
    TemplateInvalid,
    TextBox,
    classic_boxes,
    classic_template,
    slugify,
)

fractions = st.floats(0.0, 1.0, allow_nan=False)


@st.composite
def boxes(draw) -> TextBox:
    anchor_x, anchor_y = draw(st.floats(0, 0.9)), draw(st.floats(0, 0.9))
    start = draw(st.floats(0, 0.9))
    return TextBox(
        anchor_x=anchor_x,
        anchor_y=anchor_y,
        scale_x=draw(st.floats(0.01, 1 - anchor_x)),
        scale_y=draw(st.floats(0.01, 1 - anchor_y)),
        align=draw(st.sampled_from(["left", "center", "right"])),
        valign=draw(st.sampled_from(["top", "middle", "bottom"])),
        angle=draw(st.floats(-360, 360)),
        color=draw(st.sampled_from(["white", "#FFC107", "#00000080"])),
        outline=draw(st.sampled_from([None, "black", "#112233"])),
        font=draw(st.sampled_from(["sans-bold", "serif-bold", "impact"])),
        style=draw(st.sampled_from(["upper", "lower", "none", "title", "mock"])),
        start=start,
        stop=draw(st.floats(start + 0.01, 1.0)),
    )


overlays = st.builds(
    Overlay,
    image=st.text(min_size=1, max_size=30),
    center_x=fractions,
    center_y=fractions,
    scale=st.floats(0.01, 1.0),
    angle=st.floats(-360, 360),
)


@settings(max_examples=60)
@given(
    box_list=st.lists(boxes(), min_size=1, max_size=6),
    overlay_list=st.lists(overlays, max_size=3),
    name=st.text(min_size=1, max_size=100),
)
def test_any_valid_template_round_trips_through_json(box_list, overlay_list, name):
    template = Template(
        id="round-trip",
        name=name,
        background="https://i.imgur.com/abcdefg.png",
        boxes=tuple(box_list),
        overlays=tuple(overlay_list),
        example=tuple("x" for _ in box_list),
        keywords=("a", "b"),
    )
    assert Template.from_json(template.to_json()) == template
    assert Template.from_dict(json.loads(json.dumps(template.to_dict()))) == template
    assert hash(Template.from_json(template.to_json())) == hash(template)


def test_the_stored_form_is_plain_json_with_a_version():
    stored = json.loads(classic_template("10 Guy", "https://i.imgur.com/x.jpg").to_json())
    assert stored["version"] == 1
    assert stored["id"] == "10-guy"
    assert [box["valign"] for box in stored["boxes"]] == ["top", "bottom"]


def template_with(**box) -> dict:
    return {"id": "t", "name": "T", "boxes": [box]}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (template_with(anchor_x=1.5),
         "boxes[1].anchor_x: Input should be less than or equal to 1 (got 1.5)"),
        (template_with(anchor_x=0.5, scale_x=0.8),
         "boxes[1]: anchor_x + scale_x is 1.3: the box must end inside the image (at most 1)"),
        (template_with(color="blurple"),
         "boxes[1].color: 'blurple' is not a colour (use a name like white or #RRGGBB)"),
        (template_with(style="shouty"),
         "boxes[1].style: 'shouty' is not a style; use one of upper, lower, none, title, mock"),
        (template_with(font="Comic Sans"),
         "boxes[1].font: 'Comic Sans' is not a font name (lower-case letters, digits, - _ .)"),
        (template_with(start=0.6, stop=0.4), "boxes[1]: start (0.6) must be before stop (0.4)"),
        (template_with(size=3), "boxes[1].size: Extra inputs are not permitted (got 3)"),
        ({"id": "t", "name": "T", "boxes": []},
         "boxes: Tuple should have at least 1 item after validation, not 0"),
        ({"id": "Not A Slug", "name": "T", "boxes": [{}]},
         "id: 'Not A Slug' is not a template id "
         "(1-64 of a-z 0-9 - _, starting with a letter or digit)"),
        ({"name": "T", "boxes": [{}]}, "id: Field required"),
        ({"id": "t", "name": "T", "boxes": [{}], "example": ["a", "b"]},
         "2 example texts for 1 boxes; give at most one per box"),
        ({"id": "t", "name": "T", "boxes": [{}], "overlays": [{"image": ""}]},
         "overlays[1].image: String should have at least 1 character (got '')"),
        ({"id": "t", "name": "T", "boxes": [{"anchor_x": "left", "scale_y": 3}]},
         "boxes[1].anchor_x: Input should be a valid number, unable to parse string as a number "
         "(got 'left') (and 1 more problem)"),
    ],
)  # fmt: skip
def test_invalid_templates_are_explained_in_one_line(data, message):
    with pytest.raises(TemplateInvalid) as caught:
        Template.from_dict(data)
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_broken_json_is_explained_in_one_line():
    with pytest.raises(TemplateInvalid, match=r"^Invalid JSON: "):
        Template.from_json('{"id": "t", ')


def test_templates_are_immutable():
    template = classic_template("x")
    with pytest.raises(Exception, match="frozen"):
        template.name = "y"


def test_the_classic_layout_is_a_caption_at_the_top_and_one_at_the_bottom():
    top, bottom = classic_boxes()
    assert top.pixel_box(1000, 1000) == (25, 20, 950, 250)
    assert bottom.pixel_box(1000, 1000) == (25, 730, 950, 250)
    assert (top.valign, bottom.valign) == ("top", "bottom")
    assert classic_boxes(1) == (bottom,)


def test_a_template_for_an_image_with_only_a_name_gets_the_classic_layout():
    template = classic_template("One Does Not Simply", "https://i.imgur.com/abc.jpg")
    assert template.id == "one-does-not-simply"
    assert template.background == "https://i.imgur.com/abc.jpg"
    assert template.boxes == classic_boxes()


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("10 Guy", "10-guy"),
        ("Señor Meme!", "senor-meme"),
        ("???", "template"),
        ("a" * 80, "a" * 64),
    ],
)
def test_names_become_template_ids(name, slug):
    assert slugify(name) == slug


def test_a_box_knows_when_it_shows_in_an_animation():
    box = TextBox(start=0.25, stop=0.75)
    assert box.timed and not TextBox().timed
    assert [box.visible_at(m) for m in (0.0, 0.25, 0.5, 0.75)] == [False, True, True, False]
