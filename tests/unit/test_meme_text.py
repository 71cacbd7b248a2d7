"""Caption text from strangers: cleaned, counted as readers count, cased, split per box."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.memes import TextTooLong, TooManyTexts, clean_text, split_texts
from bot.memes.text import apply_case, graphemes, prepare_texts, text_length, wants_emoji_font


@pytest.mark.parametrize(
    ("typed", "cleaned"),
    [
        ("hello\x00 world\x07", "hello world"),
        ("tab\there", "tab here"),
        ("a\r\nb\u2028c", "a\nb\nc"),
        ("  many    spaces\u00a0here  ", "many spaces here"),
        ("\n\n top \n\n\n bottom \n", "top\nbottom"),
        ("evil\u202eover\u2066isolate\u200bzero\u00adsoft\ufeffbom", "eviloverisolatezerosoftbom"),
        ("hi <:pepe:123456789012345678> <a:dance:123456789012345678>", "hi :pepe: :dance:"),
        ("cafe\u0301", "café"),  # NFC: one character, as typed on most keyboards
        (None, ""),
        ("\x00\u200b\x1b", ""),
    ],
)  # fmt: skip
def test_control_and_invisible_characters_are_removed(typed, cleaned):
    assert clean_text(typed) == cleaned


def test_joiners_and_tags_inside_emoji_are_kept():
    family, england = "👨‍👩‍👧", "🏴󠁧󠁢󠁥󠁮󠁧󠁿"
    assert clean_text(f"{family} {england}") == f"{family} {england}"
    assert graphemes(f"{family}{england}") == [family, england]


def test_a_pile_of_combining_marks_is_trimmed_to_a_few():
    zalgo = "Z" + "\u0336" * 50 + "a" + "\u0301\u0302"
    assert clean_text(zalgo) == "Z" + "\u0336" * 4 + "\u00e1\u0302"  # NFC joins a + acute


def test_length_is_counted_in_characters_as_readers_see_them():
    assert text_length("👨‍👩‍👧🇫🇷é") == 3
    assert text_length("abc") == 3


def test_the_cap_applies_per_box_after_cleaning():
    assert prepare_texts(["x" * 10, "\u200b" * 50 + "y"], limit=10) == ["x" * 10, "y"]
    with pytest.raises(TextTooLong) as caught:
        prepare_texts(["fine", "x" * 11], limit=10)
    assert str(caught.value) == (
        "Text 2 is 11 characters long; the limit is 10 per box. Shorten it and try again."
    )


@pytest.mark.parametrize(
    ("style", "shown"),
    [("upper", "ONE DOES NOT"), ("lower", "one does not"), ("none", "One does NOT"),
     ("title", "One Does Not"), ("mock", "oNe DoEs NoT")],
)  # fmt: skip
def test_case_styles(style, shown):
    assert apply_case("One does NOT", style) == shown


def test_upper_case_handles_every_script():
    assert apply_case("straße ωμέγα", "upper") == "STRASSE ΩΜΈΓΑ"


@pytest.mark.parametrize(
    ("typed", "boxes", "texts"),
    [
        (["top | bottom"], 2, ["top", "bottom"]),
        (["top", "bottom"], 2, ["top", "bottom"]),
        (["only top"], 2, ["only top", ""]),
        (["| bottom only"], 2, ["", "bottom only"]),
        (["a|b|"], 3, ["a", "b", ""]),
        (["first", None, ""], 2, ["first", ""]),
        ([], 2, ["", ""]),
    ],
)
def test_one_option_per_box_or_a_bar_separated_line(typed, boxes, texts):
    assert split_texts(typed, boxes) == texts


def test_more_texts_than_boxes_says_how_many_fit():
    with pytest.raises(TooManyTexts) as caught:
        split_texts(["a | b | c"], 2, "Drake")
    assert str(caught.value) == (
        "Drake has 2 text boxes but 3 texts were given; use at most 2 (separate them with |)."
    )
    with pytest.raises(TooManyTexts, match="Solo has 1 text box but 2"):
        split_texts(["a", "b"], 1, "Solo")


@pytest.mark.parametrize(
    ("cluster", "emoji"),
    [("😀", True), ("🇫🇷", True), ("❤️", True), ("❤", False), ("1️⃣", True), ("A", False),
     ("©", False), ("中", False)],
)  # fmt: skip
def test_which_clusters_ask_for_a_colour_emoji_font(cluster, emoji):
    assert wants_emoji_font(cluster) is emoji


@given(st.text())
def test_cleaning_any_text_leaves_no_control_or_invisible_formatting(text):
    cleaned = clean_text(text)
    assert cleaned == clean_text(cleaned)  # cleaning twice changes nothing
    for char in cleaned:
        category = unicodedata.category(char)
        assert char == "\n" or category not in ("Cc", "Cs")
        assert category != "Cf" or char in "\u200c\u200d" or 0xE0020 <= ord(char) < 0xE0080
    assert not any(line != line.strip() or not line for line in cleaned.split("\n") if cleaned)
