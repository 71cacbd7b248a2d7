import pytest

from bot.errors import BadInput
from bot.imgur.links import ImgurRef, parse_imgur_link


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://i.imgur.com/AbC12xy.jpg", ImgurRef("image", "AbC12xy")),
        ("i.imgur.com/AbC12xy.gifv", ImgurRef("image", "AbC12xy")),
        ("https://imgur.com/AbC12xy", ImgurRef("any", "AbC12xy")),
        ("https://imgur.com/a/Zz9Yy8X", ImgurRef("album", "Zz9Yy8X")),
        ("<https://imgur.com/gallery/Zz9Yy8X>", ImgurRef("gallery", "Zz9Yy8X")),
        ("https://imgur.com/gallery/my-funny-cat-Zz9Yy8X", ImgurRef("gallery", "Zz9Yy8X")),
        ("https://imgur.com/t/cats/Zz9Yy8X", ImgurRef("gallery", "Zz9Yy8X")),
        ("http://127.0.0.1:8089/a/Zz9Yy8X", ImgurRef("album", "Zz9Yy8X")),
        ("  AbC12xy ", ImgurRef("any", "AbC12xy")),
    ],
)
def test_links_members_paste(text, expected):
    assert parse_imgur_link(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "not a link", "https://imgur.com/", "https://imgur.com/a/", "https://x.com/a/b/c/d"],
)
def test_garbage_is_a_clear_bad_input(text):
    with pytest.raises(BadInput, match="doesn't look like an Imgur link"):
        parse_imgur_link(text)
