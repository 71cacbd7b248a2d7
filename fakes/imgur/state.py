"""The emulator's mutable world, and the per-request ``Call`` the routes receive."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from fakes.imgur.accounting import Accounting, Caller
from fakes.imgur.comments import Comments
from fakes.imgur.config import EmulatorConfig
from fakes.imgur.data import Account, AlbumRecord, Catalogue, ImageRecord, generate_catalogue
from fakes.imgur.faults import Faults
from fakes.imgur.listings import Listings
from fakes.imgur.media import MediaStore
from fakes.imgur.oauth import AccessToken, Tokens
from fakes.imgur.render import Page, Renderer
from fakes.imgur.responses import ApiError
from fakes.imgur.stats import Stats

TRUE_WORDS = frozenset({"true", "1", "yes", "on"})


class State:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.faults = Faults()
        self.stats = Stats()
        self.accounting = Accounting(config)
        self.media = MediaStore(config.media_cache_bytes)
        # Set by Emulator/run once the socket is bound; the default public base URL.
        self.listen_url: str | None = None
        # Delayed requests still being answered, maybe for a client that has gone.
        self.in_flight: set[asyncio.Future] = set()
        self._build_world()

    def _build_world(self) -> None:
        self.catalogue: Catalogue = generate_catalogue(self.config.seed, self.config.item_count)
        self.listings = Listings(self.catalogue)
        self.tokens = Tokens(self.config, self.catalogue)
        self.comments = Comments(self.catalogue)
        # Username (lower case) -> favourite item ids, oldest first / changed settings.
        self.favourites: dict[str, dict[str, None]] = {}
        self._settings: dict[str, dict[str, Any]] = {}
        self._renderers: dict[str, Renderer] = {}

    def reset(self) -> None:
        """Back to a fresh start: new catalogue (drops uploads), counters, faults, tokens."""
        self.faults.clear()
        self.stats.reset()
        self.accounting.reset()
        self.media.clear()
        self._build_world()

    def settings_of(self, account: Account) -> dict[str, Any]:
        """An account's settings (§6.7), as changed through ``/3/account/me/settings``."""
        settings = self._settings.get(account.url.lower())
        if settings is None:
            settings = self._settings[account.url.lower()] = {
                "account_url": account.url,
                "email": f"{account.url.lower()}@example.invalid",
                "high_quality": False,
                "public_images": False,
                "album_privacy": "hidden",
                "pro_expiration": account.pro_expiration,
                "accepted_gallery_terms": True,
                "active_emails": [],
                "messaging_enabled": True,
                "comment_replies": True,
                "blocked_users": [],
                "show_mature": self.config.user_show_mature,
                "newsletter_subscribed": False,
                "first_party": True,
                "bio": account.bio,
            }
        return settings

    def show_mature(self, username: str) -> bool:
        """Whether a signed-in user sees NSFW in galleries: their setting, else the config."""
        settings = self._settings.get(username.lower())
        return bool(settings["show_mature"]) if settings else self.config.user_show_mature

    def public_base(self, request: web.Request) -> str:
        base = self.config.public_url or self.listen_url
        if base is None:
            base = f"{request.scheme}://{request.host}"
        return base.rstrip("/")

    def forget_rendered(self, item_id: str) -> None:
        for renderer in self._renderers.values():
            renderer.forget(item_id)

    def delete_image(self, image: ImageRecord) -> None:
        """Gone everywhere: lookups, albums, gallery lists, cached JSON and served bytes."""
        listed = image.id in self.catalogue.posts_by_id
        holders = self.catalogue.remove_image(image)
        self.media.forget(image.id)
        self._after_removal(listed, image.id, *(a.id for a in holders))

    def delete_album(self, album: AlbumRecord) -> None:
        listed = album.id in self.catalogue.posts_by_id
        self.catalogue.remove_album(album)
        self._after_removal(listed, album.id)

    def _after_removal(self, listed: bool, *item_ids: str) -> None:
        if listed:  # a gallery post: every cached list may hold it
            self.listings.clear()
        for item_id in item_ids:
            self.forget_rendered(item_id)

    def renderer(self, base: str) -> Renderer:
        renderer = self._renderers.get(base)
        if renderer is None:
            renderer = self._renderers[base] = Renderer(self.catalogue, base)
        return renderer


