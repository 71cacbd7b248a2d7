"""The fake CDN: attachment bytes behind ``{cdn_url}/attachments/{id}/{filename}``.

``Attachment.read()`` in discord.py fetches the attachment's absolute ``url`` (or
``proxy_url``) with a plain GET, so pointing those at this CDN is all it takes. Files the bot
uploads with its messages are stored here too, so their URLs work as well.

Downloads are streamed: each response writes slices of the one stored copy (``memoryview``,
so twenty concurrent 9 MB downloads add no per-request copies), with ``Content-Length`` set
and ``HEAD`` answered without a body. A bandwidth limit, global (``Cdn.bandwidth``) or per
file (``CdnFile.bandwidth``, which wins), paces a download so a test can make it take
seconds.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import quote

from aiohttp import web

from .models import CdnFile, SnowflakeFactory

CHUNK = 64 * 1024


class Cdn:
    def __init__(self, ids: SnowflakeFactory) -> None:
        self._ids = ids
        self.base_url = ""  # e.g. http://127.0.0.1:PORT/cdn, set once the server listens
        self.files: dict[str, CdnFile] = {}
        self.downloads: list[str] = []  # ids of files fetched (GET), in order
        self.bandwidth: int | None = None  # bytes/s for every download; None: unthrottled
        self.active = 0  # downloads being streamed right now

    def add(
        self,
        filename: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        *,
        width: int | None = None,
        height: int | None = None,
        description: str | None = None,
        bandwidth: int | None = None,
    ) -> CdnFile:
        file_id = self._ids.next()
        url = f"{self.base_url}/attachments/{file_id}/{quote(filename)}"
        file = CdnFile(file_id, filename, data, content_type, url, width, height, description)
        file.bandwidth = bandwidth
        self.files[file_id] = file
        return file

    async def handle(self, request: web.Request) -> web.StreamResponse:
        file = self.files.get(request.match_info["file_id"])
        if file is None or quote(file.filename) != quote(request.match_info["filename"]):
            # Discord's CDN answers a missing file with a short text body, not JSON.
            return web.Response(status=404, text="404: Not Found", content_type="text/plain")
        response = web.StreamResponse(
            headers={"Content-Type": file.content_type, "Accept-Ranges": "none"}
        )
        response.content_length = len(file.data)
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        self.downloads.append(file.id)
        self.active += 1
        try:
            await self._stream(response, memoryview(file.data), file.bandwidth or self.bandwidth)
        finally:
            self.active -= 1
        await response.write_eof()
        return response

    async def _stream(
        self, response: web.StreamResponse, view: memoryview, bandwidth: int | None
    ) -> None:
        """Write ``view`` in chunks; with a bandwidth, never ahead of ``bandwidth`` bytes/s."""
        chunk = CHUNK if bandwidth is None else max(1, min(CHUNK, bandwidth // 10))
        started = time.monotonic()
        for offset in range(0, len(view), chunk):
            await response.write(view[offset : offset + chunk])
            if bandwidth:
                sent = offset + len(view[offset : offset + chunk])
                ahead = sent / bandwidth - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)

    def routes(self) -> list[web.RouteDef]:
        # aiohttp answers HEAD on GET routes with the same handler (allow_head).
        return [web.get("/cdn/attachments/{file_id}/{filename}", self.handle)]
