"""What an attachment is, and every reason it may not go to Imgur, in words for the member."""

from __future__ import annotations

import io
import re
import tempfile
from pathlib import Path

import pytest
import upload_samples as samples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from bot.uploads import media
from bot.uploads.containers import BROKEN, CUT_SHORT, Damaged
from bot.uploads.formats import IMGUR_IMAGE_LIMIT, IMGUR_VIDEO_LIMIT, MIB, MediaType, sniff
from bot.uploads.intake import TEMP_PREFIX
from bot.uploads.jpeg import check_structure
from bot.uploads.media import MAX_PIXELS, MediaRejected, Refusal

DISCORD_LIMIT = 25 * MIB  # a level-2 boosted server; tests that need another pass their own


@pytest.fixture(autouse=True)
def _no_upload_temp_files_left():
    before = set(Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"))
    yield
    assert set(Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*")) <= before


def write(tmp_path: Path, name: str, data: bytes, *, pad_to: int | None = None) -> Path:
    """Write ``data`` as ``name``; ``pad_to`` grows the file with zeros (sparse, so fast)."""
    path = tmp_path / "files" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    if pad_to is not None:
        with path.open("r+b") as fp:
            fp.truncate(pad_to)
    return path


def refusal(tmp_path: Path, name: str, data: bytes, **kwargs) -> MediaRejected:
    path = write(tmp_path, name, data, pad_to=kwargs.pop("pad_to", None))
    kwargs.setdefault("discord_limit", DISCORD_LIMIT)
    with pytest.raises(MediaRejected) as caught:
        media.inspect(path, name, **kwargs)
    return caught.value


def test_refusal_names_file_reason_and_advice_in_a_code_span():
    error = MediaRejected("cat.png", "it is empty", None, "Attach it again.", refusal=Refusal.EMPTY)
    assert str(error) == "I can't upload `cat.png`: it is empty. Attach it again."


# -- sniffing ------------------------------------------------------------------------------

SNIFFED = [
    ("jpeg", lambda: samples.picture("JPEG"), MediaType.JPEG),
    ("jpeg progressive", lambda: samples.picture("JPEG", progressive=True), MediaType.JPEG),
    ("png", lambda: samples.picture("PNG"), MediaType.PNG),
    ("apng", lambda: samples.animation("PNG"), MediaType.APNG),
    ("gif87a", lambda: samples.picture("GIF").replace(b"GIF89a", b"GIF87a", 1), MediaType.GIF),
    ("gif89a", lambda: samples.animation("GIF"), MediaType.GIF),
    ("tiff little-endian", lambda: samples.picture("TIFF"), MediaType.TIFF),
    ("tiff big-endian", samples.big_endian_tiff, MediaType.TIFF),
    ("webp", lambda: samples.picture("WEBP"), MediaType.WEBP),
    ("bmp", lambda: samples.picture("BMP"), MediaType.BMP),
    ("heic", samples.heic, MediaType.HEIC),
    ("avif", samples.avif, MediaType.AVIF),
    ("mp4", samples.mp4, MediaType.MP4),
    ("mp4 brand mp42", lambda: samples.mp4(major=b"mp42"), MediaType.MP4),
    ("mov", samples.mov, MediaType.MOV),
    ("mov without ftyp", samples.quicktime_without_ftyp, MediaType.MOV),
    ("webm", samples.matroska, MediaType.WEBM),
    ("matroska", lambda: samples.matroska(b"matroska"), MediaType.MATROSKA),
    ("avi", samples.avi, MediaType.AVI),
    ("wav", samples.wav, MediaType.WAV),
    ("flv", samples.flv, MediaType.FLV),
    ("asf", samples.asf, MediaType.WMV),
    ("mpeg program stream", samples.mpeg_program_stream, MediaType.MPEG),
    ("mpeg video stream", samples.mpeg_video_stream, MediaType.MPEG),
    ("mpeg transport stream", samples.transport_stream, MediaType.MPEG_TS),
]


@pytest.mark.parametrize(
    ("make", "expected"), [s[1:] for s in SNIFFED], ids=[s[0] for s in SNIFFED]
)
def test_sniff_names_the_format_from_magic_bytes(make, expected):
    assert sniff(make()[: media.HEAD_BYTES]) is expected


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"%PDF-1.7\n",
        b"hello, this is text",
        b"BM" + b"\x00" * 30,  # "BM" alone is not a bitmap
        b"\x1a\x45\xdf\xa3\x84\x42\x82\x81x",  # EBML with an unknown DocType
        b"\x00\x00\x01\xba\x00\x00",  # a pack start code without its marker bits
    ],
)
def test_sniff_recognises_nothing_in_what_is_not_media(head):
    assert sniff(head) is None


