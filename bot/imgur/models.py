"""Typed views of Imgur's JSON (``imgur-api.md`` §6), tolerant of a decade of drift.

Imgur's payloads change type from year to year (§6, §8.4): numbers arrive as strings,
vote fields are null outside the gallery, ``edited`` is ``"0"``, covers are null or ``""``,
``pro_expiration`` is false or an epoch, list items mix images and albums. Every field here
is therefore optional and read leniently (a value of the wrong type becomes None rather
than an error); only an item's ``id`` is required. The ``parse_*`` functions turn
deciphered ``data`` into models and raise ``BadResponse`` when the shape is hopeless.

Gallery items (``GalleryImage`` and ``GalleryAlbum``) share what an embed needs:
``display_url``, ``page_url``, ``is_animated``, ``is_video``, ``nsfw``, ``image_count``.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, TypeVar, get_args
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
)
from pydantic import Tag as Case

from bot.imgur.errors import ApiError, BadResponse
from bot.imgur.lenient import to_bool, to_int, to_nonempty_str, to_str
from bot.imgur.ratelimit import reset_time

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------
# Lenient scalar types


def _objects_with(key: str) -> Callable[[Any], Any]:
    """Keep the objects of a list that carry ``key``; a non-list becomes None."""

    def usable(v: Any) -> bool:
        return isinstance(v, dict) and to_nonempty_str(v.get(key)) is not None

    def keep(value: Any) -> Any:
        if not isinstance(value, list):
            return None
        for v in value:
            if not usable(v):
                return [v for v in value if usable(v)]
        return value  # the usual case: nothing to drop, so no copy

    return keep


def _blank_to_none(value: Any) -> Any:
    return None if value == "" else value


# Fields are plain optional types validated by pydantic-core in lax mode ("17" -> 17,
# 480.0 -> 480, "1" -> True, 0 -> "0"), which is fast; a value lax mode refuses sends the
# item through ``_validate``'s lenient second pass (``to_int`` & co.) instead of failing.
Int = int | None
Bool = bool | None
Str = str | None
Url = str | None
# Where Imgur writes "" to mean "none" (covers, ``mp4: ""``, deletehash): a field-level
# check, called only when the key is present (cheaper than rebuilding every item's dict).
Blank = Annotated[str | None, BeforeValidator(_blank_to_none)]
Id = Annotated[str, Field(min_length=1)]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="ignore", frozen=True, populate_by_name=True, coerce_numbersto_str=True
    )
    # The ``Blank`` fields, for the lenient second pass (a wrong type there becomes None).
    _blank_is_none: ClassVar[frozenset[str]] = frozenset()


# --------------------------------------------------------------------------------------
# Link helpers: keep emulator links on the emulator, real links on imgur.com


def _bases(link: str | None) -> tuple[str, str]:
    """(site base, image base) for the host that served ``link``.

    Real Imgur splits pages (imgur.com) from files (i.imgur.com); any other host (the
    emulator) serves both itself.
    """
    try:
        parts = urlsplit(link or "")
    except ValueError:
        parts = None
    if parts is None or not parts.scheme or not parts.netloc:
        return "https://imgur.com", "https://i.imgur.com"
    host = (parts.hostname or "").lower()
    if host == "imgur.com" or host.endswith(".imgur.com"):
        return "https://imgur.com", "https://i.imgur.com"
    base = f"{parts.scheme}://{parts.netloc}"
    return base, base


def _secure(url: str | None) -> str | None:
    """Old bodies link ``http://i.imgur.com``; Discord embeds want https for Imgur's hosts."""
    if url and url.startswith("http://"):
        host = (urlsplit(url).hostname or "").lower()
        if host == "imgur.com" or host.endswith(".imgur.com"):
            return "https://" + url[len("http://") :]
    return url


def _video_url(mp4: str | None, link: str | None) -> str | None:
    if mp4:
        return mp4
    if link and link.endswith(".gifv"):
        return link[: -len(".gifv")] + ".mp4"
    return None


# --------------------------------------------------------------------------------------
# Models


class Tag(_Model):
    """A tag's metadata (``/3/gallery/tag_info``, ``/3/tags`` and an item's ``tags``)."""

    _blank_is_none = frozenset({"background_hash", "thumbnail_hash"})

    name: Id
    display_name: Str = None
    followers: Int = None
    total_items: Int = None
    following: Bool = None
    background_hash: Blank = None
    thumbnail_hash: Blank = None
    description: Str = None
    is_promoted: Bool = None

    @property
    def label(self) -> str:
        return self.display_name or self.name


