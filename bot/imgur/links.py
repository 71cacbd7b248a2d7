"""Reading an Imgur link or bare id the way a member pastes it.

Accepted: ``https://i.imgur.com/ID.ext`` (an image), ``imgur.com/ID`` (a post or an image),
``imgur.com/a/ID`` (an album), ``imgur.com/gallery/ID`` (a gallery post, with or without a
slug such as ``/gallery/funny-cat-ID``), ``imgur.com/t/tag/ID`` and ``imgur.com/r/sub/ID``,
and a bare id. Any host is accepted for the path shape, so links to the emulator work too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from bot.errors import BadInput

RefKind = Literal["image", "album", "gallery", "any"]
_ID = re.compile(r"^[A-Za-z0-9]{5,10}$")


@dataclass(frozen=True, slots=True)
class ImgurRef:
    kind: RefKind
    id: str


def _tail_id(segment: str) -> str:
    # Gallery URLs may carry a slug: /gallery/some-title-words-AbC123x
    return segment.rsplit("-", 1)[-1]


def parse_imgur_link(text: str) -> ImgurRef:
    raw = text.strip().strip("<>")
    if _ID.match(raw):
        return ImgurRef("any", raw)
    url = raw if "://" in raw else f"https://{raw}"
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    host = (parts.hostname or "").lower()
    ref: ImgurRef | None = None
    if len(segments) == 1:
        stem, _, ext = segments[0].partition(".")
        # i.imgur.com/ID.ext (and 'ID' + a size letter suffix like 'h' or 'l' is kept as is)
        kind: RefKind = "image" if ext or host.startswith("i.") else "any"
        ref = ImgurRef(kind, stem)
    elif len(segments) == 2 and segments[0] == "a":
        ref = ImgurRef("album", _tail_id(segments[1]))
    elif len(segments) == 2 and segments[0] == "gallery":
        ref = ImgurRef("gallery", _tail_id(segments[1]))
    elif len(segments) == 3 and segments[0] in ("t", "r", "topic"):
        ref = ImgurRef("gallery", _tail_id(segments[2]))
    if ref is None or not _ID.match(ref.id):
        raise BadInput(
            "That doesn't look like an Imgur link. Paste something like "
            "https://imgur.com/gallery/AbC12, https://imgur.com/a/AbC12 or https://i.imgur.com/AbC12.jpg"
        )
    return ref