def test_apng_needs_its_actl_chunk_before_the_first_idat():
    still = samples.picture("PNG")
    ihdr_end = 8 + 12 + 13
    idat_first = still + samples.png_chunk(b"acTL", b"\x00\x00\x00\x02\x00\x00\x00\x00")
    actl_first = (
        still[:ihdr_end]
        + samples.png_chunk(b"acTL", b"\x00\x00\x00\x02\x00\x00\x00\x00")
        + still[ihdr_end:]
    )
    assert sniff(idat_first) is MediaType.PNG
    assert sniff(actl_first) is MediaType.APNG


def test_every_type_knows_its_mime_kind_and_imgur_limit():
    assert MediaType.PNG.mime == "image/png" and not MediaType.PNG.is_video
    assert MediaType.APNG.mime == "image/apng"
    assert MediaType.MOV.mime == "video/quicktime" and MediaType.MOV.is_video
    assert MediaType.MATROSKA.mime == "video/x-matroska"
    assert MediaType.GIF.imgur_limit == IMGUR_IMAGE_LIMIT == 10 * MIB
    assert MediaType.WEBM.imgur_limit == IMGUR_VIDEO_LIMIT == 200 * MIB
    refused = {t for t in MediaType if not t.accepted}
    assert refused == {
        MediaType.WEBP,
        MediaType.BMP,
        MediaType.HEIC,
        MediaType.AVIF,
        MediaType.MPEG_TS,
        MediaType.WAV,
    }
    assert all(t.imgur_limit is None for t in refused)


# -- files Imgur takes ---------------------------------------------------------------------

ACCEPTED = [s for s in SNIFFED if s[2].accepted]


@pytest.mark.parametrize(
    ("make", "expected"), [s[1:] for s in ACCEPTED], ids=[s[0] for s in ACCEPTED]
)
def test_inspect_accepts_whole_files_of_every_type_imgur_takes(tmp_path, make, expected):
    data = make()
    path = write(tmp_path, f"upload.{expected.extension}", data)
    info = media.inspect(path, path.name, discord_limit=DISCORD_LIMIT)
    assert info.media_type is expected
    assert info.size == len(data)


def test_inspect_reports_picture_dimensions_and_frames(tmp_path):
    path = write(tmp_path, "loop.png", samples.animation("PNG", frames=4, size=(40, 30)))
    info = media.inspect(path, "loop.png", discord_limit=DISCORD_LIMIT)
    assert (info.media_type, info.width, info.height, info.frames) == (MediaType.APNG, 40, 30, 4)
    gif = write(tmp_path, "loop.gif", samples.animation("GIF", frames=5))
    assert media.inspect(gif, "loop.gif", discord_limit=DISCORD_LIMIT).frames == 5


def test_apng_is_recognised_even_when_the_head_ends_before_idat(tmp_path):
    data = samples.png_with_big_metadata(samples.animation("PNG"), media.HEAD_BYTES)
    assert sniff(data[: media.HEAD_BYTES]) is MediaType.PNG  # the head alone cannot tell
    path = write(tmp_path, "big-header.png", data)
    assert media.inspect(path, path.name, discord_limit=DISCORD_LIMIT).media_type is MediaType.APNG


def test_a_png_named_mp4_is_a_picture_under_the_picture_limit(tmp_path):
    small = write(tmp_path, "cat.mp4", samples.picture("PNG"))
    info = media.inspect(small, "cat.mp4", discord_limit=DISCORD_LIMIT)
    assert info.media_type is MediaType.PNG
    assert info.claimed_type is MediaType.MP4
    assert info.upload_name == "cat.png"

    big = refusal(tmp_path, "cat.mp4", samples.picture("PNG"), pad_to=IMGUR_IMAGE_LIMIT + MIB)
    assert big.refusal is Refusal.TOO_LARGE
    assert big.limit_bytes == IMGUR_IMAGE_LIMIT
    assert "Imgur takes pictures up to 10 MB" in str(big)


