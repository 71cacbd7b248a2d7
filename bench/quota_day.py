"""A day of realistic browsing replayed against the Imgur emulator, on a fake clock.

    python -m bench.quota_day [--quick] [--seed N]

The emulator, the quota ledger and the Imgur client share one ``FakeClock``; the emulator runs
in this process. The trace: browse commands from 200 guilds (a few dozen members each), each
command a query drawn Zipf-like (s = 1.1) from 500 distinct queries built from the emulator's
catalogue (front page variants, searches, tags, ``/imgur random`` with and without a tag,
items by id), at sorted uniform-random times over 24 h. The clock is moved to each command's
time and the command is served through ``ImgurAccess.acting_for(...)`` exactly as
``cogs/browse.py`` calls it.

Three days are run, each on a fresh emulator, store, ledger and client:

1. the normal day (20,000 commands, Imgur's 12,500 credits): credits spent per command, the
   floor for the trace (one call per distinct request key per TTL window, from the keys the
   service really asked for), the cache hit ratio, and the oldest fresh answer;
2. the overloaded day (3x the commands, a third of the budget in the ledger and the
   emulator): commands refused (``QuotaExceeded`` reached the caller), commands served stale,
   and 429s from the emulator;
3. the faulty day: the normal day with 5% of Imgur's answers spoiled by faults of every kind
   (an answer after the bot gave up, 5xx, over capacity, a 429 that says no limit is spent,
   dropped connections, broken and missing bodies and headers, HTML 404s, refused tokens):
   ``ledger_below_imgur`` counts the moments (after each command) when the ledger counted
   fewer credits than the emulator charged (it must be 0), the emulator's own 429s (0), and
   the share of commands refused beside the normal day's.

Prints a table and ends with one line of JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import SecretStr

from bot.access import ChargedImgur, ImgurAccess, build
from bot.browse import RandomPicker, resolve_item
from bot.clock import FakeClock
from bot.config import CacheSettings, ImgurSettings, LedgerSettings, Secrets, StoreSettings
from bot.errors import BadInput, QuotaExceeded
from bot.imgur import models, sansio
from bot.imgur.aiohttp_transport import aiohttp_client
from bot.imgur.client import Fetched, ImgurClient
from bot.imgur.errors import ImgurError
from bot.imgur.links import ImgurRef, parse_imgur_link
from bot.imgur.sansio import Request
from bot.ledger import Ledger
from bot.store import Store
from fakes.imgur.app import Emulator, EmulatorConfig

DAY_S = 86_400.0
GUILDS = 200
MEMBERS_PER_GUILD = 40
CHANNELS_PER_GUILD = 3
DISTINCT_QUERIES = 500
ZIPF_S = 1.1
NORMAL_COMMANDS = 20_000
DAILY_BUDGET = 12_500
CLIENT_ID = "bench-quota-day"
FAULT_SHARE = 0.05
# Every kind of fault the emulator has but a real spent limit (that one closes Imgur's day,
# which is no fault). ``latency`` answers after the bot has given up (0.3 s > 0.2 s).
FAULT_KINDS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("latency", {"seconds": 0.3}),
    ("error_500", {}),
    ("html_503", {}),
    ("over_capacity_403", {}),
    ("over_capacity_1203", {}),
    ("html_404", {}),
    ("token_invalid_403", {}),
    ("rate_limited_429", {}),
    ("truncated_json", {}),
    ("invalid_json", {}),
    ("empty_body", {}),
    ("connection_reset", {}),
    ("missing_rate_headers", {}),
    ("user_reset_epoch", {}),
    ("user_reset_relative", {}),
)

# How the 500 queries split between kinds (the rest are searches).
SHARE = {"frontpage": 0.10, "tag": 0.20, "random": 0.08, "item": 0.20}


# -- the queries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """One distinct browse command, as a member would type it."""

    command: str  # the cog command: frontpage | search | tag | random | item
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()

    def describe(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs]
        return f"/imgur {self.command} " + " ".join(parts)


async def run_query(
    query: Query, imgur: ChargedImgur, picker: RandomPicker, channel_id: int, nsfw_channel: bool
):
    """Ask Imgur the way ``cogs/browse.py`` does for this command."""
    kw = dict(query.kwargs)
    if query.command == "frontpage":
        section, sort, window = query.args
        return await imgur.get(build(sansio.gallery, section, sort, window, mature=nsfw_channel))
    if query.command == "search":
        (text,) = query.args
        words = {"q_all": text} if "q_type" in kw else {"q": text}
        return await imgur.get(build(sansio.gallery_search, **words, **kw))
    if query.command == "tag":
        name, sort, window = query.args
        return await imgur.get(build(sansio.gallery_tag, name, sort, window))
    if query.command == "random":
        return await picker.pick(imgur, channel_id, tag=kw.get("tag"), allow_nsfw=nsfw_channel)
    if query.command == "item":
        (link,) = query.args
        answer = await resolve_item(imgur, parse_imgur_link(link))
        media = answer.value
        if isinstance(media, models.Album) and media.images is None:
            await resolve_item(imgur, ImgurRef("album", media.id))
        return answer
    raise ValueError(query.command)


def build_queries(emu: Emulator, n: int, rng: random.Random) -> list[Query]:
    """``n`` distinct queries from the emulator's catalogue, in random popularity order."""
    cat = emu.data
    tags = sorted(cat.tags)
    words = sorted(
        {
            w.lower()
            for p in cat.posts
            for w in (p.title or "").split()
            if w.isalpha() and len(w) > 3
        }
    )
    wanted = {kind: round(n * share) for kind, share in SHARE.items()}

    frontpage = [
        Query("frontpage", (section, sort, window))
        for section in ("hot", "top", "user")
        for sort in ("viral", "top", "time")
        for window in ("day", "week", "month", "year", "all")
    ]
    rng.shuffle(frontpage)
    # The default front page first: it is what most people type.
    frontpage.insert(0, Query("frontpage", ("hot", "viral", "day")))
    frontpage = list(dict.fromkeys(frontpage))[: wanted["frontpage"]]

    tag_queries = [
        Query("tag", (tag, sort, window))
        for tag in tags
        for sort, window in (("viral", "week"), ("top", "week"), ("time", "week"), ("top", "all"))
    ]
    rng.shuffle(tag_queries)
    tag_queries = tag_queries[: wanted["tag"]]

    randoms = [Query("random")] + [Query("random", kwargs=(("tag", t),)) for t in tags]
    randoms = randoms[: wanted["random"]]

    posts = rng.sample(cat.posts, wanted["item"])
    items = [
        Query("item", (f"https://imgur.com/gallery/{p.id}" if i % 2 else p.id,))
        for i, p in enumerate(posts)
    ]

    searches: list[Query] = []
    seen: set[Query] = set()
    need = n - len(frontpage) - len(tag_queries) - len(randoms) - len(items)
    while len(searches) < need:
        roll = rng.random()
        if roll < 0.5:
            text = rng.choice(words)
        elif roll < 0.75:
            text = f"{rng.choice(words)} {rng.choice(words)}"
        elif roll < 0.9:
            text = f"tag:{rng.choice(tags)}"
        else:
            text = f"{rng.choice(words)} OR {rng.choice(words)}"
        kwargs: tuple[tuple[str, Any], ...] = ()
        extra = rng.random()
        if extra < 0.2:
            kwargs = (("sort", "top"), ("window", rng.choice(("week", "month", "all"))))
        elif extra < 0.3:
            kwargs = (("q_type", rng.choice(("gif", "png", "jpg"))),)
        query = Query("search", (text,), kwargs)
        if query not in seen:
            seen.add(query)
            searches.append(query)

    queries = frontpage + tag_queries + randoms + items + searches
    assert len(set(queries)) == n, "queries must be distinct"
    rng.shuffle(queries)
    return queries


