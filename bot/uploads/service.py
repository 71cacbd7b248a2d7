"""Uploads: attachments from Discord's CDN to Imgur, kept on record, deletable later.

The service behind ``/imgur upload``, the "Upload to Imgur" message menu, ``/imgur
uploads`` and the "Delete from Imgur" buttons; ``bot.uploads`` on the bot. No Discord types
here: cogs hand in ``Incoming`` attachments and get back a ``Published``.

An upload, in order (nothing is spent until every file has passed):

1. every file is received from the CDN into a temporary file (``intake``), concurrently,
   and judged (type by magic bytes, size against Imgur's and Discord's limits, corrupt
   files and decompression bombs) on the bot's small inspection executor. Any refusal
   refuses the whole upload, saying what is wrong with each refused file; nothing was
   charged.
2. the Imgur uploads are reserved in the ledger all together (``ReservedUploads``): the
   server's hourly upload limit and Imgur's hourly throttle refuse an album whole, with
   the time it can be tried again, before Imgur is asked.
3. each file is streamed from its temporary file into the multipart body of its upload
   (never held whole in memory), and recorded with its deletehash as soon as Imgur
   answers; several files then become an anonymous album made from their deletehashes.
   If anything fails half-way, what already reached Imgur is deleted again; what cannot
   be deleted is said, with its links, and stays listed under ``/imgur uploads``.

Who is charged: the member and the server for every file uploaded (the member's minute
counts it as one call, as it counts a search, though it costs 10 credits), the server
alone for what the bot does around them (the album itself, clean-up and deletions). The
server's hourly upload limit and Imgur's throttle bound every upload too.

``publish_bytes`` is the same recording for a file the bot made itself (a rendered meme).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Executor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.access import ChargedImgur, ImgurAccess
from bot.clock import Clock, SystemClock
from bot.config import UploadSettings
from bot.imgur import models, sansio
from bot.imgur.client import Meter
from bot.imgur.errors import NotFound
from bot.imgur.sansio import Request
from bot.imgur.vocab import UPLOAD_COST
from bot.ledger import Charge, Ledger
from bot.store import Store
from bot.uploads import intake, media
from bot.uploads.formats import HEAD_BYTES, IMGUR_IMAGE_LIMIT, sniff
from bot.uploads.media import MediaRejected
from bot.uploads.progress import ProgressMeter
from bot.uploads.records import NewUpload, UploadRecord, UploadRecords

log = logging.getLogger(__name__)

LISTING_LIMIT = 100  # uploads shown by /imgur uploads, newest first
CLEANUP_TIMEOUT_S = 60.0  # the most a failed album's clean-up may take


# -- what goes in and what comes out -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Incoming:
    """An attachment as Discord describes it. Only ``url`` is used to fetch it; ``filename``
    and ``size`` (Discord's figure) are claims, checked against the bytes themselves."""

    url: str
    filename: str
    size: int | None = None


@dataclass(frozen=True, slots=True)
class PublishedFile:
    """One image or video on Imgur."""

    name: str  # the member's file name (or the caller's), cleaned for display
    link: str  # the file itself
    page_url: str
    display_url: str | None  # what an embed shows: the picture, or the mp4 of an animation
    media_type: str | None
    size: int
    width: int | None = None
    height: int | None = None
    animated: bool = False


@dataclass(frozen=True, slots=True)
class Published:
    """What a member uploaded, as the reply shows it. ``link`` is the file (an album: its
    page); ``row_id`` names the record, for the "Delete from Imgur" button. No deletehash."""

    row_id: int
    imgur_id: str
    link: str
    page_url: str
    is_album: bool
    title: str | None
    description: str | None
    files: tuple[PublishedFile, ...]

    @property
    def name(self) -> str:
        """What the member knows it by."""
        if self.title:
            return self.title
        if self.is_album:
            return f"an album of {len(self.files)} files"
        return self.files[0].name

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True, slots=True)
class Removal:
    """The outcome of a delete: ``already`` when it had been deleted before."""

    record: UploadRecord
    already: bool = False


# -- refusals and failures, each with the words for the member -----------------------------


class UploadProblem(Exception):
    """Something about an upload the member is told as it is: ``str()`` is the message."""