def test_an_mp4_named_png_is_a_video_under_the_video_limit(tmp_path):
    # 12 MB: over the picture limit, well under the video one.
    data = samples.mp4()
    path = write(tmp_path, "cat.png", data)
    with path.open("r+b") as fp:  # grow the mdat box (the last one) to 12 MB of zeros
        size = 12 * MIB
        mdat_at = len(data) - (8 + 256)
        fp.seek(mdat_at)
        fp.write((size - mdat_at).to_bytes(4, "big"))
        fp.truncate(size)
    info = media.inspect(path, "cat.png", discord_limit=DISCORD_LIMIT)
    assert (info.media_type, info.size, info.upload_name) == (MediaType.MP4, size, "cat.mp4")


def test_live_recorded_webm_with_clusters_of_unknown_size_is_accepted(tmp_path):
    path = write(tmp_path, "live.webm", samples.matroska(segment_size_known=False))
    assert (
        media.inspect(path, "live.webm", discord_limit=DISCORD_LIMIT).media_type is MediaType.WEBM
    )


# -- refusals: each names the file, the limit and what to do --------------------------------


def test_an_empty_file_is_refused(tmp_path):
    error = refusal(tmp_path, "nothing.png", b"")
    assert error.refusal is Refusal.EMPTY
    assert str(error) == (
        "I can't upload `nothing.png`: it is empty (0 bytes). "
        "Attach it again: it may not have finished uploading to Discord."
    )


@pytest.mark.parametrize(
    ("name", "make", "said"),
    [
        ("cat.png", lambda: b"%PDF-1.4\n" + b"\x00" * 100, "its name says PNG, but it is a PDF"),
        ("notes", lambda: b"just some words\n" * 10, "it is plain text, not a picture"),
        ("clip.mp4", lambda: bytes(range(256)), "its name says MP4, but its contents match no"),
    ],
)
def test_unknown_contents_are_refused_saying_what_they_looked_like(tmp_path, name, make, said):
    error = refusal(tmp_path, name, make())
    assert error.refusal is Refusal.UNKNOWN_TYPE
    message = str(error)
    assert message.startswith(f"I can't upload `{name}`: {said}")
    assert "Imgur takes JPEG, PNG, APNG, GIF and TIFF pictures (up to 10 MB)" in message
    assert "MP4, MOV, WebM, MKV, AVI, FLV, WMV and MPEG videos (up to 200 MB)" in message
    assert message.endswith("If it should be one of those, save it again and retry.")


UNSUPPORTED = [
    # (name, contents, "it is ...", advice)
    (
        "cat.png",
        lambda: samples.picture("WEBP"),
        "a WebP image (although its name says PNG)",
        "as PNG",
    ),
    ("scan.bmp", lambda: samples.picture("BMP"), "a BMP image, and", "Save it as PNG"),
    ("IMG_0001.HEIC", samples.heic, "a HEIC photo, and", "Most Compatible"),
    ("IMG_0002.jpg", samples.heic, "a HEIC photo (although its name says JPEG)", "as JPEG"),
    ("pic.avif", samples.avif, "an AVIF image", "Save it as PNG or JPEG"),
    ("stream.ts", samples.transport_stream, "an MPEG transport stream", "Convert it to MP4"),
    ("voice.wav", samples.wav, "a WAV audio file", "Imgur only hosts pictures and videos"),
]


@pytest.mark.parametrize(("name", "make", "words", "advice"), UNSUPPORTED)
def test_types_imgur_does_not_take_are_refused_by_name(tmp_path, name, make, words, advice):
    error = refusal(tmp_path, name, make())
    assert error.refusal is Refusal.UNSUPPORTED_TYPE
    message = str(error)
    assert message.startswith(f"I can't upload `{name}`: it is {words}")
    assert "Imgur takes JPEG, PNG, APNG, GIF and TIFF pictures (up to 10 MB)" in message
    assert advice in message


OVERSIZE_PICTURES = [
    # (name, contents, padded to, "it is ...", advice)
    ("photo.jpg", "JPEG", 12 * MIB, "12 MB, and Imgur takes pictures up to 10 MB", "lower quality"),
    (
        "shot.png",
        "PNG",
        10 * MIB + 1,
        "10,485,761 bytes, and Imgur takes pictures up to 10,485,760 bytes (10 MB)",
        "Save it as a JPEG",
    ),
    (
        "funny.gif",
        "GIF",
        15 * MIB,
        "15 MB, and Imgur takes pictures up to 10 MB",
        "Convert it to an MP4",
    ),
]


