"""Records -> Imgur's JSON shapes (imgur-api.md §6), with the drift real Imgur shows.

Two eras live side by side, chosen per record by the seed:
- *legacy* (2015-style): ``comment_preview: null``, ``webm``/``webm_size``, ``mp4_size`` as a
  **string**, no ``tags``/``is_ad``/``edited`` keys;
- *modern* (2020s): ``tags`` as Tag objects, ``edited: "0"`` (a string), ``ad_type``/``ad_url``,
  ``ad_config``, ``mp4: ""``/``hls: ""`` on stills, null vote fields on album members.

Gallery list entries for albums carry no ``images`` key unless ``album_previews`` was asked
for; subreddit entries have null ``ups/downs/points/comment_count`` and a numeric ``score``.
List pages are assembled from per-item JSON fragments cached here, so a page costs a
string join, not a ``json.dumps`` of 60 dicts; a page asked for again (same items, same
variant) is served from a bounded cache of encoded bodies with their ETag, at no cost.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from fakes.imgur.data import AlbumRecord, Catalogue, ImageRecord, Post, TagInfo

# Animated GIFs over 20 MB are linked as a ``h``-suffixed .gif thumbnail (imgur-api.md §1).
LARGE_GIF_BYTES = 20 * 1024 * 1024
# With album_previews, long albums embed only their first few images (as recorded).
PREVIEW_IMAGES = 3
# Encoded list pages kept for repeat requests (a 60-item page is about 90 KB).
PAGE_CACHE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Page:
    """An encoded answer body and its weak ETag (``W/"sha1"``, as ``pipeline`` sends it)."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, text: str) -> Page:
        body = text.encode()
        return cls(body, 'W/"' + hashlib.sha1(body, usedforsecurity=False).hexdigest() + '"')


def dumps(payload: Any) -> str:
    """Serialise like Imgur's PHP back end: compact, ASCII-escaped, with ``\\/``."""
    return json.dumps(payload, separators=(",", ":")).replace("/", "\\/")