class FilesRefused(UploadProblem):
    """Several files of one upload were refused; ``refusals`` says why, one by one."""

    def __init__(self, refusals: Sequence[UploadProblem | MediaRejected]) -> None:
        self.refusals = list(refusals)
        lines = "\n".join(f"• {r}" for r in self.refusals)
        super().__init__(f"Nothing was uploaded:\n{lines}")


class NotFetched(UploadProblem):
    """An attachment could not be downloaded from Discord (an expired link, a stall)."""

    def __init__(self, filename: str, why: str) -> None:
        name = media.clean_filename(filename)
        super().__init__(
            f"I couldn't get `{name}` from Discord ({why}). Try again; if it keeps failing, "
            "post the file again and upload that message."
        )


class TookTooLong(UploadProblem):
    def __init__(self, limit_s: float) -> None:
        limit = f"{limit_s / 60:g} minutes" if limit_s >= 120 else f"{limit_s:g} seconds"
        super().__init__(
            f"The upload took longer than {limit}, so I stopped it. Try fewer or smaller files."
        )


class UploadUnknown(UploadProblem):
    def __init__(self) -> None:
        super().__init__("I have no record of that upload, so I can't delete it.")


class DeleteNotAllowed(UploadProblem):
    def __init__(self) -> None:
        super().__init__(
            "Only the member who uploaded this, or someone with the Manage Messages "
            "permission in the server it was uploaded in, can delete it from Imgur."
        )


class UploadIncomplete(Exception):
    """An upload of several files failed half-way. ``cause`` is why (worded by the command
    tree like any error); ``str()`` says what became of the files already on Imgur."""

    def __init__(self, cause: BaseException, what_failed: str, removed: int, left: list[str]):
        self.cause = cause
        self.left = left
        if left:
            links = "\n".join(f"• <{link}>" for link in left)
            outcome = (
                f"{what_failed}. I couldn't remove what was already on Imgur:\n{links}\n"
                "Delete them with `/imgur uploads`, where they are listed."
            )
        elif removed:
            files = "file" if removed == 1 else "files"
            outcome = (
                f"{what_failed}, so I removed the {removed} {files} already on Imgur: "
                "nothing was kept."
            )
        else:
            outcome = f"{what_failed}; nothing was kept."
        super().__init__(outcome)


# -- reserving an album's uploads together -------------------------------------------------


class ReservedUploads:
    """A gate for the Imgur client whose uploads were reserved in the ledger beforehand.

    ``async with ReservedUploads(...) as gate`` reserves ``count`` uploads at once: all of
    them or, with ``QuotaExceeded``, none (the ones already reserved are refunded; nothing
    was sent). Each upload request then takes one reservation, settled as the ledger
    settles any charge; other requests (the album, clean-up) are charged as they come.
    Reservations left unused are refunded on leaving.
    """

    def __init__(
        self,
        ledger: Ledger,
        guild_id: int | None,
        user_id: int | None,
        command: str,
        count: int,
    ) -> None:
        self._ledger = ledger
        self._guild_id = guild_id
        self._user_id = user_id
        self._command = command
        self._count = count
        self._ready: list[tuple[AbstractAsyncContextManager[Charge], Charge]] = []
        self._others = ledger.gate(guild_id, None, command)

    async def __aenter__(self) -> Callable[[Request[Any]], AbstractAsyncContextManager[Meter]]:
        try:
            for _ in range(self._count):
                block = self._ledger.charge(
                    self._guild_id,
                    self._user_id,
                    UPLOAD_COST,
                    "upload",
                    self._command,
                    method="POST",
                )
                self._ready.append((block, await block.__aenter__()))
        except BaseException as exc:
            await self._refund_unused(exc)
            raise
        return self.gate

    async def __aexit__(self, *exc_info: object) -> None:
        await self._refund_unused(None)

    async def _refund_unused(self, exc: BaseException | None) -> None:
        ready, self._ready = self._ready, []
        for block, charge in ready:
            charge.settle(0)
            await block.__aexit__(None if exc is None else type(exc), exc, None)

    def gate(self, request: Request[Any]) -> AbstractAsyncContextManager[Meter]:
        if request.kind == "upload" and self._ready:
            return self._use(self._ready.pop(0))
        return self._others(request)

    @staticmethod
    @asynccontextmanager
    async def _use(
        reserved: tuple[AbstractAsyncContextManager[Charge], Charge],
    ) -> AsyncIterator[Meter]:
        block, charge = reserved
        try:
            yield charge
        except BaseException as exc:
            # The ledger settles it as it would any charge that ended this way (and opens
            # its breaker if Imgur answered 429).
            await block.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        await block.__aexit__(None, None, None)


