"""The synthetic Imgur catalogue: gallery posts, album images, accounts, tags, meme templates.

Everything comes from one ``random.Random(seed)``, so a seed always yields the same ids,
titles, numbers and (later, lazily) the same image bytes. Generation stays well under a
second for the default 3,000 posts: records are plain slotted objects and no image is
drawn here (see ``media.py``).

Records hold facts, not JSON; ``render.py`` turns them into Imgur's shapes, including the
type drift real Imgur shows (legacy 2015-style posts, null vote fields, string numbers).
"""

from __future__ import annotations

import random
import string
from collections import defaultdict
from dataclasses import dataclass, field

from fakes.imgur import vocab

# The catalogue's "now": every generated datetime lies before it. Fixed (not the clock)
# so that a seed gives identical data whenever it runs. 2026-01-01T00:00:00Z.
ANCHOR_EPOCH = 1_767_225_600

ID_ALPHABET = string.ascii_letters + string.digits
DAY = 86_400

# MIME type -> the extension Imgur uses in links.
EXT_BY_MIME = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/apng": "png",
    "image/tiff": "tiff",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "video/quicktime": "mp4",
    "video/x-matroska": "mp4",
    "video/x-flv": "mp4",
    "video/x-msvideo": "mp4",
    "video/x-ms-wmv": "mp4",
    "video/mpeg": "mp4",
}


@dataclass(slots=True)
class Votes:
    ups: int
    downs: int
    score: int
    comment_count: int
    favorite_count: int

    @property
    def points(self) -> int:
        return self.ups - self.downs


@dataclass(slots=True, eq=False)
class ImageRecord:
    id: str
    mime: str
    width: int
    height: int
    size: int
    datetime: int
    title: str | None = None
    description: str | None = None
    animated: bool = False
    views: int = 0
    nsfw: bool | None = None
    section: str | None = None
    account_url: str | None = None
    account_id: int | None = None
    tags: tuple[str, ...] = ()
    # A 2015-era record: no newer fields, string mp4_size, comment_preview null.
    legacy: bool = False
    in_gallery: bool = False
    in_most_viral: bool = False
    votes: Votes | None = None
    topic: tuple[int, str] | None = None
    meme_name: str | None = None
    has_sound: bool = False
    mp4_size: int = 0
    album_id: str | None = None
    # Only uploads have these (and only the uploader ever sees them).
    deletehash: str | None = None
    name: str | None = None
    # Uploaded bytes; None means media.py draws the picture from the id.
    payload: bytes | None = None
    is_album = False

    @property
    def ext(self) -> str:
        return EXT_BY_MIME.get(self.mime, "jpg")

    @property
    def is_video(self) -> bool:
        return self.mime.startswith("video/")


@dataclass(slots=True, eq=False)
class AlbumRecord:
    id: str
    datetime: int
    image_ids: list[str]
    title: str | None = None
    description: str | None = None
    cover: str | None = None
    views: int = 0
    nsfw: bool | None = None
    section: str | None = None
    account_url: str | None = None
    account_id: int | None = None
    tags: tuple[str, ...] = ()
    legacy: bool = False
    in_gallery: bool = False
    in_most_viral: bool = False
    votes: Votes | None = None
    topic: tuple[int, str] | None = None
    privacy: str = "public"
    layout: str = "blog"
    # Real list responses occasionally carry ``favorite: null`` (imgur-api.md §6.4).
    favorite_is_null: bool = False
    deletehash: str | None = None
    is_album = True

    @property
    def images_count(self) -> int:
        return len(self.image_ids)


Post = ImageRecord | AlbumRecord


@dataclass(slots=True)
class Account:
    id: int
    url: str
    bio: str | None
    reputation: int
    created: int
    # ``false`` or an epoch: both shapes occur (imgur-api.md §6.7).
    pro_expiration: bool | int


@dataclass(slots=True)
class TagInfo:
    name: str
    display_name: str
    followers: int
    accent: str
    description: str
    background_hash: str | None = None
    posts: list[Post] = field(default_factory=list)

    @property
    def total_items(self) -> int:
        return len(self.posts)