@dataclass(frozen=True)
class Command:
    at: float  # seconds since the start of the day
    query: int  # index into the queries (0 = most popular)
    guild_id: int
    user_id: int
    channel_id: int
    nsfw: bool


def build_trace(count: int, n_queries: int, rng: random.Random) -> list[Command]:
    weights = [1.0 / (rank**ZIPF_S) for rank in range(1, n_queries + 1)]
    picks = rng.choices(range(n_queries), weights=weights, k=count)
    times = sorted(rng.uniform(0.0, DAY_S) for _ in range(count))
    trace = []
    for at, query in zip(times, picks, strict=True):
        guild = rng.randrange(GUILDS)
        channel = rng.randrange(CHANNELS_PER_GUILD)
        trace.append(
            Command(
                at=at,
                query=query,
                guild_id=10_000 + guild,
                user_id=1_000_000 + guild * MEMBERS_PER_GUILD + rng.randrange(MEMBERS_PER_GUILD),
                channel_id=500_000 + guild * CHANNELS_PER_GUILD + channel,
                nsfw=channel == 0 and guild % 4 == 0,  # a few age-restricted channels
            )
        )
    return trace


# -- watching the client -------------------------------------------------------------------


@dataclass
class Watch:
    """Every request key the service asked the client for, and how each was answered."""

    clock: FakeClock
    ttl_for: Callable[[str], float]
    asked: list[tuple[str, str, float]] = field(default_factory=list)  # (key, kind, t)
    fetches: int = 0
    hits: int = 0  # fresh cache answers
    stale: int = 0
    max_fresh_age_s: float = 0.0
    too_old: int = 0  # fresh answers older than their kind's TTL (must stay 0)
    kinds_this_command: list[str] = field(default_factory=list)

    def wrap(self, client: ImgurClient) -> None:
        original = client.fetch

        async def fetch(req: Request, **kwargs: Any) -> Fetched:
            if req.cache_key is not None:
                self.asked.append((req.cache_key, req.kind, self.clock.monotonic()))
                self.kinds_this_command.append(req.kind)
            fetched = await original(req, **kwargs)
            self.fetches += 1
            if fetched.stale:
                self.stale += 1
            elif fetched.from_cache:
                self.hits += 1
            if not fetched.stale:
                age = fetched.age_s(self.clock.now())
                self.max_fresh_age_s = max(self.max_fresh_age_s, age)
                if age > self.ttl_for(req.kind):
                    self.too_old += 1
            return fetched

        client.fetch = fetch  # type: ignore[method-assign]

    def floor_calls(self) -> int:
        """One call per key per TTL window: a new window when a request comes >= TTL after
        the current window opened."""
        windows = 0
        opened: dict[str, float] = {}
        for key, kind, t in self.asked:
            start = opened.get(key)
            if start is None or t - start >= self.ttl_for(kind):
                opened[key] = t
                windows += 1
        return windows


