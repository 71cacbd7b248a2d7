"""Progress of a slow upload: shown only when slow, edited at most once a second, never
after the final answer. Driven by a fake clock: nothing sleeps."""

from __future__ import annotations

import asyncio

from bot.clock import FakeClock
from bot.discord.uploads import progress_text
from bot.uploads.progress import Progress, ProgressMeter

MB = 1024 * 1024


class Screen:
    """What the member would see: every report, in order."""

    def __init__(self) -> None:
        self.shown: list[Progress] = []
        self.hold: asyncio.Event | None = None

    async def report(self, progress: Progress) -> None:
        if self.hold is not None:
            await self.hold.wait()
        self.shown.append(progress)


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_a_quick_upload_shows_no_progress():
    clock, screen = FakeClock(), Screen()
    meter = ProgressMeter(screen.report, clock=clock, after_s=2, every_s=1)
    meter.expect("sending", 9 * MB, 1)
    moved = meter.tracker("sending", 0)
    for done in range(1, 10):
        clock.advance(0.1)
        moved(done * MB, 9 * MB)
    await meter.close()
    assert screen.shown == []


async def test_a_slow_upload_is_shown_after_a_while_and_at_most_once_a_second():
    clock, screen = FakeClock(), Screen()
    meter = ProgressMeter(screen.report, clock=clock, after_s=2, every_s=1)
    meter.expect("sending", 10 * MB, 1)
    moved = meter.tracker("sending", 0)
    for tenth in range(1, 41):  # a chunk every 0.1 s for 4 s
        clock.advance(0.1)
        moved(tenth * MB // 4, 10 * MB)
        await settle()
    await meter.close()
    assert [p.done for p in screen.shown] == [5 * MB, 15 * MB // 2, 10 * MB]  # at 2, 3 and 4 s
    assert {p.phase for p in screen.shown} == {"sending"}


async def test_files_add_up_and_a_restarted_transfer_is_not_counted_twice():
    clock, screen = FakeClock(), Screen()
    meter = ProgressMeter(screen.report, clock=clock, after_s=0, every_s=1)
    meter.expect("receiving", 6 * MB, 2)
    first, second = meter.tracker("receiving", 0), meter.tracker("receiving", 1)
    first(3 * MB, 3 * MB)
    second(2 * MB, 3 * MB)
    second(1 * MB, 3 * MB)  # started again from the beginning
    assert meter.snapshot() == Progress("receiving", 4 * MB, 6 * MB, 2)
    await meter.close()


async def test_no_report_starts_while_one_is_being_sent_and_close_waits_for_it():
    clock, screen = FakeClock(), Screen()
    screen.hold = asyncio.Event()
    meter = ProgressMeter(screen.report, clock=clock, after_s=0, every_s=1)
    meter.expect("sending", 4 * MB, 1)
    moved = meter.tracker("sending", 0)
    moved(1 * MB, 4 * MB)  # a report starts and hangs
    clock.advance(5)
    moved(2 * MB, 4 * MB)  # due, but the edit before it is still on its way
    closing = asyncio.ensure_future(meter.close())
    await settle()
    assert not closing.done()  # the final answer waits for the progress edit...
    screen.hold.set()
    await closing
    moved(4 * MB, 4 * MB)  # ...and nothing is shown after it
    await settle()
    assert [p.done for p in screen.shown] == [1 * MB]


async def test_a_failed_progress_edit_does_not_stop_the_upload():
    clock = FakeClock()

    async def broken(_progress: Progress) -> None:
        raise RuntimeError("Discord said no")

    meter = ProgressMeter(broken, clock=clock, after_s=0, every_s=1)
    meter.expect("sending", MB, 1)
    meter.tracker("sending", 0)(MB // 2, MB)
    await meter.close()
    assert meter.reports == 1


def test_progress_reads_as_sent_of_total():
    assert progress_text(Progress("sending", 4_718_592, 9 * MB, 1)) == (
        "Sending your file to Imgur… 4.5 MB of 9 MB (50%)"
    )
    assert progress_text(Progress("receiving", 512 * 1024, 2 * MB, 3)) == (
        "Receiving 3 files from Discord… 512 KB of 2 MB (25%)"
    )
    assert progress_text(Progress("receiving", 2048, 0, 1)) == (
        "Receiving your file from Discord… 2 KB so far"
    )