class Catalogue:
    """All generated records plus the indexes the routes need (by id, tag, subreddit...)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.anchor = ANCHOR_EPOCH
        self.images: dict[str, ImageRecord] = {}
        self.albums: dict[str, AlbumRecord] = {}
        self.posts: list[Post] = []
        self.posts_by_id: dict[str, Post] = {}
        self.tags: dict[str, TagInfo] = {}
        self.by_subreddit: dict[str, list[ImageRecord]] = defaultdict(list)
        self.by_account: dict[str, list[Post]] = defaultdict(list)
        self.accounts: dict[str, Account] = {}
        self.memes: list[Post] = []
        self.meme_templates: list[ImageRecord] = []
        # Anonymous uploads and albums are managed by deletehash.
        self.by_deletehash: dict[str, ImageRecord | AlbumRecord] = {}
        self._taken_ids: set[str] = set()
        # Uploads draw from their own stream so they never disturb the generated data.
        self.upload_rng = random.Random(seed * 7_919 + 1)

    # -- ids -------------------------------------------------------------------------

    def new_id(self, rng: random.Random, length: int = 7) -> str:
        while True:
            candidate = "".join(rng.choices(ID_ALPHABET, k=length))
            if candidate not in self._taken_ids:
                self._taken_ids.add(candidate)
                return candidate

    def new_deletehash(self, rng: random.Random) -> str:
        return "".join(rng.choices(ID_ALPHABET, k=15))

    # -- lookups used by tests and routes ----------------------------------------------

    def item(self, item_id: str) -> Post | None:
        """A gallery post by id (image or album)."""
        return self.posts_by_id.get(item_id)

    def gallery_images(self) -> list[ImageRecord]:
        return [p for p in self.posts if not p.is_album]

    def gallery_albums(self) -> list[AlbumRecord]:
        return [p for p in self.posts if p.is_album]

    def nsfw_posts(self) -> list[Post]:
        return [p for p in self.posts if p.nsfw]

    def album_images(self, album: AlbumRecord) -> list[ImageRecord]:
        return [self.images[i] for i in album.image_ids if i in self.images]

    # -- mutations (uploads and anonymous albums) ---------------------------------------

    def add_image(self, image: ImageRecord) -> None:
        self.images[image.id] = image
        if image.deletehash:
            self.by_deletehash[image.deletehash] = image
        if image.account_url:
            self.by_account[image.account_url.lower()].append(image)

    def remove_image(self, image: ImageRecord) -> list[AlbumRecord]:
        """Delete an image everywhere; returns the albums that held it (now without it)."""
        self.images.pop(image.id, None)
        if image.deletehash:
            self.by_deletehash.pop(image.deletehash, None)
        self._unlist(image)
        holders = [a for a in self.albums.values() if image.id in a.image_ids]
        for album in holders:
            album.image_ids.remove(image.id)
            if album.cover == image.id:
                album.cover = album.image_ids[0] if album.image_ids else None
        return holders

    def add_album(self, album: AlbumRecord) -> None:
        self.albums[album.id] = album
        if album.deletehash:
            self.by_deletehash[album.deletehash] = album

    def remove_album(self, album: AlbumRecord) -> None:
        """Delete an album everywhere (its images stay, as on Imgur)."""
        self.albums.pop(album.id, None)
        if album.deletehash:
            self.by_deletehash.pop(album.deletehash, None)
        self._unlist(album)

    def owner_of(self, record: Post) -> str | None:
        """The account a record belongs to; album members belong to the album's owner."""
        if record.account_url or record.is_album or not record.album_id:
            return record.account_url
        album = self.albums.get(record.album_id)
        return album.account_url if album is not None else None

    def _unlist(self, post: Post) -> None:
        """Take a record out of the gallery, tag, subreddit, meme and account indexes."""
        if post.account_url:
            owned = self.by_account.get(post.account_url.lower(), [])
            if post in owned:
                owned.remove(post)
        if self.posts_by_id.pop(post.id, None) is None:
            return
        self.posts.remove(post)
        for tag in post.tags:
            info = self.tags.get(tag)
            if info is not None and post in info.posts:
                info.posts.remove(post)
        for members in (self.by_subreddit.get((post.section or "").lower(), []), self.memes):
            if post in members:
                members.remove(post)


# ---------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------


def generate_catalogue(seed: int = 1337, item_count: int = 3000) -> Catalogue:
    """Build the whole catalogue for ``seed``: ``item_count`` gallery posts and friends."""
    rng = random.Random(seed)
    cat = Catalogue(seed)
    accounts = _make_accounts(rng, cat, count=max(20, item_count // 12))
    _make_tags(rng, cat)
    _make_meme_templates(rng, cat)
    tag_names = list(cat.tags)
    # A Zipf-ish weight per tag so a few tags are popular and most are niche.
    tag_weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(tag_names))]
    for _ in range(item_count):
        post = _make_post(rng, cat, accounts, tag_names, tag_weights)
        cat.posts.append(post)
        cat.posts_by_id[post.id] = post
        for tag in post.tags:
            cat.tags[tag].posts.append(post)
        if post.account_url:
            cat.by_account[post.account_url.lower()].append(post)
        if not post.is_album and post.section:
            cat.by_subreddit[post.section.lower()].append(post)
        if "memes" in post.tags:
            cat.memes.append(post)
    for info in cat.tags.values():
        if info.posts:
            top = max(info.posts, key=lambda p: p.votes.score if p.votes else 0)
            info.background_hash = top.cover if top.is_album else top.id
    return cat


