"""Comments on gallery posts (imgur-api.md §5.1, §5.4, §5.5, §6.6), generated on demand.

A post's thread is drawn from the seed when first asked for: as many comments as its
``comment_count`` says (capped at ``MAX_THREAD``), some of them replies. Authors are the
catalogue's accounts, assigned by arithmetic so the inverse question ("which comments did
this account write?") needs no scan of every thread: comment ``i`` of a post with hash
``h`` is by account ``(h + i * stride) % n``, so an account's comment on that post, if any,
has ``i = (a - h) * stride⁻¹ mod n``. Comment ids encode (post, position), so a lookup by
id finds its thread without an index. Comments posted through the API live beside them.
"""

from __future__ import annotations

import math
import random
import zlib
from dataclasses import dataclass, field

from fakes.imgur import vocab
from fakes.imgur.data import Account, Catalogue, Post

MAX_THREAD = 40  # generated comments per post, at most
ID_BASE = 1_000_000_000  # generated ids: ID_BASE + ordinal * 64 + position
POSTED_BASE = 3_000_000_000  # ids of comments posted through the API
SLOTS = 64  # > MAX_THREAD: room per post in the generated id space


@dataclass(slots=True)
class Comment:
    id: int
    image_id: str
    comment: str
    author: str
    author_id: int
    on_album: bool
    album_cover: str | None
    ups: int
    downs: int
    datetime: int
    parent_id: int = 0
    platform: str = "desktop"
    deleted: bool = False
    votes: dict[str, str] = field(default_factory=dict)  # username -> up/down

    def as_json(self, viewer: str | None = None, children: list[dict] | None = None) -> dict:
        ups = self.ups + sum(v == "up" for v in self.votes.values())
        downs = self.downs + sum(v == "down" for v in self.votes.values())
        return {
            "id": self.id,
            "image_id": self.image_id,
            "comment": "[deleted]" if self.deleted else self.comment,
            "author": self.author,
            "author_id": self.author_id,
            "on_album": self.on_album,
            "album_cover": self.album_cover,
            "ups": ups,
            "downs": downs,
            "points": ups - downs,
            "datetime": self.datetime,
            "parent_id": self.parent_id,
            "deleted": self.deleted,
            "vote": self.votes.get(viewer or ""),
            "platform": self.platform,
            "has_admin_badge": False,
            "children": children if children is not None else [],
        }