_tag_objects = _objects_with("name")
TagList = Annotated[list[Tag], BeforeValidator(lambda v: _tag_objects(v) or [])]


class Image(_Model):
    """An image or video (``/3/image/{id}``, an album's ``images``, an upload result)."""

    _blank_is_none = frozenset({"link", "gifv", "mp4", "hls", "deletehash"})

    id: Id
    title: Str = None
    description: Str = None
    datetime: Int = None
    type: Str = None
    animated: Bool = None
    width: Int = None
    height: Int = None
    size: Int = None
    views: Int = None
    bandwidth: Int = None
    vote: Str = None
    favorite: Bool = None
    nsfw: Bool = None
    section: Str = None
    account_url: Str = None
    account_id: Int = None
    in_gallery: Bool = None
    deletehash: Blank = None
    name: Str = None
    link: Blank = None
    gifv: Blank = None
    mp4: Blank = None
    hls: Blank = None
    mp4_size: Int = None
    looping: Bool = None
    has_sound: Bool = None
    edited: Str = None

    @property
    def is_video(self) -> bool:
        return (self.type or "").lower().startswith("video/")

    @property
    def is_animated(self) -> bool:
        return bool(self.animated) or self.is_video

    @property
    def display_url(self) -> str | None:
        """What an embed shows: the mp4 for gifv/video (large GIFs' ``link`` is a still)."""
        if self.is_animated:
            return _secure(_video_url(self.mp4, self.link) or self.link)
        return _secure(self.link) or f"{_bases(None)[1]}/{self.id}.jpg"

    @property
    def page_url(self) -> str:
        return f"{_bases(self.link)[0]}/{self.id}"

    @property
    def image_count(self) -> int:
        return 1


class _GalleryFields(_Model):
    """What the gallery adds to an image or album: votes, topic, tags."""

    ups: Int = None
    downs: Int = None
    points: Int = None
    score: Int = None
    comment_count: Int = None
    favorite_count: Int = None
    vote: Str = None
    topic: Str = None
    topic_id: Int = None
    in_most_viral: Bool = None
    tags: TagList = Field(default_factory=list)


class GalleryImage(Image, _GalleryFields):
    is_album: Bool = False

    @property
    def page_url(self) -> str:
        return f"{_bases(self.link)[0]}/gallery/{self.id}"


ImageList = Annotated[list[Image] | None, BeforeValidator(_objects_with("id"))]


class Album(_Model):
    """An album (``/3/album/{id}``). ``images`` is None when Imgur left it out (§6.4)."""

    _blank_is_none = frozenset({"cover", "link", "deletehash"})

    id: Id
    title: Str = None
    description: Str = None
    datetime: Int = None
    cover: Blank = None
    cover_width: Int = None
    cover_height: Int = None
    account_url: Str = None
    account_id: Int = None
    privacy: Str = None
    layout: Str = None
    views: Int = None
    link: Blank = None
    favorite: Bool = None
    nsfw: Bool = None
    section: Str = None
    images_count: Int = None
    images: ImageList = None
    deletehash: Blank = None
    in_gallery: Bool = None
    is_album: Bool = True

    @property
    def cover_image(self) -> Image | None:
        """The cover among the embedded images, when Imgur sent them."""
        for img in self.images or ():
            if img.id == self.cover:
                return img
        return None

    @property
    def display_url(self) -> str | None:
        """The cover: its own media when embedded, else Imgur's ``{cover}.jpg`` shape."""
        cover = self.cover_image
        if cover is not None:
            return cover.display_url
        if self.cover:
            return f"{_bases(self.link)[1]}/{self.cover}.jpg"
        if self.images:
            return self.images[0].display_url
        return None

    @property
    def page_url(self) -> str:
        return f"{_bases(self.link)[0]}/a/{self.id}"

    @property
    def is_animated(self) -> bool:
        cover = self.cover_image
        return cover.is_animated if cover is not None else False

    @property
    def is_video(self) -> bool:
        cover = self.cover_image
        return cover.is_video if cover is not None else False

    @property
    def image_count(self) -> int:
        if self.images_count is not None:
            return self.images_count
        return len(self.images or ())