def _make_accounts(rng: random.Random, cat: Catalogue, count: int) -> list[Account]:
    accounts = []
    for _ in range(count):
        name = "".join(rng.choice(vocab.SYLLABLES) for _ in range(rng.randint(2, 4)))
        if rng.random() < 0.5:
            name += str(rng.randint(1, 9999))
        if rng.random() < 0.3:
            name = name.capitalize()
        if name.lower() in cat.accounts:
            continue
        account = Account(
            id=rng.randint(1_000_000, 180_000_000),
            url=name,
            bio=rng.choice((None, None, "Just here for the cats.", "I post things.")),
            reputation=int(rng.lognormvariate(6, 2)) - 50,
            created=ANCHOR_EPOCH - rng.randint(30, 4_000) * DAY,
            pro_expiration=False
            if rng.random() < 0.95
            else ANCHOR_EPOCH + rng.randint(1, 300) * DAY,
        )
        cat.accounts[name.lower()] = account
        accounts.append(account)
    return accounts


def _make_tags(rng: random.Random, cat: Catalogue) -> None:
    for name, display in vocab.TAGS:
        cat.tags[name] = TagInfo(
            name=name,
            display_name=display,
            followers=int(rng.lognormvariate(9, 1.5)),
            accent="".join(rng.choices("0123456789abcdef", k=6)),
            description=f"All things {display}.",
        )


def _make_meme_templates(rng: random.Random, cat: Catalogue) -> None:
    for name in vocab.MEME_TEMPLATES:
        width = rng.choice((800, 800, 760, 820))
        height = rng.choice((800, 800, 780, 840))
        image = ImageRecord(
            id=cat.new_id(rng),
            mime="image/jpeg",
            width=width,
            height=height,
            size=width * height // 5,
            datetime=1_372_266_933 + rng.randint(0, 400) * DAY,
            title=name,
            views=rng.randint(100_000, 2_000_000),
            nsfw=False,
            account_id=4,
            legacy=True,
        )
        cat.images[image.id] = image
        cat.meme_templates.append(image)


def _post_datetime(rng: random.Random) -> int:
    # Skewed towards recent posts, like a live front page: 20 % within a day, 25 % within
    # a week, 25 % within a month, the rest within a year.
    roll = rng.random()
    if roll < 0.20:
        offset = rng.randint(60, DAY)
    elif roll < 0.45:
        offset = rng.randint(DAY, 7 * DAY)
    elif roll < 0.70:
        offset = rng.randint(7 * DAY, 30 * DAY)
    else:
        offset = rng.randint(30 * DAY, 365 * DAY)
    return ANCHOR_EPOCH - offset


def _title(rng: random.Random) -> str:
    adjective = rng.choice(vocab.ADJECTIVES)
    noun = rng.choice(vocab.NOUNS)
    shape = rng.random()
    if shape < 0.45:
        return f"The {adjective} {noun} {rng.choice(vocab.PHRASES)}"
    if shape < 0.75:
        return f"My {adjective} {noun}"
    return f"{adjective.capitalize()} {noun} and a {rng.choice(vocab.NOUNS)}"


def _votes(rng: random.Random) -> Votes:
    ups = int(rng.lognormvariate(6.5, 1.4))
    downs = int(ups * rng.uniform(0.005, 0.12))
    return Votes(
        ups=ups,
        downs=downs,
        score=ups - downs + int(rng.lognormvariate(3, 1.5)),
        comment_count=int(ups * rng.uniform(0.01, 0.08)),
        favorite_count=int(ups * rng.uniform(0.02, 0.2)),
    )


def _still_size(rng: random.Random, mime: str) -> tuple[int, int]:
    roll = rng.random()
    if roll < 0.005:  # a few "huge" panoramas so every q_size_px bucket has members
        return rng.randint(10_000, 12_000), rng.randint(1_000, 2_000)
    if roll < 0.02:
        return rng.randint(5_000, 9_000), rng.randint(2_000, 4_000)
    if roll < 0.12:
        return rng.randint(2_000, 4_500), rng.randint(1_500, 3_500)
    if roll < 0.22:
        side = rng.randint(150, 500)
        return side, int(side * rng.uniform(0.6, 1.4))
    width = rng.choice((480, 640, 720, 800, 1024, 1080, 1200, 1280, 1600, 1920))
    aspect = rng.choice((0.5625, 0.75, 1.0, 1.333, 1.5, 2.0)) if mime != "image/png" else 1.0
    return width, max(100, int(width * aspect * rng.uniform(0.9, 1.1)))


