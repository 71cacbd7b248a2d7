"""Meme rendering time: the shipped renderer against one naive Pillow pass, side by side.

Workloads (made here, deterministic; no files read):

- still: an 800×800 JPEG photo-like template (quality 90) with the classic two captions,
  "One does not simply" / "walk into Mordor", JPEG out at quality 90;
- gif: a 30-frame 480×360 GIF (a moving ball on a photo-like background) with two
  captions, GIF out.

Variants, measured in interleaved rounds so they share the machine's noise:

- ``naive``: decode the bytes, ``ImageDraw.text`` each caption with its outline at a fixed
  size (the size the renderer chose, with the same line breaks, so both draw the same
  pixels), encode. No fitting, no checks, no limits. For the GIF: every frame decoded,
  drawn on and handed to Pillow's GIF writer as it is.
- ``render``: ``bot.memes.render`` from the bytes with every layout cache cleared first,
  so each run fits the text from scratch (measures words, binary search, measured check).
  Fonts stay loaded: FreeType objects and character maps are read once per process.
- ``render, layout cached``: the same caption again (the fitted layout is cached).
- ``render, background decoded``: a ``Background`` decoded once beforehand (what a cog
  caching its templates does); layout from scratch.
- ``preview``: ``render_preview`` from the bytes (640 px, JPEG quality 80), layout from
  scratch.
- ``render, emoji + CJK``: a caption mixing Latin, Chinese and colour emoji, from scratch.

Every timing includes the encode; only ``background decoded`` leaves out the decode. Each
is taken as wall-clock time and as the thread's CPU time (``time.thread_time``): on a shared
machine the CPU time is the steadier figure.

    python -m bench.meme_render            # 200 still rounds, 20 GIF rounds
    python -m bench.meme_render --quick    # 30 and 5

The last line is one JSON object: ``still_median_ms`` (``render`` of the still, target
under 20 ms), ``gif_median_ms``, ``naive_still_median_ms``, ``naive_gif_median_ms`` and the
other variants.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

from PIL import Image, ImageDraw, ImageFilter

from bot.memes import (
    Template,
    classic_template,
    clear_caches,
    default_font_book,
    load_background,
    render,
    render_preview,
)
from bot.memes.layout import fit_text

TARGET_MS = 20.0
CAPTIONS = ["One does not simply", "walk into Mordor"]
UNICODE_CAPTIONS = ["When the build passes 🎉", "终于 成功了 😭🙏"]


def photo(size: tuple[int, int]) -> Image.Image:
    """A photo-like picture: smooth colour gradients with grain, so JPEG has real work."""
    red = Image.linear_gradient("L").resize(size)
    green = Image.radial_gradient("L").resize(size)
    blue = Image.linear_gradient("L").rotate(90).resize(size)
    base = Image.merge("RGB", (red, green, blue)).filter(ImageFilter.GaussianBlur(4))
    grain = Image.effect_noise(size, 25).convert("RGB")
    return Image.blend(base, grain, 0.25)


def still_bytes() -> bytes:
    buffer = io.BytesIO()
    photo((800, 800)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def gif_bytes() -> bytes:
    background = photo((480, 360))
    frames = []
    for number in range(30):
        frame = background.copy()
        x = 20 + number * 14
        ImageDraw.Draw(frame).ellipse((x, 150, x + 80, 230), fill=(240, 200, 40))
        frames.append(frame)
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=40, loop=0)
    return buffer.getvalue()


def naive_plan(template: Template, size: tuple[int, int], texts: list[str]) -> list[dict]:
    """What the naive pass draws: each caption's lines, size, outline and anchor point,
    taken from the renderer's own layout so both draw the same pixels."""
    book = default_font_book()
    width, height = size
    plan = []
    for box, text in zip(template.boxes, texts, strict=True):
        left, top, box_width, box_height = box.pixel_box(width, height)
        layout, _ = fit_text(
            book, text.upper(), box_width, box_height, box.font,
            valign=box.valign, max_size=round(min(size) * 0.10),
        )  # fmt: skip
        lines = ["".join(run.text for run in line.runs) for line in layout.lines]
        plan.append({
            "text": "\n".join(lines),
            "font": book.font(book.caption_face(box.font)[0], layout.size),
            "stroke": layout.stroke,
            "xy": (left + box_width // 2, top + (0 if box.valign == "top" else box_height)),
            "anchor": "ma" if box.valign == "top" else "md",
        })  # fmt: skip
    return plan


def naive_draw(image: Image.Image, plan: list[dict]) -> None:
    draw = ImageDraw.Draw(image)
    for caption in plan:
        draw.multiline_text(
            caption["xy"], caption["text"], font=caption["font"], fill="white",
            anchor=caption["anchor"], align="center", stroke_width=caption["stroke"],
            stroke_fill="black", spacing=0,
        )  # fmt: skip


def naive_still(data: bytes, plan: list[dict]) -> bytes:
    image = Image.open(io.BytesIO(data))
    if image.mode != "RGB":  # the JPEG is RGB already: no copy, the fastest naive pass
        image = image.convert("RGB")
    naive_draw(image, plan)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def naive_gif(data: bytes, plan: list[dict]) -> bytes:
    source = Image.open(io.BytesIO(data))
    frames, durations = [], []
    for number in range(source.n_frames):
        source.seek(number)
        frame = source.convert("RGB")
        naive_draw(frame, plan)
        frames.append(frame)
        durations.append(source.info.get("duration", 0))
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return out.getvalue()


def cold(fn: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        clear_caches()
        return fn()

    return run


Timings = dict[str, tuple[list[float], list[float]]]


def measure(variants: dict[str, Callable[[], Any]], rounds: int) -> Timings:
    """Milliseconds per call, wall clock and this thread's CPU time, variants interleaved
    round by round. On a shared machine the CPU time is the steadier of the two: it does
    not count the time other processes held the cores."""
    for fn in variants.values():  # warm up: fonts, character maps, imports
        fn()
    timings: Timings = {name: ([], []) for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            wall, cpu = time.perf_counter(), time.thread_time()
            fn()
            timings[name][1].append((time.thread_time() - cpu) * 1000)
            timings[name][0].append((time.perf_counter() - wall) * 1000)
    return timings


def wall(timings: Timings, name: str) -> float:
    return round(statistics.median(timings[name][0]), 2)


def cpu(timings: Timings, name: str) -> float:
    return round(statistics.median(timings[name][1]), 2)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def main(still_rounds: int, gif_rounds: int) -> dict[str, Any]:
    template = classic_template("One Does Not Simply")
    still, animation = still_bytes(), gif_bytes()
    decoded = load_background(still)
    still_plan = naive_plan(template, (800, 800), CAPTIONS)
    gif_plan = naive_plan(template, (480, 360), CAPTIONS)

    stills = measure(
        {
            "naive": lambda: naive_still(still, still_plan),
            "render": cold(lambda: render(template, still, CAPTIONS)),
            "render, layout cached": lambda: render(template, still, CAPTIONS),
            "render, background decoded": cold(lambda: render(template, decoded, CAPTIONS)),
            "preview": cold(lambda: render_preview(template, still, CAPTIONS)),
            "render, emoji + CJK": cold(lambda: render(template, still, UNICODE_CAPTIONS)),
        },
        still_rounds,
    )
    gifs = measure(
        {
            "naive": lambda: naive_gif(animation, gif_plan),
            "render": cold(lambda: render(template, animation, CAPTIONS)),
        },
        gif_rounds,
    )
    meme = render(template, animation, CAPTIONS)
    naive_size = len(naive_gif(animation, gif_plan))

    print(
        f"meme render, median of {still_rounds} rounds (still) and {gif_rounds} (GIF); "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, Pillow {Image.__version__}"
    )
    print(
        f"still: 800x800 JPEG q90 in and out, {len(still):,} bytes, two captions at "
        f"{still_plan[0]['font'].size} px; gif: 30 frames 480x360, {len(animation):,} bytes"
    )
    header = (
        f"{'workload':<9}{'variant':<28}{'median ms':>10}{'p90 ms':>9}{'vs naive':>9}"
        f"{'cpu ms':>9}{'vs naive':>9}"
    )
    print(header)
    print("-" * len(header))
    for workload, timings in (("still", stills), ("gif", gifs)):
        for name in timings:
            ratio = wall(timings, name) / wall(timings, "naive")
            cpu_ratio = cpu(timings, name) / cpu(timings, "naive")
            print(
                f"{workload:<9}{name:<28}{wall(timings, name):>10.2f}"
                f"{percentile(timings[name][0], 0.9):>9.2f}{ratio:>8.2f}x"
                f"{cpu(timings, name):>9.2f}{cpu_ratio:>8.2f}x"
            )
    still_median = wall(stills, "render")
    verdict = "meets" if still_median < TARGET_MS else "MISSES"
    print(f"target: still render under {TARGET_MS:g} ms: {verdict} ({still_median:.1f} ms)")
    print(
        f"gif output: {len(meme.data):,} bytes, {meme.frames} frames "
        f"(naive writer: {naive_size:,} bytes)"
    )
    return {
        "bench": "meme_render",
        "still_rounds": still_rounds,
        "gif_rounds": gif_rounds,
        "still_median_ms": still_median,
        "naive_still_median_ms": wall(stills, "naive"),
        "still_cpu_median_ms": cpu(stills, "render"),
        "naive_still_cpu_median_ms": cpu(stills, "naive"),
        "still_layout_cached_median_ms": wall(stills, "render, layout cached"),
        "still_background_decoded_median_ms": wall(stills, "render, background decoded"),
        "preview_median_ms": wall(stills, "preview"),
        "unicode_still_median_ms": wall(stills, "render, emoji + CJK"),
        "gif_median_ms": wall(gifs, "render"),
        "naive_gif_median_ms": wall(gifs, "naive"),
        "gif_cpu_median_ms": cpu(gifs, "render"),
        "naive_gif_cpu_median_ms": cpu(gifs, "naive"),
        "gif_bytes": len(meme.data),
        "naive_gif_bytes": naive_size,
        "still_font_px": still_plan[0]["font"].size,
        "target_ms": TARGET_MS,
        "meets_target": still_median < TARGET_MS,
    }


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.meme_render", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="30 still and 5 GIF rounds")
    args = parser.parse_args(argv)
    still_rounds, gif_rounds = (30, 5) if args.quick else (200, 20)
    print(json.dumps(main(still_rounds, gif_rounds)))


if __name__ == "__main__":
    cli()