class Renderer:
    """Renders records for one public base URL (links depend on it)."""

    def __init__(self, catalogue: Catalogue, base_url: str) -> None:
        self.catalogue = catalogue
        self.base = base_url.rstrip("/")
        self._fragments: dict[tuple[str, str], str] = {}
        self._tag_objects: dict[str, dict] = {}
        self._pages: OrderedDict[tuple[str, ...], Page] = OrderedDict()
        self._page_bytes = 0

    # -- links ------------------------------------------------------------------------

    def media_link(self, image_id: str, ext: str) -> str:
        return f"{self.base}/{image_id}.{ext}"

    def album_link(self, album_id: str) -> str:
        return f"{self.base}/a/{album_id}"

    def gallery_link(self, item_id: str) -> str:
        return f"{self.base}/gallery/{item_id}"

    def image_link(self, image: ImageRecord) -> str:
        if image.mime == "image/gif" and image.size > LARGE_GIF_BYTES:
            return self.media_link(image.id + "h", "gif")
        return self.media_link(image.id, image.ext)

    # -- tags ---------------------------------------------------------------------------

    def tag_object(self, info: TagInfo) -> dict:
        """The modern full Tag object (``/3/tags``, item ``tags[]``, tag gallery header)."""
        cached = self._tag_objects.get(info.name)
        if cached is None:
            cached = {
                "name": info.name,
                "display_name": info.display_name,
                "followers": info.followers,
                "total_items": info.total_items,
                "following": False,
                "is_whitelisted": False,
                "background_hash": info.background_hash,
                "thumbnail_hash": None,
                "accent": info.accent,
                "background_is_animated": False,
                "thumbnail_is_animated": False,
                "is_promoted": False,
                "description": info.description,
                "logo_hash": None,
                "logo_destination_url": None,
                "description_annotations": {},
            }
            self._tag_objects[info.name] = cached
        return cached

    def _item_tags(self, names: tuple[str, ...]) -> list[dict]:
        tags = self.catalogue.tags
        return [self.tag_object(tags[n]) for n in names if n in tags]

    # -- images -------------------------------------------------------------------------

    def image(
        self,
        image: ImageRecord,
        *,
        gallery: bool = False,
        subreddit: bool = False,
        owner: bool = False,
    ) -> dict:
        """An Image (or, with ``gallery``, a Gallery Image) as Imgur returns it."""
        in_gallery_view = gallery and image.in_gallery
        out: dict[str, Any] = {
            "id": image.id,
            "title": image.title,
            "description": image.description,
            "datetime": image.datetime,
            "type": image.mime,
            "animated": image.animated,
            "width": image.width,
            "height": image.height,
            "size": image.size,
            "views": image.views,
            "bandwidth": image.views * image.size,
            "vote": None,
            "favorite": False,
            "nsfw": image.nsfw,
            "section": image.section,
            "account_url": image.account_url,
            "account_id": image.account_id,
        }
        if image.legacy:
            out["comment_preview"] = None
        else:
            out["is_ad"] = False
            out["in_most_viral"] = image.in_most_viral
            out["has_sound"] = image.has_sound
            out["tags"] = self._item_tags(image.tags) if in_gallery_view else []
            out["ad_type"] = 0
            out["ad_url"] = ""
            out["edited"] = "0"
            out["in_gallery"] = image.in_gallery and not subreddit
        if in_gallery_view and not subreddit:
            out["topic"] = image.topic[1] if image.topic else None
            out["topic_id"] = image.topic[0] if image.topic else None
        if owner and image.deletehash:
            out["deletehash"] = image.deletehash
            out["name"] = image.name or ""
        self._add_media_links(out, image)
        if image.is_video:
            out["processing"] = {"status": "completed"}
        if image.meme_name and in_gallery_view:
            out["meme_metadata"] = {
                "meme_name": image.meme_name,
                "top_text": (image.title or "").upper(),
                "bottom_text": "",
                "bg_image": self._meme_template_id(image.meme_name),
            }
        self._add_votes(out, image, gallery=in_gallery_view, subreddit=subreddit)
        if in_gallery_view:
            out["is_album"] = False
            if not image.legacy and not subreddit:
                out["ad_config"] = _ad_config(bool(image.nsfw))
        return out

    def _add_media_links(self, out: dict, image: ImageRecord) -> None:
        if image.animated:
            mp4 = self.media_link(image.id, "mp4")
            out["gifv"] = self.media_link(image.id, "gifv")
            if image.legacy:
                out["webm"] = self.media_link(image.id, "webm")
                out["mp4"] = mp4
                # 2015 fixtures carry these sizes as strings.
                out["mp4_size"] = str(image.mp4_size)
                out["webm_size"] = str(image.mp4_size * 4 // 5)
            else:
                out["mp4"] = mp4
                out["hls"] = self.media_link(image.id, "m3u8")
                out["mp4_size"] = image.mp4_size
            out["link"] = self.image_link(image)
            out["looping"] = True
        else:
            out["link"] = self.image_link(image)
            if not image.legacy:
                out["mp4"] = ""
                out["hls"] = ""

    def _add_votes(self, out: dict, post: Post, *, gallery: bool, subreddit: bool) -> None:
        votes = post.votes
        if gallery and votes is not None and not subreddit:
            out["comment_count"] = votes.comment_count
            if not post.legacy:
                out["favorite_count"] = votes.favorite_count
            out["ups"] = votes.ups
            out["downs"] = votes.downs
            out["points"] = votes.points
            out["score"] = votes.score
        elif subreddit and votes is not None:
            # Subreddit items: vote data null, score numeric (recorded 2017 sample).
            out.update(comment_count=None, ups=None, downs=None, points=None)
            out["score"] = votes.score
        elif not post.legacy:
            # Modern responses keep the keys on non-gallery images, as nulls.
            out.update(
                comment_count=None,
                favorite_count=None,
                ups=None,
                downs=None,
                points=None,
                score=None,
            )

    def _meme_template_id(self, name: str) -> str | None:
        for template in self.catalogue.meme_templates:
            if template.title == name:
                return template.id
        return None

    # -- albums -------------------------------------------------------------------------

    def album(
        self,
        album: AlbumRecord,
        *,
        gallery: bool = False,
        images: str = "all",
        owner: bool = False,
    ) -> dict:
        """An Album or Gallery Album. ``images``: ``"all"``, ``"preview"`` or ``"none"``."""
        cover = self.catalogue.images.get(album.cover) if album.cover else None
        in_gallery_view = gallery and album.in_gallery
        out: dict[str, Any] = {
            "id": album.id,
            "title": album.title,
            "description": album.description,
            "datetime": album.datetime,
            "cover": album.cover,
        }
        if not album.legacy and not in_gallery_view:
            out["cover_edited"] = None
        out["cover_width"] = cover.width if cover else None
        out["cover_height"] = cover.height if cover else None
        out.update(
            account_url=album.account_url,
            account_id=album.account_id,
            privacy=album.privacy,
            layout=album.layout,
            views=album.views,
            link=self.album_link(album.id),
        )
        if in_gallery_view:
            votes = album.votes
            out.update(
                ups=votes.ups if votes else None,
                downs=votes.downs if votes else None,
                points=votes.points if votes else None,
                score=votes.score if votes else None,
                is_album=True,
                vote=None,
                favorite=None if album.favorite_is_null else False,
                nsfw=album.nsfw,
                section=album.section,
                comment_count=votes.comment_count if votes else None,
            )
            if album.legacy:
                out["comment_preview"] = None
            else:
                out["favorite_count"] = votes.favorite_count if votes else None
            out["topic"] = album.topic[1] if album.topic else None
            out["topic_id"] = album.topic[0] if album.topic else None
            out["images_count"] = album.images_count
            if not album.legacy:
                out.update(
                    in_gallery=True,
                    is_ad=False,
                    tags=self._item_tags(album.tags),
                    ad_type=0,
                    ad_url="",
                    in_most_viral=album.in_most_viral,
                    include_album_ads=False,
                    ad_config=_ad_config(bool(album.nsfw)),
                )
        else:
            out.update(favorite=False, nsfw=album.nsfw, section=album.section)
            out["images_count"] = album.images_count
            out["in_gallery"] = album.in_gallery
            if not album.legacy:
                out.update(is_ad=False, include_album_ads=False, is_album=True)
        if owner and album.deletehash:
            out["deletehash"] = album.deletehash
        if images != "none":
            members = self.catalogue.album_images(album)
            if images == "preview":
                members = members[:PREVIEW_IMAGES]
            out["images"] = [self.image(m) for m in members]
        return out

    # -- gallery items and cached fragments -----------------------------------------------

    def post(self, post: Post, *, previews: bool = False, subreddit: bool = False) -> dict:
        if post.is_album:
            return self.album(post, gallery=True, images="preview" if previews else "none")
        return self.image(post, gallery=True, subreddit=subreddit)

    def post_fragment(self, post: Post, variant: str) -> str:
        """Cached JSON text of a list entry; ``variant`` is list | previews | subreddit."""
        key = (post.id, variant)
        text = self._fragments.get(key)
        if text is None:
            text = dumps(
                self.post(post, previews=variant == "previews", subreddit=variant == "subreddit")
            )
            self._fragments[key] = text
        return text

    def item_body(self, post: Post) -> str:
        """Cached envelope of a single gallery item as ``/3/gallery/{id}`` returns it."""
        key = (post.id, "item")
        text = self._fragments.get(key)
        if text is None:
            data = (
                self.album(post, gallery=True, images="all")
                if post.is_album
                else self.image(post, gallery=True)
            )
            text = self._fragments[key] = '{"data":' + dumps(data) + ',"success":true,"status":200}'
        return text

    def tag_body(self, info: TagInfo, posts: list[Post], variant: str) -> str:
        """A tag gallery page: the Tag object with ``items`` spliced in from fragments."""
        header = dumps(self.tag_object(info))[:-1]
        inner = ",".join(self.post_fragment(p, variant) for p in posts)
        return '{"data":' + header + ',"items":[' + inner + ']},"success":true,"status":200}'

    def forget(self, item_id: str) -> None:
        """Drop cached JSON of a record that changed (e.g. its owner edited the title)."""
        for variant in ("list", "previews", "subreddit", "item"):
            self._fragments.pop((item_id, variant), None)
        self._tag_objects.clear()  # their total_items may have changed
        # Edits are rare: drop every cached page rather than track which pages hold it.
        self._pages.clear()
        self._page_bytes = 0

    def list_body(self, posts: list[Post], variant: str) -> str:
        """A whole ``{"data":[...],"success":true,"status":200}`` body for a page."""
        inner = ",".join(self.post_fragment(p, variant) for p in posts)
        return '{"data":[' + inner + '],"success":true,"status":200}'

    def list_page(self, posts: list[Post], variant: str) -> Page:
        """``list_body`` encoded, with its ETag; cached by (variant, item ids)."""
        key = (variant, *(p.id for p in posts))
        page = self._pages.get(key)
        if page is not None:
            self._pages.move_to_end(key)
            return page
        page = self._pages[key] = Page.of(self.list_body(posts, variant))
        self._page_bytes += len(page.body)
        while self._page_bytes > PAGE_CACHE_BYTES and len(self._pages) > 1:
            _, dropped = self._pages.popitem(last=False)
            self._page_bytes -= len(dropped.body)
        return page


def _ad_config(nsfw: bool) -> dict:
    return {
        "safeFlags": [] if nsfw else ["in_gallery", "gallery"],
        "highRiskFlags": [],
        "unsafeFlags": ["not_in_gallery", "mature"] if nsfw else [],
        "wallUnsafeFlags": [],
        "showsAds": not nsfw,
        "showAdLevel": 0 if nsfw else 2,
        "safe_flags": [] if nsfw else ["in_gallery", "gallery"],
        "high_risk_flags": [],
        "unsafe_flags": ["not_in_gallery", "mature"] if nsfw else [],
        "wall_unsafe_flags": [],
        "show_ads_level": 0 if nsfw else 2,
        "nsfw_score": 0.9 if nsfw else 0.0,
    }