@pytest.mark.parametrize(("name", "fmt", "size", "said", "advice"), OVERSIZE_PICTURES)
def test_pictures_over_imgurs_limit_are_refused(tmp_path, name, fmt, size, said, advice):
    error = refusal(tmp_path, name, samples.picture(fmt), pad_to=size)
    assert error.refusal is Refusal.TOO_LARGE
    assert error.limit_bytes == IMGUR_IMAGE_LIMIT
    assert str(error).startswith(f"I can't upload `{name}`: it is {said}. ")
    assert advice in str(error)


def test_video_over_imgurs_limit_is_refused(tmp_path):
    error = refusal(tmp_path, "film.mp4", samples.mp4(), pad_to=201 * MIB, discord_limit=500 * MIB)
    assert error.limit_bytes == IMGUR_VIDEO_LIMIT
    assert str(error) == (
        "I can't upload `film.mp4`: it is 201 MB, and Imgur takes videos up to 200 MB. "
        "Trim it or compress it to a smaller size, then try again."
    )


def test_files_over_discords_limit_for_the_interaction_are_refused(tmp_path):
    error = refusal(
        tmp_path, "clip.webm", samples.matroska(), pad_to=9 * MIB, discord_limit=8 * MIB
    )
    assert error.refusal is Refusal.TOO_LARGE
    assert error.limit_bytes == 8 * MIB
    assert str(error) == (
        "I can't upload `clip.webm`: it is 9 MB, and the largest file I can take here is 8 MB. "
        "Share a smaller file, or upload this one on imgur.com yourself."
    )


CORRUPT_PICTURES = [
    # (name, contents, what it looked like, what is wrong)
    ("cut-short.png", lambda: samples.picture("PNG")[:-200], "a PNG image", "stops part-way"),
    ("no-iend.png", lambda: samples.picture("PNG")[:-12], "a PNG image", "stops part-way"),
    ("cut-short.jpg", lambda: samples.picture("JPEG")[:-300], "a JPEG image", "stops part-way"),
    ("cut-short.gif", lambda: samples.picture("GIF")[:-100], "a GIF", ""),
    ("cut-short.tiff", lambda: samples.picture("TIFF")[:-500], "a TIFF image", ""),
    ("header-only.png", lambda: samples.picture("PNG")[:33], "a PNG image", "stops part-way"),
    ("bad-crc.png", lambda: _flip_byte(samples.picture("PNG"), 60), "a PNG image", "cannot be"),
    ("bad-data.png", lambda: _flip_in_idat(samples.picture("PNG")), "a PNG image", "cannot be"),
]


def _flip_byte(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0xFF]) + data[index + 1 :]


def _flip_in_idat(png: bytes) -> bytes:
    """Damage the compressed pixels and fix the CRC, so only decoding can notice."""
    idat_at = png.index(b"IDAT")
    length = int.from_bytes(png[idat_at - 4 : idat_at], "big")
    data = bytearray(png[idat_at + 4 : idat_at + 4 + length])
    data[2:40] = b"\xff" * 38
    return samples.with_png_chunk_replaced(png, b"IDAT", bytes(data))


@pytest.mark.parametrize(("name", "make", "looked", "wrong"), CORRUPT_PICTURES)
def test_truncated_and_corrupt_pictures_are_refused(tmp_path, name, make, looked, wrong):
    error = refusal(tmp_path, name, make())
    assert error.refusal is Refusal.CORRUPT
    assert str(error).startswith(f"I can't upload `{name}`: it looks like {looked}, but it {wrong}")
    assert str(error).endswith(
        "Check that it opens on your device, save or export it again, and retry."
    )