# -- one simulated day ---------------------------------------------------------------------


@dataclass
class DayResult:
    name: str
    commands: int
    budget: int
    wall_s: float
    api_calls: int
    credits: int
    emulator_429s: int
    floor_calls: int
    fetches: int
    hits: int
    stale_fetches: int
    served: int = 0
    served_stale: int = 0
    refused: int = 0
    refused_seen_before: int = 0  # refused although that query had been answered earlier
    errors: Counter = field(default_factory=Counter)
    max_fresh_age_s: float = 0.0
    too_old_answers: int = 0
    ledger_used: int = 0
    faults: int = 0  # faults injected
    ledger_below_imgur: int = 0  # moments the ledger counted fewer credits than Imgur
    ledger_minus_imgur: int = 0  # at the end of the day

    @property
    def refused_share(self) -> float:
        return self.refused / self.commands

    @property
    def credits_per_command(self) -> float:
        return self.credits / self.commands

    @property
    def floor_per_command(self) -> float:
        return self.floor_calls / self.commands

    @property
    def hit_ratio(self) -> float:
        return self.hits / self.fetches if self.fetches else 0.0


async def simulate_day(
    name: str,
    count: int,
    budget: int,
    seed: int,
    tmp: Path,
    progress: bool,
    fault_share: float = 0.0,
) -> DayResult:
    rng = random.Random(seed)
    clock = FakeClock()
    cache_settings = CacheSettings()
    imgur_settings = ImgurSettings(
        max_retries=1,
        backoff_base_s=0.01,
        backoff_max_s=0.02,
        max_connections=16,
        # With faults, the bot gives up on a slow answer before Imgur sends (and counts) it.
        total_timeout_s=0.2 if fault_share else ImgurSettings().total_timeout_s,
    )
    ledger_settings = LedgerSettings(daily_client_budget=budget)
    emu_config = EmulatorConfig(seed=seed, client_daily_limit=budget, clock=clock)
    secrets = Secrets(imgur_client_id=SecretStr(CLIENT_ID))
    db_path = tmp / f"{name}.db"

    async with Emulator(emu_config) as emu, aiohttp.ClientSession() as session:
        queries = build_queries(emu, DISTINCT_QUERIES, random.Random(seed + 1))
        trace = build_trace(count, len(queries), rng)
        store = await Store.open(StoreSettings(path=db_path))
        try:
            ledger = await Ledger.open(store, ledger_settings, clock=clock)
            client = aiohttp_client(
                session, imgur_settings, cache_settings, secrets, base_url=emu.base_url, clock=clock
            )
            client.add_listener(ledger.observe)
            watch = Watch(clock, client._cache.ttl_for)
            watch.wrap(client)
            access = ImgurAccess(client, ledger, clock=clock)
            picker = RandomPicker(random.Random(seed + 2))
            faults = Faults(emu, ledger, fault_share, random.Random(seed + 3))
            result = await _replay(
                name, trace, queries, access, picker, clock, watch, budget, progress, faults
            )
            await faults.settle()
            result.faults = faults.injected
            result.ledger_below_imgur = faults.below
            result.ledger_minus_imgur = ledger.book.total - emu.stats.credits_charged
            await ledger.flush()
            result.ledger_used = ledger.health().used_today
            await ledger.close()
            await client.close()
        finally:
            await store.close()
        result.api_calls = emu.stats.api_calls
        result.credits = emu.stats.credits_charged
        # The emulator's own 429s (a limit reached), not the ones injected as faults.
        injected = sum(emu.stats.faults_applied[k] for k in ("rate_limited_429",))
        result.emulator_429s = emu.stats.rate_limited - injected
    return result