class GalleryAlbum(Album, _GalleryFields):
    @property
    def page_url(self) -> str:
        return f"{_bases(self.link)[0]}/gallery/{self.id}"


GalleryItem = GalleryImage | GalleryAlbum


class TagGallery(Tag):
    """A tag's page of items (``/3/gallery/t/{tag}/…``)."""

    items: list[GalleryImage | GalleryAlbum] = Field(default_factory=list)


class TagCatalog(_Model):
    """``/3/tags``: every tag, plus the featured one."""

    tags: TagList = Field(default_factory=list)
    featured: Str = None


class Account(_Model):
    _blank_is_none = frozenset({"avatar"})

    id: Int = None
    url: Id
    bio: Str = None
    avatar: Blank = None
    reputation: Int = None
    reputation_name: Str = None
    created: Int = None
    # false in the JSON means "not pro" (lax mode would read it as 0)
    pro_expiration: Annotated[int | None, BeforeValidator(to_int)] = None
    is_blocked: Bool = None

    @property
    def username(self) -> str:
        return self.url


class MemeTemplate(_Model):
    """A default meme template (``/3/memegen/defaults`` lists Image objects; §5.6)."""

    id: Id
    name: str
    link: Url = None
    width: Int = None
    height: Int = None
    type: Str = None

    @property
    def image_url(self) -> str:
        return _secure(self.link) or f"{_bases(None)[1]}/{self.id}.png"


class Credits(_Model):
    """``/3/credits``. ``user_reset_value`` is as Imgur sent it: an epoch, or seconds from
    the moment of the answer (``user_reset_at(now)`` applies the rule)."""

    user_limit: Int = None
    user_remaining: Int = None
    user_reset_value: Int = None
    client_limit: Int = None
    client_remaining: Int = None

    def user_reset_at(self, now: _dt.datetime) -> _dt.datetime | None:
        return reset_time(self.user_reset_value, now)


class UploadResult(Image):
    """An upload's answer: the image plus the ``deletehash`` only its uploader gets."""

    deletehash: Id
    link: Id


class AlbumCreated(_Model):
    id: Id
    deletehash: Url = None


class Token(_Model):
    """An OAuth token response (never wrapped in ``data``). Secrets stay hidden in reprs."""

    access_token: SecretStr
    refresh_token: SecretStr | None = None
    expires_in: Int = None
    token_type: Str = None
    scope: Str = None
    account_id: Int = None
    account_username: Str = None


# --------------------------------------------------------------------------------------
# Parsers: deciphered data in, models out, BadResponse when the shape is hopeless

M = TypeVar("M", bound=BaseModel)


def _lenient(model: type[BaseModel], name: str) -> Callable[[Any], Any]:
    """The forgiving converter for one field, chosen by its type."""
    kinds = get_args(model.model_fields[name].annotation) or (model.model_fields[name].annotation,)
    if bool in kinds:
        return to_bool
    if int in kinds:
        return to_int
    if str in kinds:
        return to_nonempty_str if name in getattr(model, "_blank_is_none", ()) else to_str
    return lambda _value: None  # lists and objects: their default


def _validate(model: type[M], data: Any, what: str) -> M:
    if not isinstance(data, dict):
        raise BadResponse(f"{what}: expected an object, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        refused = {
            e["loc"][0] for e in exc.errors() if e["loc"] and e["loc"][0] in model.model_fields
        }
    # Second pass: read the refused fields leniently (a wrong type becomes None).
    cleaned = dict(data)
    for name in refused:
        cleaned[name] = _lenient(model, name)(data.get(name))
    try:
        return model.model_validate(cleaned)
    except ValidationError as exc:
        # Only field locations, never values: a token response holds secrets.
        where = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors()[:3])
        raise BadResponse(f"{what}: unusable fields ({where})") from None


def _validate_list(parse_one: Callable[[Any], M], data: Any, what: str) -> list[M]:
    if not isinstance(data, list):
        raise BadResponse(f"{what}: expected a list, got {type(data).__name__}")
    items: list[M] = []
    for raw in data:
        try:
            items.append(parse_one(raw))
        except BadResponse as exc:
            # One broken item should not cost the user the whole page.
            log.warning("skipped an unreadable %s item: %s", what, exc.message)
    return items


