"""The emulator's image host: real, decodable bytes behind every ``link`` it hands out.

Pictures are drawn with Pillow from the image id (colours and shapes come from a hash of
it), so the same id always gives the same bytes. Drawing happens lazily, on the first
request for a file, in a worker thread, and the result stays in a small LRU cache.

What is served, by extension:

- ``.jpg``/``.jpeg``/``.png``/``.tiff``: a still of the record's width and height (the longer
  side capped at ``MAX_SIDE`` to keep drawing cheap; the JSON keeps the catalogue's
  numbers). Uploaded files are served byte for byte under their own extension.
- ``.gif``: an animated GIF for animated records (a few frames of a moving disc), else a
  still GIF.
- ``.mp4``/``.webm``: Pillow cannot write video, so these are tiny files that only *look*
  valid — an ISO-BMFF ``ftyp``+``moov`` header or a WebM EBML header — served with the right
  content type. Good enough for embeds and content sniffing, not for playback.
- ``.gifv``: the small HTML page Imgur serves there; ``.m3u8``: a one-segment HLS playlist.

Thumbnail suffixes work as on i.imgur.com: ``{id}s.jpg`` (90x90 square), ``b`` (160x160
square), ``t`` (160), ``m`` (320), ``l`` (640), ``h`` (1024).
Unknown ids redirect to ``/removed.png``, as i.imgur.com does.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import struct
from collections import OrderedDict

from PIL import Image, ImageDraw, ImageOps

from fakes.imgur.data import Catalogue, ImageRecord

MAX_SIDE = 2560
GIF_MAX_SIDE = 480
GIF_FRAMES = 8
THUMBNAILS = {
    "s": (90, True),
    "b": (160, True),
    "t": (160, False),
    "m": (320, False),
    "l": (640, False),
    "h": (1024, False),
}

CONTENT_TYPES = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "tiff": "image/tiff",
    "mp4": "video/mp4",
    "webm": "video/webm",
    "gifv": "text/html; charset=utf-8",
    "m3u8": "application/vnd.apple.mpegurl",
}
PIL_FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "gif": "GIF", "tiff": "TIFF"}


def _palette(key: str) -> tuple[tuple[int, int, int], ...]:
    digest = hashlib.sha256(key.encode()).digest()
    return tuple(tuple(digest[i : i + 3]) for i in range(0, 18, 3))  # type: ignore[return-value]


def _fit(width: int, height: int, cap: int) -> tuple[int, int]:
    width, height = max(1, width), max(1, height)
    scale = min(1.0, cap / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def draw_still(key: str, width: int, height: int) -> Image.Image:
    """A deterministic picture: a two-colour gradient with a few shapes on it."""
    colours = _palette(key)
    gradient = Image.linear_gradient("L").resize((width, height))
    picture = ImageOps.colorize(gradient, colours[0], colours[1])
    draw = ImageDraw.Draw(picture)
    digest = hashlib.sha256(key.encode() + b"shapes").digest()
    for n in range(3):
        x0 = digest[4 * n] * width // 256
        y0 = digest[4 * n + 1] * height // 256
        x1 = x0 + max(4, digest[4 * n + 2] * width // 512)
        y1 = y0 + max(4, digest[4 * n + 3] * height // 512)
        box = (x0, y0, x1, y1)
        if n % 2:
            draw.rectangle(box, fill=colours[2 + n])
        else:
            draw.ellipse(box, fill=colours[2 + n])
    return picture


def draw_animation(key: str, width: int, height: int) -> list[Image.Image]:
    """Frames of a disc crossing the still picture (palette images, ready for GIF)."""
    # Quantise the background once and reserve the last palette slot for the disc:
    # per-frame quantisation would cost ten times more.
    base = draw_still(key, width, height).quantize(63, method=Image.Quantize.FASTOCTREE)
    palette = (base.getpalette() or [])[: 63 * 3]
    palette += [0] * (63 * 3 - len(palette)) + list(_palette(key)[5])
    base.putpalette(palette)
    radius = max(3, min(width, height) // 6)
    frames = []
    for n in range(GIF_FRAMES):
        frame = base.copy()
        cx = radius + (width - 2 * radius) * n // max(1, GIF_FRAMES - 1)
        box = (cx - radius, height // 2 - radius, cx + radius, height // 2 + radius)
        ImageDraw.Draw(frame).ellipse(box, fill=63)
        frames.append(frame)
    return frames


def encode(picture: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        picture.convert("RGB").save(out, "JPEG", quality=80)
    elif fmt == "PNG":
        picture.save(out, "PNG", compress_level=1)
    else:
        picture.save(out, fmt)
    return out.getvalue()


def encode_animation(frames: list[Image.Image]) -> bytes:
    out = io.BytesIO()
    # optimize=False: palette optimisation per frame is 40x slower and saves little here.
    frames[0].save(
        out, "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0, optimize=False
    )
    return out.getvalue()


def fake_mp4() -> bytes:
    """An ISO-BMFF header (``ftyp`` + ``moov``/``mvhd``): looks like an MP4, plays nothing."""
    ftyp = b"ftyp" + b"isom" + struct.pack(">I", 0x200) + b"isomiso2avc1mp41"
    mvhd = (
        b"mvhd"
        + struct.pack(">IIIII", 0, 0, 0, 1000, 1000)  # version/flags, times, timescale, duration
        + struct.pack(">IH", 0x00010000, 0x0100)  # rate 1.0, volume 1.0
        + bytes(10)
        + struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)  # unity matrix
        + bytes(24)
        + struct.pack(">I", 2)  # next track id
    )
    moov = b"moov" + struct.pack(">I", len(mvhd) + 4) + mvhd
    return struct.pack(">I", len(ftyp) + 4) + ftyp + struct.pack(">I", len(moov) + 4) + moov


def fake_webm() -> bytes:
    """A WebM EBML header only."""
    body = (
        b"\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08"
        b"\x42\x82\x84webm\x42\x87\x81\x02\x42\x85\x81\x02"
    )
    return b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(body)]) + body


def gifv_page(media_base: str, image_id: str) -> bytes:
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<meta property='og:video' content='{media_base}/{image_id}.mp4'>"
        f"<title>{image_id}</title></head><body>"
        f"<video autoplay loop muted src='{media_base}/{image_id}.mp4'></video>"
        "</body></html>"
    ).encode()


def hls_playlist(image_id: str) -> bytes:
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n"
        f"#EXTINF:1.0,\n{image_id}.mp4\n#EXT-X-ENDLIST\n"
    ).encode()


def removed_png() -> bytes:
    picture = Image.new("RGB", (161, 81), (34, 34, 34))
    ImageDraw.Draw(picture).rectangle((20, 20, 140, 60), outline=(200, 200, 200), width=3)
    return encode(picture, "PNG")


def split_name(name: str, catalogue: Catalogue) -> tuple[ImageRecord, str | None] | None:
    """``"AbC1234b"`` -> (record, ``"b"``); ``"AbC1234"`` -> (record, None)."""
    image = catalogue.images.get(name)
    if image is not None:
        return image, None
    if len(name) > 1 and name[-1] in THUMBNAILS:
        image = catalogue.images.get(name[:-1])
        if image is not None:
            return image, name[-1]
    return None


def render_file(image: ImageRecord, suffix: str | None, ext: str, media_base: str) -> bytes:
    """The bytes for ``/{id}{suffix}.{ext}`` (CPU-bound: run in a thread)."""
    if ext == "gifv":
        return gifv_page(media_base, image.id)
    if ext == "m3u8":
        return hls_playlist(image.id)
    if ext in ("mp4", "webm"):
        if image.payload is not None and image.is_video and suffix is None:
            return image.payload
        return fake_mp4() if ext == "mp4" else fake_webm()
    fmt = PIL_FORMATS[ext]
    if image.payload is not None and not image.is_video:
        if suffix is None and ext == image.ext:
            return image.payload
        source = Image.open(io.BytesIO(image.payload))
        source.load()
        picture = source.convert("RGB")
    elif image.animated and ext == "gif" and suffix in (None, "h"):
        return encode_animation(
            draw_animation(image.id, *_fit(image.width, image.height, GIF_MAX_SIDE))
        )
    else:
        cap = GIF_MAX_SIDE if image.animated else MAX_SIDE
        picture = draw_still(image.id, *_fit(image.width, image.height, cap))
    if suffix is not None:
        side, square = THUMBNAILS[suffix]
        if square:
            picture = ImageOps.fit(picture, (side, side))
        else:
            picture.thumbnail((side, side))
    return encode(picture, fmt)


class MediaStore:
    """LRU cache of rendered files with at most one render in flight per file."""

    def __init__(self, cache_bytes: int) -> None:
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[tuple[str, str | None, str], bytes] = OrderedDict()
        self._size = 0
        self._inflight: dict[tuple[str, str | None, str], asyncio.Future[bytes]] = {}
        self.removed = removed_png()

    def clear(self) -> None:
        self._cache.clear()
        self._size = 0

    def forget(self, image_id: str) -> None:
        for key in [k for k in self._cache if k[0] == image_id]:
            self._size -= len(self._cache.pop(key))

    async def get(self, image: ImageRecord, suffix: str | None, ext: str, media_base: str) -> bytes:
        key = (image.id, suffix, ext)
        data = self._cache.get(key)
        if data is not None:
            self._cache.move_to_end(key)
            return data
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, render_file, image, suffix, ext, media_base)
        self._inflight[key] = future
        try:
            data = await future
        finally:
            self._inflight.pop(key, None)
        self._store(key, data)
        return data

    def _store(self, key: tuple[str, str | None, str], data: bytes) -> None:
        if len(data) > self.cache_bytes:
            return
        self._cache[key] = data
        self._size += len(data)
        while self._size > self.cache_bytes:
            _, old = self._cache.popitem(last=False)
            self._size -= len(old)