class Faults:
    """Spoils about ``share`` of Imgur's answers, each with a fault of a random kind, and
    checks after every command that the ledger counts at least what Imgur charged."""

    def __init__(self, emu: Emulator, ledger: Ledger, share: float, rng: random.Random) -> None:
        self.emu = emu
        self.ledger = ledger
        self.share = share
        self.rng = rng
        self.injected = 0
        self.below = 0
        self._slow_seen = 0

    def before_command(self) -> None:
        if not self.share:
            return
        while self.injected < self.share * (self.emu.stats.requests + 1):
            kind, params = self.rng.choice(FAULT_KINDS)
            self.emu.faults.add(kind, path_prefix="/3/", times=1, **params)
            self.injected += 1

    async def after_command(self) -> None:
        if self.share and self.emu.stats.faults_applied["latency"] > self._slow_seen:
            # The fake clock moves a command's worth at once, but a call the bot gave up on
            # still takes Imgur real time to finish: let that time pass as it would.
            self._slow_seen = self.emu.stats.faults_applied["latency"]
            await asyncio.sleep(0.15)
        if self.ledger.book.total < self.emu.stats.credits_charged:
            self.below += 1

    async def settle(self) -> None:
        """Let the answers Imgur sends after the bot gave up arrive, checking throughout."""
        self.emu.faults.clear()
        for _ in range(10 if self.share else 0):
            await asyncio.sleep(0.05)
            await self.after_command()


