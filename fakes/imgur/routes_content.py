"""Images, uploads, albums, accounts and credits (§5.2–§5.4, §3.3).

Anonymous content is managed by deletehash, owned content by id with a Bearer token of
its owner; anything else gets a 403 "Permission denied".
"""

from __future__ import annotations

from functools import partial
from typing import TypeVar

from yarl import URL

from fakes.imgur.data import AlbumRecord, ImageRecord
from fakes.imgur.listings import PAGE_SIZE, page_of
from fakes.imgur.media import split_name
from fakes.imgur.responses import ApiError
from fakes.imgur.routes_community import (
    PERMISSION_DENIED,
    account_list_reply,
    account_or_404,
    favorite,
    resolve_account_community,
    resolve_comment,
    username_of,
)
from fakes.imgur.routes_gallery import memegen_defaults, resolve_gallery, resolve_memes, tags_list
from fakes.imgur.state import Call, Reply, Route
from fakes.imgur.uploads import (
    decode_base64,
    fetch_url,
    invalid_type_error,
    oversize_error,
    probe_image,
    read_form,
    sniff_mime,
)

# -- images -------------------------------------------------------------------------------


R = TypeVar("R", ImageRecord, AlbumRecord)


def _image_404(image_id: str) -> ApiError:
    return ApiError(404, f"Unable to find an image with the id, {image_id}")


def _owns(call: Call, record: ImageRecord | AlbumRecord) -> bool:
    if call.token is None:
        return False
    owner = call.state.catalogue.owner_of(record)
    return owner is not None and owner.lower() == call.token.username.lower()


def _for_write(call: Call, key: str, kind: type[R], by_id: dict[str, R], missing: ApiError) -> R:
    """The record named by a deletehash (anyone may write) or an id (its owner only)."""
    by_hash = call.state.catalogue.by_deletehash.get(key)
    if isinstance(by_hash, kind):
        return by_hash
    record = by_id.get(key)
    if record is None:
        raise missing
    if not _owns(call, record):
        raise ApiError(403, PERMISSION_DENIED)
    return record


def _image_for_write(call: Call, key: str) -> ImageRecord:
    return _for_write(call, key, ImageRecord, call.state.catalogue.images, _image_404(key))


async def image_get(call: Call, image_id: str) -> Reply:
    image = call.state.catalogue.images.get(image_id)
    if image is None:
        raise _image_404(image_id)
    return Reply(call.renderer.image(image, owner=_owns(call, image)))


async def image_update(call: Call, key: str) -> Reply:
    image = _image_for_write(call, key)
    form = await call.require_any("title", "description")
    if "title" in form:
        image.title = str(form["title"])
    if "description" in form:
        image.description = str(form["description"])
    call.state.forget_rendered(image.id)
    if image.album_id:  # the album's cached JSON embeds this image
        call.state.forget_rendered(image.album_id)
    return Reply(True)


async def image_delete(call: Call, key: str) -> Reply:
    call.state.delete_image(_image_for_write(call, key))
    return Reply(True)


# -- uploads --------------------------------------------------------------------------------


async def _bytes_from_url(call: Call, url: str, limit: int) -> bytes:
    """Own-host links resolve internally; other local hosts are fetched; others refused."""
    state = call.state
    target = URL(url)
    own_bases = {state.public_base(call.request), state.listen_url or ""}
    own = any(base and url.startswith(base + "/") for base in own_bases)
    if own or (target.host, target.port) == (call.request.url.host, call.request.url.port):
        name, _, ext = target.path.lstrip("/").partition(".")
        found = split_name(name, state.catalogue)
        if found is None or not ext:
            raise ApiError(400, "Unable to process upload!")
        image, suffix = found
        return await state.media.get(image, suffix, ext.lower(), state.public_base(call.request))
    return await fetch_url(url, limit, state.config.url_fetch_hosts)


