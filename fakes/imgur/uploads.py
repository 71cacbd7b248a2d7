"""Reading and judging an upload (§5.2, §7): multipart file, base64 or URL.

The answer for a bad upload is Imgur's own: 400 "File is over the size limit" (or the
newer 413 layer body), 400 with the object error code 1003 "File type invalid (1)" for a
type Imgur does not take, code 1001 "File was not uploaded correctly" for bytes that do
not decode, and "Unable to process upload!" for a URL it cannot fetch.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass

from aiohttp import BodyPartReader, ClientSession, ClientTimeout, web
from PIL import Image
from yarl import URL

from fakes.imgur.render import dumps
from fakes.imgur.responses import ApiError, RawResponse, json_response, object_error

VIDEO_FIELD = "video"
FILE_FIELDS = ("image", VIDEO_FIELD)
# ISO-BMFF major brands that are not video: HEIF/HEIC and AVIF pictures (iPhone photos
# fail on Imgur with "File type invalid (1)", imgur-api.md §5.2) and M4A/M4B audio.
NOT_VIDEO_BRANDS = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis", b"M4A ", b"M4B "}
)


@dataclass
class UploadForm:
    fields: dict[str, str]
    file_bytes: bytes | None = None
    file_name: str | None = None
    field_name: str = "image"
    oversize: bool = False


def sniff_mime(data: bytes) -> str | None:
    """The MIME type from magic bytes, for the types Imgur accepts (§5.2); else None."""
    head = data[:16]
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/apng" if b"acTL" in data[:4096] else "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in NOT_VIDEO_BRANDS:
            return None  # HEIC/AVIF stills or M4A audio in an MP4 box: Imgur refuses them
        return "video/quicktime" if brand == b"qt  " else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in data[:64] else "video/x-matroska"
    if head.startswith(b"FLV"):
        return "video/x-flv"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head.startswith(b"\x30\x26\xb2\x75"):
        return "video/x-ms-wmv"
    if head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")):
        return "video/mpeg"
    return None


def body_limit(max_file_bytes: int) -> int:
    """Largest request body worth reading: the biggest file as base64, plus form fields."""
    return max_file_bytes * 4 // 3 + 1024 * 1024


async def read_form(request: web.Request, limit: int) -> UploadForm:
    """Parse a multipart, urlencoded or JSON upload; files are read up to ``limit`` bytes.

    A body too big for any allowed file is drained and reported as ``oversize``, so the
    client gets Imgur's "File is over the size limit" rather than a server's own 413.
    """
    if request.content_type.startswith("multipart/"):
        return await _read_multipart(request, limit)
    try:
        if request.content_type == "application/json":
            body = await request.json()
            fields = {str(k): str(v) for k, v in body.items()} if isinstance(body, dict) else {}
            return UploadForm(fields)
        posted = await request.post()
    except web.HTTPRequestEntityTooLarge:
        while await request.content.readany():
            pass
        return UploadForm({}, oversize=True)
    except ValueError as exc:
        raise ApiError(400, f"The request body is not valid JSON: {exc}") from exc
    return UploadForm({k: v for k, v in posted.items() if isinstance(v, str)})


async def _read_multipart(request: web.Request, limit: int) -> UploadForm:
    form = UploadForm(fields={})
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        if part.name not in FILE_FIELDS:
            form.fields[part.name] = (await part.read()).decode("utf-8", "replace")
            continue
        # Base64 text or a URL may come as a plain part too, so read up to the text limit.
        data, oversize = await _read_capped(part, body_limit(limit))
        if part.filename is None and not oversize and _is_plain_text(data):
            form.fields[part.name] = data.decode()
            continue
        form.file_bytes, form.oversize = (b"", True) if len(data) > limit else (data, oversize)
        form.file_name = part.filename
        form.field_name = part.name
    return form


def _is_plain_text(data: bytes) -> bool:
    """A text part (base64 or URL), not a file sent without a filename."""
    if sniff_mime(data) is not None:
        return False
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


async def _read_capped(part: BodyPartReader, limit: int) -> tuple[bytes, bool]:
    chunks, total = [], 0
    while chunk := await part.read_chunk(256 * 1024):
        total += len(chunk)
        if total > limit:
            # Drain the rest without keeping it: only the verdict matters now.
            while await part.read_chunk(256 * 1024):
                pass
            return b"", True
        chunks.append(chunk)
    return b"".join(chunks), False


def oversize_error(mode: str) -> Exception:
    if mode == "413":
        body = dumps(
            {
                "id": "legacy-api-emulator/upload-1",
                "code": 413,
                "detail": "file is over the size limit",
                "status": "Request Entity Too Large",
            }
        )
        return RawResponse(json_response(body, 413, "application/vnd.imgur.v1+json"))
    return ApiError(400, "File is over the size limit")


def invalid_type_error() -> ApiError:
    return ApiError(400, object_error(1003, "File type invalid (1)", "Exception_UploadError"))


def corrupt_error() -> ApiError:
    return ApiError(400, object_error(1001, "File was not uploaded correctly", "Exception_Logged"))


def decode_base64(text: str) -> bytes:
    if "," in text[:100] and text.startswith("data:"):
        text = text.split(",", 1)[1]
    try:
        return base64.b64decode(text.strip(), validate=False)
    except (binascii.Error, ValueError) as exc:
        raise invalid_type_error() from exc


async def fetch_url(url: str, limit: int, allowed_hosts: frozenset[str]) -> bytes:
    """Fetch a ``type=url`` upload from a local host; anything else is refused."""
    target = URL(url)
    if target.scheme not in ("http", "https") or target.host not in allowed_hosts:
        raise ApiError(400, "Unable to process upload!")
    try:
        async with ClientSession(timeout=ClientTimeout(total=10)) as session:
            async with session.get(target) as response:
                if response.status != 200:
                    raise ApiError(400, "Unable to process upload!")
                data = await response.content.read(limit + 1)
    except OSError as exc:
        raise ApiError(400, "Unable to process upload!") from exc
    return data


def probe_image(data: bytes, mime: str) -> tuple[int, int, bool]:
    """(width, height, animated) of an image upload; raises the 1001 error if corrupt."""
    try:
        with Image.open(io.BytesIO(data)) as picture:
            width, height = picture.size
            animated = bool(getattr(picture, "is_animated", False))
    except Exception as exc:  # Pillow raises many types for bad input
        raise corrupt_error() from exc
    if mime == "image/apng":
        animated = True
    return width, height, animated