class Comments:
    """Every comment the emulator knows: generated threads plus posted ones."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        # Snapshots taken once: ids and authors must not shift when posts are deleted or
        # accounts made up for new tokens.
        self._posts: list[Post] = list(catalogue.posts)
        self._ordinal = {p.id: n for n, p in enumerate(self._posts)}
        self._authors: list[Account] = sorted(catalogue.accounts.values(), key=lambda a: a.id)
        self._author_index = {a.url.lower(): n for n, a in enumerate(self._authors)}
        count = len(self._authors)
        self._stride = next(s for s in range(7, 7 + count + 1) if math.gcd(s, count) == 1)
        self._inverse = pow(self._stride, -1, count)
        self._threads: dict[str, list[Comment]] = {}
        self._posted: dict[int, Comment] = {}
        self._next_id = POSTED_BASE

    # -- generation --------------------------------------------------------------------

    def _size(self, post: Post) -> int:
        return min(post.votes.comment_count, MAX_THREAD) if post.votes else 0

    @staticmethod
    def _hash(post: Post) -> int:
        return zlib.crc32(post.id.encode())

    def _generated(self, post: Post) -> list[Comment]:
        thread = self._threads.get(post.id)
        if thread is None:
            thread = self._threads[post.id] = self._draw(post)
        return thread

    def _draw(self, post: Post) -> list[Comment]:
        rng = random.Random(f"{self.catalogue.seed}:comments:{post.id}")
        ordinal = self._ordinal[post.id]
        start = self._hash(post)
        thread: list[Comment] = []
        for i in range(self._size(post)):
            author = self._authors[(start + i * self._stride) % len(self._authors)]
            parent = 0
            if thread and rng.random() < 0.35:
                parent = rng.choice(thread).id
            ups = int(rng.lognormvariate(2.5, 1.5))
            thread.append(
                Comment(
                    id=ID_BASE + ordinal * SLOTS + i,
                    image_id=post.id,
                    comment=f"{rng.choice(vocab.COMMENT_OPENERS)} "
                    f"{rng.choice(vocab.COMMENT_REMARKS)}",
                    author=author.url,
                    author_id=author.id,
                    on_album=post.is_album,
                    album_cover=post.cover if post.is_album else None,
                    ups=ups,
                    downs=int(ups * rng.uniform(0, 0.1)),
                    datetime=post.datetime + rng.randint(60, 86_400),
                    parent_id=parent,
                    platform=rng.choice(vocab.PLATFORMS),
                )
            )
        return thread

    # -- reading -----------------------------------------------------------------------

    def of_post(self, post: Post) -> list[Comment]:
        """A post's comments (generated and posted), flat, oldest first. Deleted ones
        stay, flagged, as Imgur keeps a "[deleted]" placeholder where a thread goes on."""
        posted = [c for c in self._posted.values() if c.image_id == post.id]
        return sorted(self._generated(post) + posted, key=lambda c: (c.datetime, c.id))

    def get(self, comment_id: int) -> Comment | None:
        """A live comment by id; None when unknown or deleted."""
        if comment_id >= POSTED_BASE:
            found = self._posted.get(comment_id)
            return None if found is None or found.deleted else found
        ordinal, position = divmod(comment_id - ID_BASE, SLOTS)
        if comment_id < ID_BASE or ordinal >= len(self._posts):
            return None
        post = self._posts[ordinal]
        if self.catalogue.item(post.id) is not post:  # the post was deleted
            return None
        thread = self._generated(post)
        found = thread[position] if position < len(thread) else None
        return None if found is None or found.deleted else found

    def by_author(self, username: str) -> list[Comment]:
        """Every live comment an account wrote, newest first."""
        name = username.lower()
        mine = [c for c in self._posted.values() if c.author.lower() == name and not c.deleted]
        index = self._author_index.get(name)
        if index is not None:
            count = len(self._authors)
            for post in self._posts:
                size = self._size(post)
                if not size or self.catalogue.item(post.id) is not post:
                    continue
                first = (index - self._hash(post)) * self._inverse % count
                thread = self._generated(post) if first < size else ()
                mine += [c for c in thread[first::count] if not c.deleted]
        return sorted(mine, key=lambda c: (-c.datetime, -c.id))

    def tree(
        self, comments: list[Comment], viewer: str | None, sort: str, root: int = 0
    ) -> list[dict]:
        """The comments under ``root`` (0: the top level), each with nested ``children``,
        siblings ordered by ``sort`` (best, top or new)."""
        order = {
            "new": lambda c: (-c.datetime, -c.id),
            "top": lambda c: (-c.ups, c.id),
        }.get(sort, lambda c: (-(c.ups - c.downs), c.id))  # best
        kids: dict[int, list[Comment]] = {}
        for comment in comments:
            kids.setdefault(comment.parent_id, []).append(comment)

        def build(parent: int) -> list[dict]:
            return [c.as_json(viewer, build(c.id)) for c in sorted(kids.get(parent, []), key=order)]

        return build(root)

    # -- writing -----------------------------------------------------------------------

    def post(self, post: Post, account: Account, text: str, parent_id: int, now: int) -> Comment:
        comment = Comment(
            id=self._next_id,
            image_id=post.id,
            comment=text,
            author=account.url,
            author_id=account.id,
            on_album=post.is_album,
            album_cover=post.cover if post.is_album else None,
            ups=1,  # Imgur counts the author's own upvote
            downs=0,
            datetime=now,
            parent_id=parent_id,
            platform="desktop",
        )
        self._next_id += 1
        self._posted[comment.id] = comment
        return comment

    def delete(self, comment: Comment) -> None:
        comment.deleted = True