async def upload(call: Call) -> Reply:
    state, config = call.state, call.state.config
    form = await read_form(call.request, config.max_video_bytes)
    fields = {**{k: v for k, v in call.query.items()}, **form.fields}
    if form.oversize:
        raise oversize_error(config.oversize_mode)
    data, file_name = form.file_bytes, form.file_name
    if data is None:
        value = fields.get("image") or fields.get("video") or ""
        if not value:
            raise ApiError(400, "No image data was sent to the upload api")
        kind = fields.get("type", "").lower()
        if kind == "url" or (kind != "base64" and value.startswith(("http://", "https://"))):
            data = await _bytes_from_url(call, value, config.max_video_bytes)
        else:
            data = decode_base64(value)
    mime = sniff_mime(data)
    if mime is None:
        raise invalid_type_error()
    is_video = mime.startswith("video/")
    if len(data) > (config.max_video_bytes if is_video else config.max_image_bytes):
        raise oversize_error(config.oversize_mode)
    width, height, animated = (0, 0, True) if is_video else probe_image(data, mime)
    album = _upload_album(call, fields.get("album") or fields.get("album_id"))
    catalogue = state.catalogue
    rng = catalogue.upload_rng
    image = ImageRecord(
        id=catalogue.new_id(rng),
        mime="video/mp4" if is_video else mime,
        width=width,
        height=height,
        size=len(data),
        datetime=int(config.clock.now().timestamp()),
        title=fields.get("title") or None,
        description=fields.get("description") or None,
        animated=animated,
        mp4_size=len(data) if is_video else 0,
        deletehash=catalogue.new_deletehash(rng),
        name=fields.get("name") or file_name or "",
        payload=data,
    )
    if call.token is not None:
        image.account_url = call.token.username
        image.account_id = call.token.account_id
    catalogue.add_image(image)
    if album is not None:
        album.image_ids.append(image.id)
        album.cover = album.cover or image.id
        image.album_id = album.id
    return Reply(call.renderer.image(image, owner=True))


def _upload_album(call: Call, key: str | None) -> AlbumRecord | None:
    if not key:
        return None
    return _album_for_write(call, key)


# -- albums ---------------------------------------------------------------------------------


def _album_404(album_id: str) -> ApiError:
    return ApiError(404, f"Unable to find an album with the id, {album_id}.")


def _album_for_write(call: Call, key: str) -> AlbumRecord:
    return _for_write(call, key, AlbumRecord, call.state.catalogue.albums, _album_404(key))


async def _images_to_add(call: Call) -> list[ImageRecord]:
    """Images named by ``deletehashes`` (anyone) and ``ids`` (the caller's own).

    A name that matches no image is a 404: silently skipping it would hide the caller's bug.
    """
    catalogue = call.state.catalogue
    found: list[ImageRecord] = []
    for deletehash in await call.list_param("deletehashes"):
        image = catalogue.by_deletehash.get(deletehash)
        if not isinstance(image, ImageRecord):
            raise _image_404(deletehash)
        found.append(image)
    for image_id in await call.list_param("ids"):
        image = catalogue.images.get(image_id)
        if image is None:
            raise _image_404(image_id)
        if not _owns(call, image):
            raise ApiError(403, PERMISSION_DENIED)
        found.append(image)
    return found


ALBUM_FIELDS = ("title", "description", "privacy", "layout", "cover", "ids", "deletehashes")
PRIVACY = ("public", "hidden", "secret")
LAYOUTS = ("blog", "grid", "horizontal", "vertical")


async def _apply_album_fields(call: Call, album: AlbumRecord) -> None:
    form = await call.form()
    for name, allowed in (("privacy", PRIVACY), ("layout", LAYOUTS)):
        if name in form and form[name] not in allowed:
            raise ApiError(400, f"Invalid {name} {form[name]!r}: use one of {', '.join(allowed)}")
    cover = form.get("cover")
    if cover and cover not in album.image_ids:
        raise ApiError(400, f"The cover {cover!r} is not an image of this album")
    for name in ("title", "description", "privacy", "layout"):
        if name in form:
            setattr(album, name, str(form[name]))
    if cover:
        album.cover = str(cover)


async def album_create(call: Call) -> Reply:
    catalogue = call.state.catalogue
    rng = catalogue.upload_rng
    images = await _images_to_add(call)
    album = AlbumRecord(
        id=catalogue.new_id(rng),
        datetime=int(call.state.config.clock.now().timestamp()),
        image_ids=list(dict.fromkeys(i.id for i in images)),
        privacy="hidden",
        deletehash=catalogue.new_deletehash(rng),
    )
    album.cover = album.image_ids[0] if album.image_ids else None
    if call.token is not None:
        album.account_url = call.token.username
        album.account_id = call.token.account_id
    await _apply_album_fields(call, album)
    catalogue.add_album(album)
    return Reply({"id": album.id, "deletehash": album.deletehash})


def _album_read(call: Call, album_id: str) -> AlbumRecord:
    album = call.state.catalogue.albums.get(album_id)
    if album is None:
        raise _album_404(album_id)
    return album


async def album_get(call: Call, album_id: str) -> Reply:
    album = _album_read(call, album_id)
    return Reply(call.renderer.album(album, images="all", owner=_owns(call, album)))