async def _replay(
    name: str,
    trace: list[Command],
    queries: list[Query],
    access: ImgurAccess,
    picker: RandomPicker,
    clock: FakeClock,
    watch: Watch,
    budget: int,
    progress: bool,
    faults: Faults,
) -> DayResult:
    result = DayResult(name, len(trace), budget, 0.0, 0, 0, 0, 0, 0, 0, 0)
    # (query, age-restricted channel) pairs answered at least once: the same query asks
    # Imgur for a different listing in an NSFW channel (``mature``), so the pair is the unit.
    answered: set[tuple[int, bool]] = set()
    started = time.perf_counter()
    elapsed = 0.0
    step = max(1, len(trace) // 10)
    for i, cmd in enumerate(trace):
        clock.advance(cmd.at - elapsed)
        elapsed = cmd.at
        query = queries[cmd.query]
        imgur = access.acting_for(cmd.guild_id, cmd.user_id, query.command)
        watch.kinds_this_command.clear()
        faults.before_command()
        try:
            answer = await run_query(query, imgur, picker, cmd.channel_id, cmd.nsfw)
        except QuotaExceeded:
            result.refused += 1
            if (cmd.query, cmd.nsfw) in answered:
                result.refused_seen_before += 1
            continue
        except (ImgurError, BadInput) as exc:
            result.errors[type(exc).__name__] += 1
            continue
        finally:
            await faults.after_command()
        answered.add((cmd.query, cmd.nsfw))
        result.served += 1
        if answer.stale:
            result.served_stale += 1
        elif watch.kinds_this_command:
            ttl = min(watch.ttl_for(k) for k in watch.kinds_this_command)
            result.max_fresh_age_s = max(result.max_fresh_age_s, answer.age_s)
            if answer.age_s > ttl:
                result.too_old_answers += 1
        if progress and (i + 1) % step == 0:
            print(f"  {name}: {i + 1:,}/{len(trace):,} commands", file=sys.stderr, flush=True)
    result.wall_s = time.perf_counter() - started
    result.floor_calls = watch.floor_calls()
    result.fetches = watch.fetches
    result.hits = watch.hits
    result.stale_fetches = watch.stale
    result.too_old_answers += watch.too_old
    return result


# -- report ----------------------------------------------------------------------------------


def table(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.quota_day", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="an eighth of the commands")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--progress", action="store_true", help="print progress to stderr")
    args = parser.parse_args(argv)
    scale = 0.125 if args.quick else 1.0
    normal_count = int(NORMAL_COMMANDS * scale)
    # --quick: an eighth of the commands; the normal day keeps Imgur's whole budget (so
    # nothing is refused) and the overloaded day gets an eighth of a third of it.
    normal_budget = DAILY_BUDGET
    overload_budget = int(DAILY_BUDGET * scale) // 3

    async def days() -> tuple[DayResult, DayResult, DayResult]:
        with tempfile.TemporaryDirectory(prefix="bench-quota-day-") as tmp:
            normal = await simulate_day(
                "normal", normal_count, normal_budget, args.seed, Path(tmp), args.progress
            )
            overload = await simulate_day(
                "overload", normal_count * 3, overload_budget, args.seed, Path(tmp), args.progress
            )
            faulty = await simulate_day(
                "faulty",
                normal_count,
                normal_budget,
                args.seed,
                Path(tmp),
                args.progress,
                fault_share=FAULT_SHARE,
            )
        return normal, overload, faulty

    normal, overload, faulty = asyncio.run(days())

    print(
        f"quota_day{' (quick)' if args.quick else ''}: seed {args.seed}, {GUILDS} guilds, "
        f"{DISTINCT_QUERIES} distinct queries, Zipf s={ZIPF_S}, TTLs from CacheSettings()"
    )
    print()
    print(f"normal day: {normal.commands:,} commands, budget {normal.budget:,} credits")
    print(
        table(
            [
                ("Imgur API calls (emulator)", f"{normal.api_calls:,}"),
                ("credits spent (emulator)", f"{normal.credits:,}"),
                ("credits per command", f"{normal.credits_per_command:.3f}"),
                ("floor calls (key x TTL window)", f"{normal.floor_calls:,}"),
                ("floor credits per command", f"{normal.floor_per_command:.3f}"),
                ("ratio to floor", f"{normal.credits / max(1, normal.floor_calls):.3f}"),
                ("client fetches / fresh hits", f"{normal.fetches:,} / {normal.hits:,}"),
                ("cache hit ratio", f"{normal.hit_ratio:.3f}"),
                ("served / stale / refused", _srr(normal)),
                ("other errors", _errs(normal)),
                ("max age of a fresh answer (s)", f"{normal.max_fresh_age_s:.0f}"),
                ("fresh answers older than TTL", f"{normal.too_old_answers}"),
                ("429s from the emulator", f"{normal.emulator_429s}"),
                ("wall time (s)", f"{normal.wall_s:.1f}"),
            ]
        )
    )
    print()
    print(f"overloaded day: {overload.commands:,} commands, budget {overload.budget:,} credits")
    print(
        table(
            [
                ("credits spent (emulator)", f"{overload.credits:,}"),
                ("credits per command", f"{overload.credits_per_command:.3f}"),
                ("served / stale / refused", _srr(overload)),
                ("refused, query answered before", f"{overload.refused_seen_before:,}"),
                ("other errors", _errs(overload)),
                ("cache hit ratio", f"{overload.hit_ratio:.3f}"),
                ("fresh answers older than TTL", f"{overload.too_old_answers}"),
                ("429s from the emulator", f"{overload.emulator_429s}"),
                ("wall time (s)", f"{overload.wall_s:.1f}"),
            ]
        )
    )
    print()
    print(
        f"faulty day: {faulty.commands:,} commands, {faulty.faults:,} faults injected "
        f"({FAULT_SHARE:.0%} of Imgur's answers, every kind)"
    )
    print(
        table(
            [
                ("served / stale / refused", _srr(faulty)),
                (
                    "refused share (normal day)",
                    f"{faulty.refused_share:.2%} ({normal.refused_share:.2%})",
                ),
                ("other errors", _errs(faulty)),
                ("moments the ledger < Imgur", f"{faulty.ledger_below_imgur}"),
                ("ledger - Imgur at the end", f"{faulty.ledger_minus_imgur:+,}"),
                ("credits (emulator)", f"{faulty.credits:,}"),
                ("429s from the emulator", f"{faulty.emulator_429s}"),
                ("wall time (s)", f"{faulty.wall_s:.1f}"),
            ]
        )
    )
    figures = {
        "commands": normal.commands,
        "credits_per_command": round(normal.credits_per_command, 4),
        "floor_credits_per_command": round(normal.floor_per_command, 4),
        "ratio_to_floor": round(normal.credits / max(1, normal.floor_calls), 4),
        "cache_hit_ratio": round(normal.hit_ratio, 4),
        "max_fresh_age_s": round(normal.max_fresh_age_s, 1),
        "fresh_older_than_ttl": normal.too_old_answers,
        "normal_refused": normal.refused,
        "normal_emulator_429s": normal.emulator_429s,
        "overload_commands": overload.commands,
        "overload_budget": overload.budget,
        "overload_credits": overload.credits,
        "overload_refused": overload.refused,
        "overload_refused_seen_before": overload.refused_seen_before,
        "overload_served_stale": overload.served_stale,
        "emulator_429s": normal.emulator_429s + overload.emulator_429s,
        "wall_s": round(normal.wall_s + overload.wall_s, 1),
        "faulty_commands": faulty.commands,
        "faulty_faults_injected": faulty.faults,
        "ledger_below_imgur": faulty.ledger_below_imgur,
        "faulty_ledger_minus_imgur": faulty.ledger_minus_imgur,
        "faulty_emulator_429s": faulty.emulator_429s,
        "normal_refused_share": round(normal.refused_share, 4),
        "faulty_refused_share": round(faulty.refused_share, 4),
        "faulty_refused": faulty.refused,
        "faulty_served_stale": faulty.served_stale,
        "faulty_errors": sum(faulty.errors.values()),
        "faulty_wall_s": round(faulty.wall_s, 1),
    }
    print(json.dumps(figures))


def _srr(r: DayResult) -> str:
    return f"{r.served:,} / {r.served_stale:,} / {r.refused:,}"


def _errs(r: DayResult) -> str:
    return ", ".join(f"{k} {v}" for k, v in r.errors.items()) or "none"


if __name__ == "__main__":
    main()