def _is_album(data: dict[str, Any]) -> bool:
    flag = to_bool(data.get("is_album"))
    if flag is not None:
        return flag
    # Older bodies without is_album: albums have covers and counts, images a MIME type.
    return "images_count" in data or ("cover" in data and "type" not in data)


def parse_item(data: Any) -> GalleryItem:
    """One gallery item; ``is_album`` tells images and albums apart."""
    if isinstance(data, dict) and _is_album(data):
        return _validate(GalleryAlbum, data, "gallery album")
    return _validate(GalleryImage, data, "gallery image")


def _item_case(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None  # fails the whole-page pass; the item-by-item pass skips it with a warning
    flag = value.get("is_album")
    if flag is True or flag is False:  # what every modern answer says: skip ``_is_album``
        return "album" if flag else "image"
    return "album" if _is_album(value) else "image"


# A whole page in one pydantic-core call: the same models ``parse_item`` builds, without a
# Python round trip per item. Any item it refuses sends the page item by item instead.
_GALLERY_PAGE: TypeAdapter[list[GalleryItem]] = TypeAdapter(
    list[
        Annotated[
            Annotated[GalleryAlbum, Case("album")] | Annotated[GalleryImage, Case("image")],
            Discriminator(_item_case),
        ]
    ]
)


def parse_gallery(data: Any) -> list[GalleryItem]:
    """A page of mixed gallery items (gallery, search, subreddit, memes, submissions)."""
    if isinstance(data, list):
        try:
            return _GALLERY_PAGE.validate_python(data)
        except ValidationError:
            pass  # a lenient second pass or a skipped item is needed somewhere on the page
    return _validate_list(parse_item, data, "gallery")


def parse_gallery_image(data: Any) -> GalleryImage:
    return _validate(GalleryImage, data, "gallery image")


def parse_gallery_album(data: Any) -> GalleryAlbum:
    return _validate(GalleryAlbum, data, "gallery album")


def parse_image(data: Any) -> Image:
    return _validate(Image, data, "image")


def parse_images(data: Any) -> list[Image]:
    return _validate_list(parse_image, data, "images")


def parse_album(data: Any) -> Album:
    return _validate(Album, data, "album")


def parse_albums(data: Any) -> list[Album]:
    return _validate_list(parse_album, data, "albums")


def parse_tag_gallery(data: Any) -> TagGallery:
    if not isinstance(data, dict):
        raise BadResponse(f"tag gallery: expected an object, got {type(data).__name__}")
    items = parse_gallery(data.get("items") or [])
    tag = _validate(Tag, data, "tag gallery")
    return TagGallery(**tag.model_dump(), items=items)


def parse_tag_info(data: Any) -> Tag:
    return _validate(Tag, data, "tag")


def parse_tags(data: Any) -> TagCatalog:
    return _validate(TagCatalog, data, "tags")


def parse_account(data: Any) -> Account:
    return _validate(Account, data, "account")


def parse_memegen(data: Any) -> list[MemeTemplate]:
    def one(raw: Any) -> MemeTemplate:
        image = parse_image(raw)
        return MemeTemplate(
            id=image.id,
            name=image.title or image.id,
            link=image.link,
            width=image.width,
            height=image.height,
            type=image.type,
        )

    return _validate_list(one, data, "meme templates")


def parse_credits(data: Any) -> Credits:
    if not isinstance(data, dict):
        raise BadResponse(f"credits: expected an object, got {type(data).__name__}")
    return Credits(
        user_limit=to_int(data.get("UserLimit")),
        user_remaining=to_int(data.get("UserRemaining")),
        user_reset_value=to_int(data.get("UserReset")),
        client_limit=to_int(data.get("ClientLimit")),
        client_remaining=to_int(data.get("ClientRemaining")),
    )


def parse_upload(data: Any) -> UploadResult:
    return _validate(UploadResult, data, "upload result")


def parse_album_created(data: Any) -> AlbumCreated:
    return _validate(AlbumCreated, data, "album creation")


def parse_token(data: Any) -> Token:
    return _validate(Token, data, "token")


def parse_ok(data: Any) -> bool:
    """The "Basic" answer of writes: ``data: true``."""
    if data is True or data is None:
        return True
    if isinstance(data, dict | str):
        return True  # creation ids or words such as "favorited"
    raise ApiError(f"Imgur answered {data!r} instead of true", status=200)
