"""A property of the ledger against the Imgur emulator under random faults.

Whatever Imgur does (answers late, after the bot gave up; fails with 5xx or over capacity;
answers 429 with or without saying a limit is spent; drops the connection; spoils a body;
leaves out its headers), at every point the ledger counts at least the credits Imgur
counted, and after a quiet period longer than ``reconcile_after_s`` followed by one
successful call, it counts exactly what Imgur counted: everything Imgur never counted has
been given back, and nothing it did count.

Real sockets and real (short) waits: the emulator must be able to finish a call the client
stopped waiting for, exactly as Imgur can. The ledger and the emulator share a clock that
moves a second per step and an hour in the quiet period (the grace passes, and the limits a
429 said were spent lift).
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from bot.clock import FakeClock
from bot.config import CacheSettings, ImgurSettings, LedgerSettings, Secrets, StoreSettings
from bot.errors import QuotaExceeded
from bot.imgur import sansio
from bot.imgur.aiohttp_transport import aiohttp_client
from bot.imgur.errors import ImgurError
from bot.ledger import Ledger
from bot.store import Store
from fakes.imgur import Emulator, EmulatorConfig

TIMEOUT_S = 0.2
GRACE_S = 30.0  # on the shared clock, which moves 1 s a step
FAULTS = [
    ("latency", {"seconds": 0.35}),  # answered (and counted) after the bot gave up
    ("error_500", {}),
    ("html_503", {}),
    ("over_capacity_403", {}),
    ("over_capacity_1203", {}),
    ("rate_limited_429", {}),  # no header says a limit is spent
    ("rate_limited_429_spent", {"scope": "user"}),  # the per-IP limit, said by the headers
    ("connection_reset", {}),
    ("truncated_json", {}),
    ("empty_body", {}),
    ("missing_rate_headers", {}),
    ("html_404", {}),
]
PATHS = ["/3/gallery/hot", "/3/gallery/search", "/3/gallery/t/", "/3/image/"]

steps = st.lists(
    st.tuples(
        st.sampled_from(range(len(FAULTS))),
        st.sampled_from(PATHS),
        st.integers(min_value=1, max_value=3),  # how many answers the fault spoils
        st.integers(min_value=1, max_value=4),  # how many calls go out at once
    ),
    min_size=3,
    max_size=8,
)


def requests_for(step: int, n: int, image_ids: list[str], tags: list[str]) -> list:
    """Distinct calls (nothing served from the cache), a mix of what the bot asks."""
    made = []
    for i in range(n):
        key = step * 10 + i
        made.append(
            [
                sansio.gallery("hot", "viral", "day", key),
                sansio.gallery_search(f"cat {key}"),
                sansio.gallery_tag(tags[key % len(tags)], "viral", "week", key),
                sansio.image(image_ids[key % len(image_ids)]),
            ][key % 4]
        )
    return made


async def scenario(plan: list[tuple[int, str, int, int]]) -> None:
    clock = FakeClock(datetime(2026, 3, 10, 12, tzinfo=UTC))
    config = EmulatorConfig(seed=3, item_count=200, user_hourly_limit=100_000, clock=clock)
    with tempfile.TemporaryDirectory() as tmp:
        async with Emulator(config) as emu:
            store = await Store.open(StoreSettings(path=Path(tmp) / "ledger.db"))
            settings = LedgerSettings(
                reconcile_after_s=GRACE_S,
                slowdown_base_s=0.5,
                slowdown_max_s=0.5,
                user_burst_per_minute=10_000,
            )
            ledger = await Ledger.open(store, settings, clock=clock)
            client = aiohttp_client(
                None,
                ImgurSettings(
                    total_timeout_s=TIMEOUT_S,
                    max_retries=2,
                    backoff_base_s=0.01,
                    backoff_max_s=0.02,
                ),
                CacheSettings(enabled=False),
                Secrets(imgur_client_id=SecretStr("property-client")),
                base_url=emu.base_url,
                clock=clock,
            )
            client.add_listener(ledger.observe)
            gate = ledger.gate(1, 1, "property")
            image_ids = [p.id for p in emu.data.posts[:20]]
            tags = sorted(emu.data.tags)[:10]

            def check() -> None:
                assert ledger.book.total >= emu.stats.credits_charged, (
                    f"the ledger counts {ledger.book.total}, Imgur {emu.stats.credits_charged}"
                )

            async def call(request) -> None:
                try:
                    await client.get(request, gate=gate)
                except (ImgurError, QuotaExceeded):
                    pass
                check()

            try:
                for number, (fault, prefix, times, n) in enumerate(plan):
                    kind, params = FAULTS[fault]
                    emu.faults.add(kind, path_prefix=prefix, times=times, **params)
                    await asyncio.gather(
                        *(call(r) for r in requests_for(number, n, image_ids, tags))
                    )
                    check()
                    clock.advance(1)
                emu.faults.clear()
                # The quiet period: Imgur finishes the calls the bot gave up on (checked all
                # along), then the grace passes and the limits 429s said were spent lift.
                for _ in range(10):
                    await asyncio.sleep(0.05)
                    check()
                clock.advance(3700)
                await call(sansio.gallery_search("after the storm"))
                await ledger.flush()
                assert ledger.book.total == emu.stats.credits_charged
            finally:
                await client.close()
                await ledger.close()
                await store.close()


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    # No shrinking: each example runs servers for seconds; a failure prints its plan.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(plan=steps)
def test_the_ledger_never_counts_less_than_imgur_and_settles_to_its_count(plan) -> None:
    asyncio.run(scenario(plan))