# -- the service ---------------------------------------------------------------------------


class _FileBody:
    """A temporary file as an upload body: each iteration reads it afresh from the start
    (a retried request sends it whole again), reporting each chunk taken to ``moved``."""

    def __init__(self, temp: intake.TempMedia, moved: Callable[[int, int], None]) -> None:
        self._temp = temp
        self._moved = moved

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._temp.open_chunks(on_progress=self._moved)


@dataclass
class _Run:
    """How far one upload got: what Imgur has, the step under way, whether it finished."""

    sent: list[_Sent] = field(default_factory=list)
    step: str = ""
    finished: bool = False


@dataclass
class _Sent:
    """A file Imgur has: enough to record it, show it and delete it again."""

    result: models.UploadResult = field(repr=False)
    name: str
    size: int
    row_id: int | None = None


def _published_file(sent: _Sent) -> PublishedFile:
    result = sent.result
    return PublishedFile(
        name=sent.name,
        link=result.link,
        page_url=result.page_url,
        display_url=result.display_url,
        media_type=result.type,
        size=sent.size,
        width=result.width,
        height=result.height,
        animated=result.is_animated,
    )


def _cached_forms(imgur_id: str) -> list[Request[Any]]:
    """Every request whose cached answer could show ``imgur_id``."""
    return [
        sansio.image(imgur_id),
        sansio.album(imgur_id),
        sansio.gallery_item(imgur_id),
        sansio.gallery_image(imgur_id),
        sansio.gallery_album(imgur_id),
    ]


async def _counted_chunks(
    response: aiohttp.ClientResponse, moved: Callable[[int, int], None], total: int
) -> AsyncIterator[bytes]:
    """The CDN's body in chunks, each counted; closing this early closes the response."""
    done = 0
    try:
        async for chunk in response.content.iter_chunked(intake.CHUNK_SIZE):
            done += len(chunk)
            moved(done, total)
            yield chunk
    finally:
        if not response.content.at_eof():
            response.close()