async def album_images(call: Call, album_id: str) -> Reply:
    album = _album_read(call, album_id)
    images = call.state.catalogue.album_images(album)
    return Reply([call.renderer.image(i, owner=_owns(call, i)) for i in images])


async def album_image(call: Call, album_id: str, image_id: str) -> Reply:
    album = _album_read(call, album_id)
    if image_id not in album.image_ids:
        raise _image_404(image_id)
    return await image_get(call, image_id)


async def album_update(call: Call, key: str) -> Reply:
    album = _album_for_write(call, key)
    form = await call.require_any(*ALBUM_FIELDS)
    if any(k in form for k in ("ids", "ids[]", "deletehashes", "deletehashes[]")):
        album.image_ids = list(dict.fromkeys(i.id for i in await _images_to_add(call)))
        album.cover = album.image_ids[0] if album.image_ids else None
    await _apply_album_fields(call, album)
    call.state.forget_rendered(album.id)
    return Reply(True)


async def album_add(call: Call, key: str) -> Reply:
    album = _album_for_write(call, key)
    await call.require_any("ids", "deletehashes")
    for image in await _images_to_add(call):
        if image.id not in album.image_ids:
            album.image_ids.append(image.id)
    album.cover = album.cover or (album.image_ids[0] if album.image_ids else None)
    call.state.forget_rendered(album.id)
    return Reply(True)


async def album_remove_images(call: Call, key: str) -> Reply:
    album = _album_for_write(call, key)
    await call.require_any("ids")
    gone = set(await call.list_param("ids"))
    album.image_ids = [i for i in album.image_ids if i not in gone]
    if album.cover in gone:
        album.cover = album.image_ids[0] if album.image_ids else None
    call.state.forget_rendered(album.id)
    return Reply(True)


async def album_delete(call: Call, key: str) -> Reply:
    call.state.delete_album(_album_for_write(call, key))
    return Reply(True)


# -- accounts and credits ---------------------------------------------------------------------


_REPUTATION_NAMES = (
    (20_000, "Glorious"),
    (4_000, "Renowned"),
    (1_000, "Liked"),
    (400, "Trusted"),
    (0, "Neutral"),
)


async def account_get(call: Call, username: str) -> Reply:
    account = account_or_404(call, username)
    base = call.renderer.base
    reputation_name = next(
        (n for floor, n in _REPUTATION_NAMES if account.reputation >= floor), "Neutral"
    )
    return Reply(
        {
            "id": account.id,
            "url": account.url,
            "bio": account.bio,
            "avatar": f"{base}/user/{account.url}/avatar?maxwidth=290",
            "avatar_name": f"default/{account.url[:1].upper()}",
            "cover": f"{base}/user/{account.url}/cover?maxwidth=2560",
            "cover_name": "default/1-space",
            "reputation": account.reputation,
            "reputation_name": reputation_name,
            "created": account.created,
            "pro_expiration": account.pro_expiration,
            "user_follow": {"status": False},
            "is_blocked": False,
        }
    )


async def account_submissions(call: Call, username: str, page: int, sort: str) -> Reply:
    account = account_or_404(call, username)
    posts = call.state.listings.account_posts(account.url, sort, mature=call.mature)
    return Reply(body=call.renderer.list_body(page_of(posts, page, PAGE_SIZE), "list"))


def _own_uploads(call: Call, username: str) -> list[ImageRecord]:
    name = username_of(call, username)
    if call.token is None or call.token.username.lower() != name.lower():
        raise ApiError(403, PERMISSION_DENIED)
    owned = call.state.catalogue.by_account.get(name.lower(), [])
    return sorted(
        (p for p in owned if not p.is_album and not p.in_gallery), key=lambda i: (-i.datetime, i.id)
    )


async def account_images(call: Call, username: str, page: int, what: str) -> Reply:
    images = _own_uploads(call, username)
    return account_list_reply(images, page, what, partial(call.renderer.image, owner=True))


async def account_albums(call: Call, username: str, page: int, what: str) -> Reply:
    account = account_or_404(call, username)
    albums = [
        a
        for a in call.state.catalogue.albums.values()
        if a.account_url and a.account_url.lower() == account.url.lower()
    ]
    albums.sort(key=lambda a: (-a.datetime, a.id))
    return account_list_reply(
        albums, page, what, lambda a: call.renderer.album(a, images="none", owner=_owns(call, a))
    )


async def account_image_delete(call: Call, username: str, key: str) -> Reply:
    username_of(call, username)
    return await image_delete(call, key)