CORRUPT_VIDEOS = [
    # (name, contents, what it looked like, what is wrong)
    ("cut-short.mp4", lambda: samples.mp4()[:-40], "an MP4 video", "it stops part-way"),
    (
        "no-moov.mp4",
        lambda: samples.ftyp(b"isom") + samples.box(b"mdat", b"x" * 99),
        "an MP4 video",
        "it has no 'moov' index",
    ),
    (
        "no-mdat.mov",
        lambda: samples.ftyp(b"qt  ") + samples.moov(),
        "a QuickTime (MOV) video",
        "it has an index but no video data",
    ),
    (
        "bad-box.mp4",
        lambda: samples.ftyp(b"isom") + b"\x00\x00\x00\x04free",
        "an MP4 video",
        "its internal structure is damaged",
    ),
    ("cut-short.webm", lambda: samples.matroska()[:-30], "a WebM video", "it stops part-way"),
    (
        "no-clusters.mkv",
        lambda: samples.matroska(b"matroska", clusters=0),
        "a Matroska (MKV) video",
        "it has a track list but no video data",
    ),
    ("cut-short.avi", lambda: samples.avi()[:-20], "an AVI video", "it stops part-way"),
    ("no-movi.avi", lambda: samples.avi(movi=False), "an AVI video", "it has a header but no"),
    ("cut-short.flv", lambda: samples.flv()[:-30], "a Flash (FLV) video", "it stops part-way"),
    ("cut-short.wmv", lambda: samples.asf()[:-10], "a Windows Media (WMV) video", "it stops"),
    ("header.mpg", lambda: samples.mpeg_program_stream()[:14], "an MPEG video", "it stops"),
]


@pytest.mark.parametrize(("name", "make", "looked", "wrong"), CORRUPT_VIDEOS)
def test_truncated_and_broken_videos_are_refused_without_decoding(
    tmp_path, name, make, looked, wrong
):
    error = refusal(tmp_path, name, make())
    assert error.refusal is Refusal.CORRUPT
    assert str(error).startswith(f"I can't upload `{name}`: it looks like {looked}, but {wrong}")


@pytest.mark.parametrize(
    ("name", "make", "kind"),
    [
        ("song.m4a", lambda: samples.mp4(handler=b"soun"), "an MP4 video"),
        ("voice.webm", lambda: samples.matroska(track_type=2), "a WebM video"),
        ("no-tracks.webm", lambda: samples.matroska(tracks=False), "a WebM video"),
        ("radio.flv", lambda: samples.flv(video=False), "a Flash (FLV) video"),
    ],
)
def test_containers_without_a_video_track_are_refused(tmp_path, name, make, kind):
    error = refusal(tmp_path, name, make())
    assert error.refusal is Refusal.UNSUPPORTED_TYPE
    assert str(error) == (
        f"I can't upload `{name}`: it is {kind} with no video track (only sound?). "
        "Imgur only hosts pictures and videos; share sound somewhere else."
    )


@pytest.mark.parametrize("interlaced", [False, True])
@pytest.mark.parametrize("bad_row", [0, 72, 73, 99])
def test_every_png_row_must_start_with_a_known_filter_type(tmp_path, bad_row, interlaced):
    # 901-byte rows: row 72 straddles the first 64 KiB inflated, row 73 starts the next.
    rows = samples.png_rows(300, 100, interlaced=interlaced, bad_filter_at=bad_row)
    png = samples.png_from_rows(300, 100, rows, interlaced=interlaced)
    error = refusal(tmp_path, "rows.png", png)
    assert "it cannot be decoded (a row has an unknown filter type)" in str(error)


def test_png_data_that_ends_before_the_last_row_is_refused(tmp_path):
    rows = samples.png_rows(20, 10)[:-61]  # one whole row short, the stream itself complete
    error = refusal(tmp_path, "rows.png", samples.png_from_rows(20, 10, rows))
    assert "it cannot be decoded (rows are missing)" in str(error)


def progressive_jpeg() -> bytes:
    return samples.picture("JPEG", size=(200, 150), progressive=True)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(1, len(progressive_jpeg()) - 3))  # 3 bytes still sniff as JPEG
def test_a_progressive_jpeg_cut_anywhere_is_refused_as_pillow_would(tmp_path, cut):
    """Progressive JPEGs are walked, not decoded (see jpeg.py); the walk must still refuse
    every file that Pillow's full decode refuses, here every cut-short copy."""
    data = progressive_jpeg()[:-cut]
    with pytest.raises(OSError):
        with Image.open(io.BytesIO(data)) as picture:
            picture.load()
    error = refusal(tmp_path, "photo.jpg", data)
    assert error.refusal is Refusal.CORRUPT
    assert "it looks like a JPEG image, but it stops part-way through" in str(error)


def _later_segment(data: bytes, marker: bytes) -> int:
    """Where a ``marker`` segment after the first scan begins (the header parse is past)."""
    return data.index(marker, data.index(b"\xff\xda") + 2)


