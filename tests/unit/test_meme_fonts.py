"""Fonts: found where configured, chosen per character, and missing ones named with the
exact command that installs them."""

from __future__ import annotations

import shutil
import threading

import pytest
from meme_support import count, decode, flat, ink, installed_fonts

from bot.memes import FontBook, RenderOptions, Template, render
from bot.memes.fonts import BUILTIN, REQUIRED_PACKAGES, main

NOWHERE = ["/nonexistent/fonts"]


@pytest.fixture(scope="module")
def system():
    return installed_fonts()


def test_the_system_has_every_font_the_renderer_needs(system):
    report = system.report()
    assert report.missing_required == ()
    assert report.install_command() is None
    assert report.found["sans-bold"].endswith("DejaVuSans-Bold.ttf")


def test_missing_fonts_are_named_with_the_exact_install_command():
    report = FontBook(NOWHERE).report()
    assert report.missing_required == REQUIRED_PACKAGES
    assert report.install_command() == (
        "apt-get install -y --no-install-recommends "
        "fonts-dejavu-core fonts-noto-color-emoji fonts-wqy-microhei"
    )
    assert report.install_command(optional=True).endswith("fonts-noto-core fonts-symbola")


def test_the_command_line_check_fails_with_the_install_line(capsys):
    assert main(["--path", NOWHERE[0]]) == 1
    out = capsys.readouterr().out
    assert "sans-bold    (not found)" in out
    assert out.rstrip().endswith(
        "apt-get install -y --no-install-recommends "
        "fonts-dejavu-core fonts-noto-color-emoji fonts-wqy-microhei"
    )
    assert main(["--path", NOWHERE[0], "--missing"]) == 0
    assert capsys.readouterr().out == (
        "fonts-dejavu-core fonts-noto-color-emoji fonts-wqy-microhei\n"
    )


def test_with_no_fonts_at_all_pillows_built_in_font_still_draws_the_caption():
    book = FontBook(NOWHERE)
    assert book.caption_face("sans-bold")[0] == BUILTIN
    template = Template.build(id="t", name="t", boxes=[{"scale_y": 0.5}])
    meme = render(
        template, flat(300, 200), ["still works"], options=RenderOptions(format="png", fonts=book)
    )
    mask = ink(decode(meme))
    assert count(mask) > 300
    assert mask.getbbox()[3] <= 100  # inside the box, like any other font
    assert meme.notes == ("box 1: font 'sans-bold' was not found; used Pillow's built-in font",)


def test_a_configured_folder_adds_fonts_by_file_name(system, tmp_path):
    serif = system.report().found["serif-bold"]
    shutil.copy(serif, tmp_path / "MyMemeFont.ttf")
    book = FontBook([tmp_path, "/usr/share/fonts"])
    face, note = book.caption_face("mymemefont")
    assert face.path == str(tmp_path / "MyMemeFont.ttf") and note is None
    options = RenderOptions(format="png", fonts=book)
    drawn = {
        font: decode(render(
            Template.build(id="t", name="t", boxes=[{"font": font, "scale_y": 0.5}]),
            flat(300, 200), ["serif"], options=options,
        )).tobytes()
        for font in ("mymemefont", "sans-bold")
    }  # fmt: skip
    assert drawn["mymemefont"] != drawn["sans-bold"]


def test_an_earlier_search_path_wins_and_a_single_file_can_be_listed(system, tmp_path):
    serif = system.report().found["serif-bold"]
    shutil.copy(serif, tmp_path / "DejaVuSans-Bold.ttf")  # a "different" sans-bold
    book = FontBook([tmp_path, "/usr/share/fonts"])
    assert book.caption_face("sans-bold")[0].path == str(tmp_path / "DejaVuSans-Bold.ttf")
    single = FontBook([serif])
    assert single.caption_face("serif-bold")[0].path == serif


def test_an_unreadable_font_file_counts_as_missing(tmp_path):
    (tmp_path / "DejaVuSans-Bold.ttf").write_bytes(b"not a font at all")
    book = FontBook([tmp_path])
    assert book.caption_face("sans-bold")[0] == BUILTIN
    assert "fonts-dejavu-core" in book.report().missing_required


@pytest.mark.parametrize(
    ("cluster", "font_file", "colour"),
    [("A", "DejaVuSans-Bold", False), ("Ж", "DejaVuSans-Bold", False),
     ("😀", "NotoColorEmoji", True), ("👨‍👩‍👧", "NotoColorEmoji", True),
     ("❤️", "NotoColorEmoji", True), ("❤︎", "DejaVuSans-Bold", False),
     ("中", "wqy-microhei", False), ("한", "wqy-microhei", False)],
)  # fmt: skip
def test_each_character_comes_from_the_first_font_that_has_it(system, cluster, font_file, colour):
    primary, _ = system.caption_face("sans-bold")
    face = system.face_for(cluster, primary)
    assert (face.label, face.color) == (font_file, colour)


def test_the_colour_emoji_font_is_drawn_at_its_fixed_strike(system):
    primary, _ = system.caption_face("sans-bold")
    emoji = system.face_for("😀", primary)
    assert emoji.strike == 109
    assert system.font(emoji, 30).size == 109


def test_each_thread_gets_its_own_freetype_objects(system):
    face, _ = system.caption_face("sans-bold")
    seen = []
    thread = threading.Thread(target=lambda: seen.append(system.font(face, 40)))
    thread.start()
    thread.join()
    assert system.font(face, 40) is system.font(face, 40)
    assert seen[0] is not system.font(face, 40)