class UploadService:
    """Create it with ``UploadService.open``; the bot owns it and its executor."""

    def __init__(
        self,
        records: UploadRecords,
        *,
        imgur: ImgurAccess,
        ledger: Ledger,
        session: aiohttp.ClientSession,
        executor: Executor | None,
        settings: UploadSettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.records = records
        self.settings = settings or UploadSettings()
        self.clock = clock or SystemClock()
        self._imgur = imgur
        self._ledger = ledger
        self._session = session
        self._executor = executor
        self._temp_dir: str | None = None
        if self.settings.temp_dir is not None:
            self._temp_dir = os.fspath(self.settings.temp_dir)
            os.makedirs(self._temp_dir, exist_ok=True)

    @classmethod
    async def open(cls, store: Store, **options: Any) -> UploadService:
        """Create the uploads table if needed; ``options`` as for the constructor."""
        return cls(await UploadRecords.open(store), **options)

    def meter(self, report: Callable[..., Any] | None) -> ProgressMeter:
        """A progress meter on this service's clock and settings (``report`` may be None)."""
        return ProgressMeter(
            report,
            clock=self.clock,
            after_s=self.settings.progress_after_s,
            every_s=self.settings.progress_every_s,
        )

    # -- uploading attachments -----------------------------------------------------------

    async def upload_attachments(
        self,
        attachments: Sequence[Incoming],
        *,
        guild_id: int | None,
        user_id: int,
        channel_id: int | None,
        source_message_id: int | None = None,
        title: str | None = None,
        description: str | None = None,
        size_limit: int,
        command: str = "upload",
        meter: ProgressMeter | None = None,
    ) -> Published:
        """Upload ``attachments``: one becomes an image, several an anonymous album. See
        the module docstring for the order of things. ``size_limit``: Discord's limit for
        the interaction (Imgur's limits for each type apply too). Bounded in time by
        ``[uploads] timeout_s`` (``TookTooLong``)."""
        if not attachments:
            raise ValueError("nothing to upload")
        meter = meter or self.meter(None)
        context = {
            "guild_id": guild_id,
            "user_id": user_id,
            "channel_id": channel_id,
            "source_message_id": source_message_id,
        }
        run = _Run()
        temps: list[intake.TempMedia] = []
        deadline = asyncio.timeout(self.settings.timeout_s)
        try:
            async with deadline:
                temps = await self._receive_all(attachments, size_limit, meter)
                meter.expect("sending", sum(t.size for t in temps), len(temps))
                async with ReservedUploads(
                    self._ledger, guild_id, user_id, command, len(temps)
                ) as gate:
                    imgur = self._imgur.acting_through(gate, (guild_id, user_id, command))
                    published = await self._send_all(
                        imgur, temps, meter, run, title, description, context
                    )
                run.finished = True
                return published
        except BaseException as exc:
            cause: BaseException = exc
            if isinstance(exc, TimeoutError) and deadline.expired():
                cause = TookTooLong(self.settings.timeout_s)
            if run.sent and not run.finished:
                imgur = self._imgur.acting_for(guild_id, None, command)
                incomplete = await self._clean_up(imgur, run, cause)
                if isinstance(cause, Exception):
                    raise incomplete from exc
            if cause is not exc:
                raise cause from exc
            raise
        finally:
            for temp in temps:
                temp.close()
            await meter.close()

    async def _receive_all(
        self, attachments: Sequence[Incoming], limit: int, meter: ProgressMeter
    ) -> list[intake.TempMedia]:
        """Every attachment downloaded and judged, or every refusal raised together."""
        meter.expect("receiving", sum(a.size or 0 for a in attachments), len(attachments))
        tasks = [
            asyncio.ensure_future(self._receive(a, limit, meter.tracker("receiving", i)))
            for i, a in enumerate(attachments)
        ]
        try:
            await asyncio.wait(tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            _close_received(tasks)
            raise
        problems = [t.exception() for t in tasks if t.exception() is not None]
        if not problems:
            return [t.result() for t in tasks]
        _close_received(tasks)
        refusals = [p for p in problems if isinstance(p, MediaRejected | UploadProblem)]
        if len(refusals) != len(problems):
            raise next(p for p in problems if p not in refusals)  # type: ignore[misc]
        if len(refusals) == 1:
            raise refusals[0]
        raise FilesRefused(refusals)

    async def _receive(
        self, incoming: Incoming, limit: int, moved: Callable[[int, int], None]
    ) -> intake.TempMedia:
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.settings.stall_timeout_s,
            sock_read=self.settings.stall_timeout_s,
        )  # fmt: skip
        try:
            async with self._session.get(incoming.url, timeout=timeout) as response:
                if response.status != 200:
                    raise NotFetched(incoming.filename, f"Discord answered HTTP {response.status}")
                declared = max(incoming.size or 0, response.content_length or 0) or None
                temp = await intake.download_to_temp(
                    _counted_chunks(response, moved, declared or 0),
                    filename=incoming.filename,
                    declared_size=declared,
                    limit=limit,
                    dir=self._temp_dir,
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            why = "it stopped sending" if isinstance(exc, TimeoutError) else type(exc).__name__
            raise NotFetched(incoming.filename, why) from exc
        try:
            await intake.inspect_temp(temp, discord_limit=limit, executor=self._executor)
        except BaseException:
            temp.close()
            raise
        return temp

    async def _send_all(
        self,
        imgur: ChargedImgur,
        temps: list[intake.TempMedia],
        meter: ProgressMeter,
        run: _Run,
        title: str | None,
        description: str | None,
        context: dict[str, Any],
    ) -> Published:
        """Send each file, recording it the moment Imgur has it (in ``run.sent``, so a
        failure can be cleaned up), then make the album of several."""
        single = len(temps) == 1
        for index, temp in enumerate(temps):
            info = temp.info
            assert info is not None, "every file is inspected before it is sent"
            where = "" if single else f" (file {index + 1} of {len(temps)})"
            run.step = f"`{info.display_name}`{where} did not reach Imgur"
            request = sansio.upload(
                video=info.media_type.is_video,
                filename=info.upload_name,
                content_type=info.media_type.mime,
                name=info.upload_name,
                title=title if single else None,
                description=description if single else None,
            )
            body = _FileBody(temp, meter.tracker("sending", index))
            answer = await imgur.get(request, body=body)
            sent = _Sent(answer.value, info.display_name, info.size)
            run.sent.append(sent)
            run.step = f"I couldn't keep a record of `{info.display_name}`"
            sent.row_id = await self._record(
                sent, kind="image", media_type=info.media_type.mime, **context
            )
        if single:
            return self._published(run.sent[0], title, description)
        run.step = "Imgur did not make the album"
        return await self._make_album(imgur, run.sent, title, description, **context)

    async def _make_album(
        self,
        imgur: ChargedImgur,
        sent: list[_Sent],
        title: str | None,
        description: str | None,
        **context: Any,
    ) -> Published:
        request = sansio.create_album(
            [s.result.deletehash for s in sent], title=title, description=description
        )
        created = (await imgur.get(request)).value
        site = sent[0].result.page_url.rsplit("/", 1)[0]
        page = f"{site}/a/{created.id}"
        album_row = await self.records.add(
            NewUpload(
                kind="album",
                imgur_id=created.id,
                deletehash=created.deletehash,
                link=page,
                page_url=page,
                name=title or f"album of {len(sent)} files",
                media_type=None,
                size=sum(s.size for s in sent),
                created_at=self.clock.now().timestamp(),
                **context,
            )
        )
        await self.records.put_in_album(album_row, [s.row_id for s in sent if s.row_id])
        return Published(
            row_id=album_row,
            imgur_id=created.id,
            link=page,
            page_url=page,
            is_album=True,
            title=title,
            description=description,
            files=tuple(_published_file(s) for s in sent),
        )

    async def _record(self, sent: _Sent, *, kind: Any, media_type: str | None, **context) -> int:
        result = sent.result
        return await self.records.add(
            NewUpload(
                kind=kind,
                imgur_id=result.id,
                deletehash=result.deletehash,
                link=result.link,
                page_url=result.page_url,
                name=sent.name,
                media_type=result.type or media_type,
                size=sent.size,
                created_at=self.clock.now().timestamp(),
                **context,
            )
        )

    def _published(self, sent: _Sent, title: str | None, description: str | None) -> Published:
        assert sent.row_id is not None
        return Published(
            row_id=sent.row_id,
            imgur_id=sent.result.id,
            link=sent.result.link,
            page_url=sent.result.page_url,
            is_album=False,
            title=title,
            description=description,
            files=(_published_file(sent),),
        )

    async def _clean_up(
        self, imgur: ChargedImgur, run: _Run, failure: BaseException
    ) -> UploadIncomplete:
        """Delete from Imgur what reached it before ``failure`` (bounded in time); what
        could not be deleted stays recorded, so ``/imgur uploads`` lists it."""
        removed: list[_Sent] = []
        try:
            async with asyncio.timeout(CLEANUP_TIMEOUT_S):
                for item in run.sent:
                    try:
                        await imgur.get(sansio.delete_image(item.result.deletehash))
                    except NotFound:
                        pass  # gone already
                    except Exception as exc:  # best effort: what is left is said and listed
                        log.warning("an upload's clean-up could not delete a file: %r", exc)
                        continue
                    removed.append(item)
        except TimeoutError:
            log.warning("an upload's clean-up ran out of time")
        left = [s for s in run.sent if s not in removed]
        rows = [s.row_id for s in removed if s.row_id is not None]
        if rows:
            await self.records.mark_deleted(rows, by=None, at=self.clock.now().timestamp())
        for item in removed:
            self._imgur.forget(*_cached_forms(item.result.id))
        log.info(
            "an upload failed half-way (%s): %d file(s) removed from Imgur, %d left",
            type(failure).__name__,
            len(removed),
            len(left),
        )
        return UploadIncomplete(failure, run.step, len(removed), [s.result.link for s in left])

    # -- a file the bot made itself ------------------------------------------------------

    async def publish_bytes(
        self,
        imgur: ChargedImgur,
        data: bytes,
        *,
        filename: str,
        mime: str,
        title: str | None,
        description: str | None,
        guild_id: int | None,
        user_id: int,
        channel_id: int | None,
        source_message_id: int | None,
    ) -> Published:
        """Upload one in-memory file (a rendered meme, at most 10 MB), charged through
        ``imgur``, and record it like any upload. Raises ``MediaRejected`` for a file Imgur
        would refuse (checked before anything is charged), ``QuotaExceeded`` and
        ``ImgurError`` as any Imgur call does."""
        head = data[:HEAD_BYTES]
        if not data:
            raise media.refuse_empty(filename)
        media_type = media.check_type(sniff(head), filename, head)
        media.check_size(media_type, len(data), filename, discord_limit=IMGUR_IMAGE_LIMIT)
        name = media.clean_filename(filename)
        request = sansio.upload(
            video=media_type.is_video,
            filename=media.upload_name(name, media_type),
            content_type=mime,
            name=media.upload_name(name, media_type),
            title=title,
            description=description,
        )
        result = (await imgur.get(request, body=data)).value
        sent = _Sent(result, name, len(data))
        sent.row_id = await self._record(
            sent,
            kind="image",
            media_type=mime,
            guild_id=guild_id,
            user_id=user_id,
            channel_id=channel_id,
            source_message_id=source_message_id,
        )
        return self._published(sent, title, description)

    async def remember_reply(self, row_id: int, channel_id: int | None, message_id: int) -> None:
        """The public message showing an upload, edited when the upload is deleted."""
        await self.records.set_reply(row_id, channel_id, message_id)

    # -- listing and deleting ------------------------------------------------------------

    async def listing(self, user_id: int, *, guild_id: int | None = None) -> list[UploadRecord]:
        """A member's uploads still on Imgur, newest first (``guild_id``: made there)."""
        return await self.records.listing(user_id, guild_id=guild_id, limit=LISTING_LIMIT)

    async def deletable(
        self, row_id: int, *, actor_id: int, actor_guild_id: int | None, may_manage: bool
    ) -> UploadRecord:
        """The upload, if ``actor_id`` may delete it: its uploader, or a member with Manage
        Messages (``may_manage``, where they act) in the server it was uploaded in."""
        record = await self.records.get(row_id)
        if record is None:
            raise UploadUnknown()
        if record.user_id == actor_id:
            return record
        same_server = record.guild_id is not None and record.guild_id == actor_guild_id
        if same_server and may_manage:
            return record
        raise DeleteNotAllowed()

    async def delete(
        self, row_id: int, *, actor_id: int, actor_guild_id: int | None, may_manage: bool
    ) -> Removal:
        """Delete an upload from Imgur (an album: its images, then the album), mark it
        deleted and drop it from the bot's cache. Permission is checked on every call.

        Charged to the server it was uploaded in (1 credit a call). When a call fails,
        what was deleted stays deleted and the error is raised; trying again finishes.
        """
        record = await self.deletable(
            row_id, actor_id=actor_id, actor_guild_id=actor_guild_id, may_manage=may_manage
        )
        if record.deleted:
            return Removal(record, already=True)
        targets = [record]
        if record.is_album:
            targets = [*await self.records.album_images(record.id), record]
        imgur = self._imgur.acting_for(record.guild_id, None, "delete-upload")
        removed: list[int] = []
        try:
            for target in targets:
                if target.deleted:
                    continue
                if target.deletehash:
                    builder = sansio.delete_album if target.is_album else sansio.delete_image
                    try:
                        await imgur.get(builder(target.deletehash))
                    except NotFound:
                        pass  # deleted on Imgur already (by hand, or by an earlier try)
                removed.append(target.id)
                self._imgur.forget(*_cached_forms(target.imgur_id))
        finally:
            if removed:
                now = self.clock.now().timestamp()
                await self.records.mark_deleted(removed, by=actor_id, at=now)
        log.info("upload %d deleted from Imgur (%d call(s))", record.id, len(removed))
        return Removal(record)


def _close_received(tasks: list[asyncio.Future[intake.TempMedia]]) -> None:
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is None:
            task.result().close()