@pytest.mark.parametrize(
    ("damage", "wrong"),
    [
        # the end-of-image marker turned into a second start-of-image
        (lambda d: d[:-1] + b"\xd8", "its internal structure is damaged"),
        # a Huffman table between scans claiming a 1-byte length (2 is the least possible)
        (
            lambda d: (
                d[: _later_segment(d, b"\xff\xc4") + 2]
                + b"\x00\x01"
                + d[_later_segment(d, b"\xff\xc4") + 4 :]
            ),
            "its internal structure is damaged",
        ),
        # a Huffman table between scans claiming to run past the end of the file
        (
            lambda d: (
                d[: _later_segment(d, b"\xff\xc4") + 2]
                + b"\xff\xf0"
                + d[_later_segment(d, b"\xff\xc4") + 4 :]
            ),
            "it stops part-way through",
        ),
    ],
)
def test_a_progressive_jpeg_with_broken_segments_is_refused(tmp_path, damage, wrong):
    error = refusal(tmp_path, "photo.jpg", damage(progressive_jpeg()))
    assert error.refusal is Refusal.CORRUPT
    assert f"it looks like a JPEG image, but {wrong}" in str(error)


@pytest.mark.parametrize(
    ("data", "wrong"),
    [
        (b"\xff\xd8\xff\xda\x00\x02\x42\xff\xd9", BROKEN),  # a scan before any frame header
        (b"\xff\xd8\xff\xc2\x00\x03\x08\xff\xd9", BROKEN),  # a frame header, no scan
        (b"\xff\xd8\xff\xfe\x00\x04hi\x42\xff\xd9", BROKEN),  # a stray byte between segments
        (b"\xff\xd8\xff\xfe\x00\x04hi\xff", CUT_SHORT),  # a marker's second byte missing
    ],
)
def test_the_jpeg_walk_checks_what_pillows_header_parse_would_stop_sooner(data, wrong):
    with pytest.raises(Damaged, match=re.escape(wrong)):
        check_structure(io.BytesIO(data), len(data))


PNG_KINDS = [(0, 1), (0, 8), (0, 16), (2, 8), (2, 16), (3, 4), (4, 8), (6, 8)]  # colour, depth


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    width=st.integers(1, 40),
    height=st.integers(1, 40),
    kind=st.sampled_from(PNG_KINDS),
    interlaced=st.booleans(),
    damage=st.sampled_from(["none", "rows short", "stream cut"]),
    amount=st.integers(1, 3),
)
def test_png_data_check_agrees_with_pillows_decoder(
    tmp_path, width, height, kind, interlaced, damage, amount
):
    """Whole PNGs: accepted, as Pillow decodes them. Damaged: refused, however damaged.

    Where the compressed stream is cut, Pillow's decoder refuses too. Where the stream is
    whole but holds fewer rows than the header promises, Pillow paints the missing rows
    black without a word (libpng calls it "not enough image data"); we refuse it.
    """
    colour, depth = kind
    rows = samples.png_rows(width, height, colour=colour, depth=depth, interlaced=interlaced)
    if damage == "rows short":
        rows = rows[:-amount]
    png = samples.png_from_rows(
        width,
        height,
        rows,
        colour=colour,
        depth=depth,
        interlaced=interlaced,
        lose=amount if damage == "stream cut" else 0,
    )
    try:
        with Image.open(io.BytesIO(png)) as picture:
            picture.load()
        pillow_decodes = True
    except OSError:
        pillow_decodes = False
    path = write(tmp_path, "property.png", png)
    try:
        media.inspect(path, "property.png", discord_limit=DISCORD_LIMIT)
        we_accept = True
    except MediaRejected as error:
        assert error.refusal is Refusal.CORRUPT
        we_accept = False
    assert we_accept == (damage == "none")
    if damage != "rows short":
        assert pillow_decodes == we_accept


def test_a_bomb_is_refused_from_its_header_before_any_decoding(tmp_path):
    # The IDAT is 64 bytes: decoding would fail as "cut short"; the header check comes first.
    error = refusal(tmp_path, "bomb.png", samples.png_claiming(50_000, 50_000))
    assert error.refusal is Refusal.TOO_MANY_PIXELS
    assert str(error) == (
        "I can't upload `bomb.png`: its header says it is 50,000×50,000 pixels "
        "(2,500 megapixels), and the limit is 89.5 megapixels. "
        "Resize it to fewer pixels and try again."
    )