async def credits(call: Call) -> Reply:
    assert call.caller is not None
    return Reply(call.state.accounting.credits(call.caller))


# -- resolution -------------------------------------------------------------------------------


def _page(segment: str | None) -> int | None:
    if segment is None:
        return 0
    return int(segment) if segment.isdigit() else None


def resolve_image(method: str, head: str, rest: list[str]) -> Route | None:
    if head == "upload" or (head == "image" and not rest):
        if method == "POST" and not rest:
            return Route("upload", upload, upload=True)
        return None
    key = rest[0]
    if len(rest) == 1:
        if method in ("GET", "HEAD"):
            return Route("image.get", partial(image_get, image_id=key))
        if method in ("POST", "PUT"):
            return Route("image.update", partial(image_update, key=key))
        if method == "DELETE":
            return Route("image.delete", partial(image_delete, key=key))
    if rest[1:] == ["favorite"] and method == "POST":
        handler = partial(favorite, item_id=key, kind="image")
        return Route("image.favorite", handler, auth="user")
    return None


def resolve_album(method: str, rest: list[str]) -> Route | None:
    if not rest:
        return Route("album.create", album_create) if method == "POST" else None
    key, tail = rest[0], rest[1:]
    if not tail:
        if method in ("GET", "HEAD"):
            return Route("album.get", partial(album_get, album_id=key))
        if method in ("POST", "PUT"):
            return Route("album.update", partial(album_update, key=key))
        if method == "DELETE":
            return Route("album.delete", partial(album_delete, key=key))
        return None
    if tail == ["images"] and method in ("GET", "HEAD"):
        return Route("album.images", partial(album_images, album_id=key))
    if tail[0] == "image" and len(tail) == 2 and method in ("GET", "HEAD"):
        return Route("album.image", partial(album_image, album_id=key, image_id=tail[1]))
    if tail == ["favorite"] and method == "POST":
        return Route("album.favorite", partial(favorite, item_id=key, kind="album"), auth="user")
    if tail == ["add"] and method in ("POST", "PUT"):
        return Route("album.add", partial(album_add, key=key))
    if tail == ["remove_images"] and method in ("POST", "DELETE"):
        return Route("album.remove_images", partial(album_remove_images, key=key))
    return None


def resolve_account(method: str, rest: list[str]) -> Route | None:
    if not rest:
        return None
    user, tail = rest[0], rest[1:]
    reading = method in ("GET", "HEAD")
    if not tail:
        return Route("account.get", partial(account_get, username=user)) if reading else None
    what = tail[0]
    if what == "submissions" and reading and len(tail) <= 3:
        page = _page(tail[1] if len(tail) > 1 else None)
        sort = tail[2] if len(tail) > 2 else "newest"
        if page is None:
            return None
        return Route(
            "account.submissions", partial(account_submissions, username=user, page=page, sort=sort)
        )
    if what in ("images", "albums") and reading:
        sub = tail[1] if len(tail) > 1 and tail[1] in ("ids", "count") else "list"
        page = _page(
            tail[2]
            if sub == "ids" and len(tail) > 2
            else tail[1]
            if sub == "list" and len(tail) > 1
            else None
        )
        if page is None:
            return None
        handler = account_images if what == "images" else account_albums
        return Route(f"account.{what}", partial(handler, username=user, page=page, what=sub))
    if what == "image" and len(tail) == 2 and method == "DELETE":
        return Route(
            "account.image.delete",
            partial(account_image_delete, username=user, key=tail[1]),
            auth="user",
        )
    return resolve_account_community(method, user, tail)


def resolve(method: str, segments: list[str]) -> Route | None:
    """Route an API path (segments after ``/3/``); None means Imgur's 404."""
    if not segments:
        return None
    head, rest = segments[0], segments[1:]
    reading = method in ("GET", "HEAD")
    if head == "gallery":
        return resolve_gallery(method, rest)
    if head == "g" and rest[:1] == ["memes"] and reading:
        return resolve_memes(rest[1:])
    if head == "credits" and not rest and reading:
        return Route("credits", credits)
    if head == "tags" and not rest and reading:
        return Route("tags", tags_list)
    if head == "memegen" and rest == ["defaults"] and reading:
        return Route("memegen.defaults", memegen_defaults)
    if head in ("image", "upload"):
        return resolve_image(method, head, rest)
    if head == "album":
        return resolve_album(method, rest)
    if head == "account":
        return resolve_account(method, rest)
    if head == "comment":
        return resolve_comment(method, rest)
    return None
