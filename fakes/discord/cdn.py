"""The fake CDN: attachment bytes behind ``{cdn_url}/attachments/{id}/{filename}``.

``Attachment.read()`` in discord.py fetches the attachment's absolute ``url`` (or
``proxy_url``) with a plain GET, so pointing those at this CDN is all it takes. Files the bot
uploads with its messages are stored here too, so their URLs work as well.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from .models import CdnFile, SnowflakeFactory


class Cdn:
    def __init__(self, ids: SnowflakeFactory) -> None:
        self._ids = ids
        self.base_url = ""  # e.g. http://127.0.0.1:PORT/cdn, set once the server listens
        self.files: dict[str, CdnFile] = {}
        self.downloads: list[str] = []  # ids of files fetched, in order

    def add(
        self,
        filename: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        *,
        width: int | None = None,
        height: int | None = None,
        description: str | None = None,
    ) -> CdnFile:
        file_id = self._ids.next()
        url = f"{self.base_url}/attachments/{file_id}/{quote(filename)}"
        file = CdnFile(file_id, filename, data, content_type, url, width, height, description)
        self.files[file_id] = file
        return file

    async def handle(self, request: web.Request) -> web.StreamResponse:
        file = self.files.get(request.match_info["file_id"])
        if file is None or quote(file.filename) != quote(request.match_info["filename"]):
            # Discord's CDN answers a missing file with a short text body, not JSON.
            return web.Response(status=404, text="404: Not Found", content_type="text/plain")
        self.downloads.append(file.id)
        return web.Response(body=file.data, headers={"Content-Type": file.content_type})

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/cdn/attachments/{file_id}/{filename}", self.handle)]