def test_the_pixel_limit_can_be_lowered(tmp_path):
    error = refusal(
        tmp_path, "wide.png", samples.picture("PNG", size=(300, 200)), max_pixels=50_000
    )
    assert "300×200 pixels (0.06 megapixels), and the limit is 0.05 megapixels" in str(error)


def test_a_gif_of_many_frames_on_a_huge_canvas_is_refused(tmp_path):
    error = refusal(tmp_path, "frames.gif", samples.gif_frame_bomb(9000, 9000, 13))
    assert error.refusal is Refusal.TOO_MANY_PIXELS
    assert str(error) == (
        "I can't upload `frames.gif`: it has 13 frames of 9,000×9,000 pixels "
        "(1,053 megapixels in all), and the limit is 1,000 megapixels in all. "
        "Make it shorter or smaller, or convert it to an MP4 video."
    )


def test_a_gif_whose_first_frame_outgrows_its_canvas_is_refused(tmp_path):
    # Pillow grows the canvas to the frame (and refuses, itself, past twice its own limit).
    for frame, limit, words in (
        ((5000, 5000), 20_000_000, "its header says it is 5,000×5,000 pixels (25 megapixels)"),
        ((20000, 20000), MAX_PIXELS, "one of its frames claims more pixels than allowed"),
    ):
        bomb = samples.gif_frame_bomb(10, 10, 1, frame)
        error = refusal(tmp_path, "grow.gif", bomb, max_pixels=limit)
        assert error.refusal is Refusal.TOO_MANY_PIXELS
        assert str(error) == (
            f"I can't upload `grow.gif`: {words}, and the limit is "
            f"{limit / 1e6:.3g} megapixels. Resize it to fewer pixels and try again."
        )


def test_an_apng_claiming_a_million_frames_is_refused(tmp_path):
    apng = samples.animation("PNG", size=(64, 48))
    claims = samples.with_png_chunk_replaced(
        apng, b"acTL", (1_000_000).to_bytes(4, "big") + b"\0" * 4
    )
    error = refusal(tmp_path, "loop.png", claims)
    assert error.refusal is Refusal.TOO_MANY_PIXELS
    assert "it has 1,000,000 frames of 64×48 pixels (3,072 megapixels in all)" in str(error)


def test_a_multi_page_tiff_is_not_held_to_the_animation_limit(tmp_path):
    path = write(tmp_path, "scan.tiff", samples.animation("TIFF", frames=3))
    info = media.inspect(path, "scan.tiff", discord_limit=DISCORD_LIMIT, max_animation_pixels=1)
    assert (info.media_type, info.frames) == (MediaType.TIFF, 3)


def test_inspection_refuses_to_run_when_truncated_images_are_allowed(tmp_path, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    path = write(tmp_path, "cut.png", samples.picture("PNG")[:-200])
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        media.inspect(path, "cut.png", discord_limit=DISCORD_LIMIT)


# -- names shown to members ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("cat.png", "cat.png"),
        ("evil\u202egnp.exe", "evilgnp.exe"),  # a right-to-left override would show exe.png
        ("a\u2066b\u2069c\u200f.gif", "abc.gif"),
        ("line\nbreak\r\tand\x07bell.jpg", "line break andbell.jpg"),
        ("tick`s.png", "tick's.png"),
        ("C:\\Users\\me\\secret\\cat.png", "cat.png"),
        ("../../etc/passwd", "passwd"),
        ("\u200b\u200d", "attachment"),
        ("x" * 200 + ".jpeg", "x" * 74 + "….jpeg"),
        ("y" * 100, "y" * 79 + "…"),
    ],
)
def test_file_names_are_cleaned_before_members_see_them(raw, shown):
    cleaned = media.clean_filename(raw)
    assert cleaned == shown
    assert len(cleaned) <= media.DISPLAY_NAME_LENGTH


def test_a_refusal_shows_the_cleaned_name(tmp_path):
    path = write(tmp_path, "on-disk.png", b"")
    with pytest.raises(MediaRejected) as caught:
        media.inspect(path, "\u202eevil`name\n.png", discord_limit=DISCORD_LIMIT)
    assert caught.value.filename == "evil'name .png"
    assert str(caught.value).startswith("I can't upload `evil'name .png`: it is empty")
