"""The uploads the bot made, and the deletehashes that can remove them (table ``uploads``).

One row per thing on Imgur: an image (or video), or an anonymous album. An album's images
have rows of their own pointing at the album's row (``album_row``), so each can be deleted
and a failed album can be cleaned up image by image. The deletehash is the only way to
delete an anonymous upload; it is kept here and nowhere else: never logged, never shown,
never put in a custom id. A deleted upload keeps its row (who, when, by whom) with the
deletehash cleared, so an old "Delete" button can say it is already gone.

Described once as a portable ``Schema`` and used only through the store's portable verbs,
so the table moves to PostgreSQL without changing these functions' callers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from bot.store import Schema, Store

Kind = Literal["image", "album"]

UPLOADS = Schema(
    "uploads",
    [
        [
            "CREATE TABLE uploads ("
            " id {serial},"
            " guild_id BIGINT,"  # NULL: made outside a server
            " user_id BIGINT NOT NULL,"  # the uploader
            " channel_id BIGINT,"
            " source_message_id BIGINT,"  # the message its files came from, if any
            " reply_message_id BIGINT,"  # the bot's public message showing it, if any
            " album_row BIGINT REFERENCES uploads (id),"  # the album an image went into
            " kind TEXT NOT NULL,"  # 'image' or 'album'
            " imgur_id TEXT NOT NULL,"
            " deletehash TEXT,"  # NULL once deleted
            " link TEXT NOT NULL,"  # the file itself (an album: its page)
            " page_url TEXT NOT NULL,"
            " name TEXT NOT NULL,"  # what the member knows it by: a file name or the title
            " media_type TEXT,"  # MIME type, for images
            " size BIGINT,"  # bytes sent
            " created_at DOUBLE PRECISION NOT NULL,"
            " deleted_at DOUBLE PRECISION,"
            " deleted_by BIGINT)",
            "CREATE INDEX uploads_by_member ON uploads (user_id, created_at)",
            "CREATE INDEX uploads_by_guild ON uploads (guild_id, user_id, created_at)",
            "CREATE INDEX uploads_in_album ON uploads (album_row)",
        ]
    ],
)

_COLUMNS = (
    "id, guild_id, user_id, channel_id, source_message_id, reply_message_id, album_row, kind,"
    " imgur_id, deletehash, link, page_url, name, media_type, size, created_at, deleted_at,"
    " deleted_by"
)


@dataclass(frozen=True, slots=True)
class NewUpload:
    """What is known of an upload the moment Imgur has answered it. ``deletehash`` is left
    out of the repr (of a record's too): a record may end up in a log line."""

    guild_id: int | None
    user_id: int
    channel_id: int | None
    source_message_id: int | None
    kind: Kind
    imgur_id: str
    deletehash: str | None = field(repr=False)  # None: gone (or Imgur gave none)
    link: str
    page_url: str
    name: str
    media_type: str | None
    size: int | None
    created_at: float


@dataclass(frozen=True, slots=True)
class UploadRecord(NewUpload):
    """One row: the upload, and what happened to it since."""

    id: int
    reply_message_id: int | None
    album_row: int | None
    deleted_at: float | None
    deleted_by: int | None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def is_album(self) -> bool:
        return self.kind == "album"


def _record(row: dict[str, Any]) -> UploadRecord:
    return UploadRecord(**row)


class UploadRecords:
    """The ``uploads`` table through the store's portable verbs."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @classmethod
    async def open(cls, store: Store) -> UploadRecords:
        """Create or migrate the table, then hand out the records."""
        await store.apply(UPLOADS)
        return cls(store)

    async def add(self, upload: NewUpload) -> int:
        """Keep a new upload; its row id."""
        row = await self._store.fetchone(
            "INSERT INTO uploads (guild_id, user_id, channel_id, source_message_id, kind,"
            " imgur_id, deletehash, link, page_url, name, media_type, size, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            upload.guild_id,
            upload.user_id,
            upload.channel_id,
            upload.source_message_id,
            upload.kind,
            upload.imgur_id,
            upload.deletehash,
            upload.link,
            upload.page_url,
            upload.name,
            upload.media_type,
            upload.size,
            upload.created_at,
        )
        assert row is not None
        return int(row["id"])

    async def put_in_album(self, album_row: int, image_rows: list[int]) -> None:
        """Say which album the images went into (their rows were added before it existed)."""
        await self._store.batch(
            ("UPDATE uploads SET album_row = ? WHERE id = ?", (album_row, row))
            for row in image_rows
        )

    async def set_reply(self, row_id: int, channel_id: int | None, message_id: int) -> None:
        """Remember the bot's public message showing the upload (edited when it is deleted)."""
        await self._store.execute(
            "UPDATE uploads SET channel_id = COALESCE(?, channel_id), reply_message_id = ?"
            " WHERE id = ?",
            channel_id,
            message_id,
            row_id,
        )

    async def get(self, row_id: int) -> UploadRecord | None:
        row = await self._store.fetchone(f"SELECT {_COLUMNS} FROM uploads WHERE id = ?", row_id)
        return None if row is None else _record(row)

    async def album_images(self, album_row: int) -> list[UploadRecord]:
        """The images of an album, in the order they were uploaded."""
        rows = await self._store.fetch(
            f"SELECT {_COLUMNS} FROM uploads WHERE album_row = ? ORDER BY id", album_row
        )
        return [_record(r) for r in rows]

    async def listing(
        self, user_id: int, *, guild_id: int | None = None, limit: int = 100
    ) -> list[UploadRecord]:
        """A member's uploads still on Imgur, newest first: single images and albums (an
        album's images are reached through it). ``guild_id``: only those made there."""
        where = "user_id = ? AND deleted_at IS NULL AND album_row IS NULL"
        params: list[Any] = [user_id]
        if guild_id is not None:
            where += " AND guild_id = ?"
            params.append(guild_id)
        rows = await self._store.fetch(
            f"SELECT {_COLUMNS} FROM uploads WHERE {where} ORDER BY created_at DESC, id DESC"
            " LIMIT ?",
            *params,
            limit,
        )
        return [_record(r) for r in rows]

    async def mark_deleted(self, row_ids: list[int], *, by: int | None, at: float) -> None:
        """Imgur no longer has these: forget their deletehashes, keep who deleted them."""
        await self._store.batch(
            (
                "UPDATE uploads SET deletehash = NULL, deleted_at = ?, deleted_by = ?"
                " WHERE id = ? AND deleted_at IS NULL",
                (at, by, row),
            )
            for row in row_ids
        )