def _make_image(
    rng: random.Random, cat: Catalogue, kind: str, when: int, *, in_gallery: bool
) -> ImageRecord:
    if kind == "gif":
        mime, animated = "image/gif", True
        width, height = rng.randint(200, 640), rng.randint(150, 480)
        size = width * height * rng.randint(8, 60) // 3
    elif kind == "mp4":
        mime, animated = "video/mp4", True
        width, height = rng.choice(((480, 270), (640, 360), (1280, 720), (1920, 1080), (720, 1280)))
        size = rng.randint(400_000, 30_000_000)
    else:
        mime, animated = ("image/png" if kind == "png" else "image/jpeg"), False
        width, height = _still_size(rng, mime)
        size = int(width * height * (1.1 if kind == "png" else 0.22) * rng.uniform(0.6, 1.2))
    image = ImageRecord(
        id=cat.new_id(rng),
        mime=mime,
        width=width,
        height=height,
        size=min(size, 190_000_000),
        datetime=when,
        animated=animated,
        in_gallery=in_gallery,
    )
    if animated:
        image.mp4_size = size // rng.randint(3, 10) if kind == "gif" else image.size
        image.has_sound = kind == "mp4" and rng.random() < 0.4
    return image


def _pick_kind(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.38:
        return "jpg"
    if roll < 0.55:
        return "png"
    if roll < 0.70:
        return "gif"
    if roll < 0.77:
        return "mp4"
    return "album"


def _make_post(
    rng: random.Random,
    cat: Catalogue,
    accounts: list[Account],
    tag_names: list[str],
    tag_weights: list[float],
) -> Post:
    kind = _pick_kind(rng)
    when = _post_datetime(rng)
    author = rng.choice(accounts)
    legacy = rng.random() < 0.25
    nsfw = rng.random() < 0.08
    tags = tuple(dict.fromkeys(rng.choices(tag_names, tag_weights, k=rng.randint(0, 4))))
    if nsfw and "nsfw" not in tags and rng.random() < 0.5:
        tags += ("nsfw",)
    elif not nsfw:
        tags = tuple(t for t in tags if t != "nsfw")
    topic = rng.choice(vocab.TOPICS) if legacy or rng.random() < 0.2 else None
    common = {
        "title": _title(rng),
        "description": rng.choice(vocab.DESCRIPTIONS) if rng.random() < 0.3 else None,
        "nsfw": nsfw,
        "account_url": author.url,
        "account_id": author.id,
        "legacy": legacy,
        "in_most_viral": rng.random() < 0.6,
        "votes": _votes(rng),
        "topic": topic,
    }
    if kind == "album":
        album = _make_album(rng, cat, when, common)
        album.tags = tags
        return album
    image = _make_image(rng, cat, kind, when, in_gallery=True)
    for key, value in common.items():
        setattr(image, key, value)
    image.views = image.votes.ups * rng.randint(8, 60) if image.votes else 0
    if rng.random() < 0.35 and kind != "mp4":
        image.section = rng.choice(vocab.SUBREDDITS)
    else:
        image.section = ""
    if kind in ("jpg", "png") and rng.random() < 0.08:
        image.meme_name = rng.choice(vocab.MEME_TEMPLATES)
        if "memes" not in tags:
            tags += ("memes",)
    image.tags = tags
    cat.images[image.id] = image
    return image


def _album_size(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.6:
        return rng.randint(1, 5)
    if roll < 0.9:
        return rng.randint(6, 15)
    return rng.randint(16, 50)


def _make_album(rng: random.Random, cat: Catalogue, when: int, common: dict) -> AlbumRecord:
    legacy = common["legacy"]
    album = AlbumRecord(
        id=cat.new_id(rng, 5 if legacy else 7),
        datetime=when,
        image_ids=[],
        in_gallery=True,
        section="",
        privacy="public" if legacy else rng.choice(("hidden", "public", "private")),
        favorite_is_null=rng.random() < 0.03,
        **common,
    )
    album.views = album.votes.ups * rng.randint(8, 60) if album.votes else 0
    for position in range(_album_size(rng)):
        kind = rng.choices(("jpg", "png", "gif", "mp4"), (60, 25, 10, 5))[0]
        image = _make_image(rng, cat, kind, when - 60 + position, in_gallery=False)
        image.legacy = legacy
        image.album_id = album.id
        image.views = album.views + rng.randint(0, 5_000)
        # Album members: nsfw unknown in modern data, account not repeated (fixtures).
        image.nsfw = None if not common["nsfw"] else True
        if rng.random() < 0.2:
            image.description = rng.choice(vocab.DESCRIPTIONS)
        cat.images[image.id] = image
        album.image_ids.append(image.id)
    album.cover = album.image_ids[0]
    cat.albums[album.id] = album
    return album