@dataclass
class Call:
    """One API request after routing: who calls, with what, rendered for which base."""

    request: web.Request
    state: State
    method: str
    path: str  # as requested, echoed in error bodies
    segments: list[str]  # after /3/, with any .json suffix stripped
    renderer: Renderer
    caller: Caller | None = None
    token: AccessToken | None = None
    _form: MultiDict | MultiDictProxy | None = field(default=None, repr=False)

    @property
    def query(self) -> MultiDictProxy[str]:
        return self.request.query

    @property
    def is_user(self) -> bool:
        return self.token is not None

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.query.get(name)
        if value is None:
            return default
        return value.strip().lower() in TRUE_WORDS

    @property
    def mature(self) -> bool:
        """NSFW visible? Client-ID calls: ``mature=true``; users: their account setting."""
        if self.token is not None:
            return self.state.show_mature(self.token.username)
        return self.flag("mature")

    async def form(self) -> MultiDict | MultiDictProxy:
        """Query and body parameters together (imgurpython sends GET params twice).

        The body may be urlencoded, multipart/form-data (as Imgur's own Postman collection
        sends album and image edits) or JSON; every write reads it the same way. File
        parts are left out: only uploads take files, and they read the body themselves.
        """
        if self._form is None:
            merged: MultiDict[Any] = MultiDict(self.query)
            request = self.request
            if request.can_read_body:
                if request.content_type == "application/json":
                    for key, value in (await self._json_object()).items():
                        merged.add(key, value)
                else:
                    # aiohttp parses urlencoded and multipart bodies alike (other types
                    # give nothing, and the route then says what is missing).
                    posted = await request.post()
                    merged.extend((k, v) for k, v in posted.items() if isinstance(v, str))
            self._form = merged
        return self._form

    async def _json_object(self) -> dict[str, Any]:
        try:
            body = json.loads(await self.request.read() or b"{}")
        except ValueError as exc:
            raise ApiError(400, f"The request body is not valid JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise ApiError(400, "The JSON request body must be an object of parameters")
        return body

    async def require_any(self, *names: str) -> MultiDict | MultiDictProxy:
        """The parameters, or Imgur's 400 when none of ``names`` was sent (a dropped write
        must fail loudly, not answer ``data: true``)."""
        form = await self.form()
        if not any(_given(form.get(n)) or _given(form.get(f"{n}[]")) for n in names):
            wanted = " or ".join(names)
            raise ApiError(400, f"Missing required parameter: {wanted}")
        return form

    async def list_param(self, name: str) -> list[str]:
        """``ids[]=a&ids[]=b``, ``ids=a,b`` or a JSON list: all the same to Imgur."""
        form = await self.form()
        values: list[str] = []
        for key in (f"{name}[]", name):
            for value in form.getall(key, []):
                if isinstance(value, list):
                    values.extend(str(v) for v in value)
                else:
                    values.extend(v for v in str(value).split(",") if v)
        return [v.strip() for v in values if v.strip()]


def _given(value: Any) -> bool:
    return value is not None and value != "" and value != []


@dataclass
class Reply:
    """A route's answer: ``data`` for the envelope, or a ready ``body`` (list pages).

    A body given as a rendered ``Page`` brings its ETag along (GET answers send one).
    """

    data: Any = None
    body: str | Page | None = None
    status: int = 200


Handler = Callable[[Call], Awaitable[Reply]]


@dataclass(frozen=True)
class Route:
    name: str  # e.g. "gallery", "image.get": the "kind" counted in stats
    handler: Handler
    # "client": Client-ID or Bearer; "user": Bearer only (§5 legend C/U vs U).
    auth: str = "client"
    upload: bool = False
