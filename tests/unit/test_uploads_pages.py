"""How a published upload looks: the link (in <> for a still, so Discord shows the picture
once, in the embed; an animation's mp4 bare, so Discord plays it) and the embed."""

from __future__ import annotations

from bot.discord.uploads import delete_custom_id, published_page
from bot.uploads.service import Published, PublishedFile

STILL = PublishedFile(
    name="cat.png", link="https://i.imgur.com/AbC.png", page_url="https://imgur.com/AbC",
    display_url="https://i.imgur.com/AbC.png", media_type="image/png", size=2_500_000,
    width=800, height=600,
)  # fmt: skip
GIF = PublishedFile(
    name="dance.gif", link="https://i.imgur.com/GiF.gif", page_url="https://imgur.com/GiF",
    display_url="https://i.imgur.com/GiF.mp4", media_type="image/gif", size=900_000,
    animated=True,
)  # fmt: skip


def published(*files: PublishedFile, title: str | None = None, album: bool = False) -> Published:
    first = files[0]
    link = "https://imgur.com/a/ALb" if album else first.link
    return Published(
        row_id=7, imgur_id="ALb" if album else "AbC", link=link,
        page_url=link if album else first.page_url, is_album=album, title=title,
        description="a description", files=files,
    )  # fmt: skip


def test_a_still_is_linked_quietly_and_shown_in_the_embed():
    page = published_page(published(STILL), uploader="alice")
    assert page.content == "<https://i.imgur.com/AbC.png>"
    embed = page.embed.to_dict()
    assert embed["title"] == "cat.png" and embed["url"] == "https://imgur.com/AbC"
    assert embed["image"]["url"] == "https://i.imgur.com/AbC.png"
    assert embed["author"]["name"] == "Uploaded by alice"
    assert embed["footer"]["text"] == "PNG · 800×600 · 2.4 MB"
    assert embed["description"] == "a description"


def test_an_animation_is_linked_by_its_mp4_so_discord_plays_it():
    page = published_page(published(GIF), uploader="bob", title="Meme of the day")
    assert page.content == "https://i.imgur.com/GiF.mp4"
    embed = page.embed.to_dict()
    assert "image" not in embed and embed["title"] == "Meme of the day"


def test_an_album_shows_its_first_picture_and_how_many_files():
    page = published_page(published(STILL, GIF, album=True), uploader="alice")
    assert page.content == "<https://imgur.com/a/ALb>"
    embed = page.embed.to_dict()
    assert embed["title"] == "an album of 2 files"
    assert embed["footer"]["text"] == "album · 2 files · 3.2 MB"
    assert embed["image"]["url"] == STILL.display_url


def test_a_delete_button_carries_the_row_id_only():
    assert delete_custom_id(7) == "upload:delete:7"
    assert delete_custom_id(7, sure=True) == "upload:delete:7:sure"
