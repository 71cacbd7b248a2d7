"""When a feed runs: schedules in words or cron, in a time zone, and the slot maths.

A schedule is written one of three ways; ``parse_schedule`` turns it into an APScheduler 3.11
trigger in the feed's ``zoneinfo`` time zone and a canonical text (what the feeds table keeps):

- a time on some days: ``daily 09:00``, ``weekdays 18:30``, ``weekends 10:00``,
  ``mon,wed,fri 7:15``, ``daily 9am``;
- an interval: ``every 6h``, ``every 90m``, ``hourly``. One that divides a day is laid on
  the local clock (every 6h runs at 00:00, 06:00, 12:00 and 18:00 local time); any other
  counts from a fixed origin (local midnight, 1 January 2024), so that every process
  computes the same run times;
- a five-field cron expression (minute hour day-of-month month day-of-week) with cron's own
  weekday numbers, 0 or 7 being Sunday. APScheduler 3 counts weekdays from Monday, so they
  are translated to names before it sees them.

A run time is a whole second, handled in UTC, and it names a slot: two processes reading the
same feed compute the same slots (``bot.highlights.feeds`` claims them). Daylight saving: a
time that does not exist (02:30 on the night clocks go forward) runs an hour later that day;
a time that happens twice (01:30 on the night they go back) runs once, except in schedules
that run every hour anyway, where both hours are real hours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo, available_timezones

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.discord.replies import echo
from bot.errors import BadInput

EXAMPLES = "`daily 09:00`, `every 6h`, `weekdays 18:30`, or a cron line such as `30 8 * * 1-5`"
# Triggers answer "the first run at or after"; a microsecond later makes it "strictly after"
# (run times are whole seconds).
_TICK = timedelta(microseconds=1)
# Where intervals that do not divide a day start counting, in the feed's local time.
_INTERVAL_ORIGIN = datetime(2024, 1, 1)
_LONGEST_INTERVAL = timedelta(days=7)
# Bounds on loops over run times (a long grace window over an hourly feed, a cron line that
# lists every minute of the doubled hour): far above anything a valid schedule needs.
_MAX_STEPS = 2000

_WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # APScheduler's order
_CRON_WEEK = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # cron's numbers 0-6
_DAY_GROUPS = {
    "daily": _WEEK,
    "everyday": _WEEK,
    "weekdays": _WEEK[:5],
    "weekends": _WEEK[5:],
}
_TIME = re.compile(r"(?:at\s+)?(\d{1,2})(?::(\d{2}))?\s*(am|pm)?")
_INTERVAL = re.compile(r"every\s+(\d{1,4})\s*(m|min|mins|minutes?|h|hr|hrs|hours?)")


class BadSchedule(BadInput):
    """A schedule or time zone that cannot be used; the message says why, with examples."""


@dataclass(frozen=True, eq=False)
class Schedule:
    """A parsed schedule: ``text`` (canonical), its time zone and the APScheduler trigger."""

    text: str
    zone: ZoneInfo
    trigger: BaseTrigger
    # Whether both passes of a doubled hour run (hourly schedules), or only the first.
    runs_twice_in_doubled_hour: bool

    def next_after(self, moment: datetime) -> datetime | None:
        """The first run strictly after ``moment`` (aware), in UTC; None if it never runs."""
        # Arithmetic in UTC: a local time plus a microsecond is wall-clock arithmetic, which
        # forgets which pass of a doubled hour it was in.
        probe = moment.astimezone(UTC)
        for _ in range(_MAX_STEPS):
            fire = self.trigger.get_next_fire_time(None, probe + _TICK)
            if fire is None:
                return None
            if fire.fold and not self.runs_twice_in_doubled_hour:
                probe = fire.astimezone(UTC)  # the doubled hour's second pass: already ran
                continue
            return fire.astimezone(UTC)
        return None

    def runs_after(self, moment: datetime, count: int) -> list[datetime]:
        """The next ``count`` runs strictly after ``moment``, in UTC."""
        runs: list[datetime] = []
        probe: datetime | None = moment
        while len(runs) < count and probe is not None:
            probe = self.next_after(probe)
            if probe is not None:
                runs.append(probe)
        return runs


@dataclass(frozen=True, slots=True)
class Due:
    """What a feed owes at ``now``: the run to post (``slot``, None if all due runs are
    too late), the first run that will not be posted (``missed_from``), and the next run."""

    slot: datetime | None
    missed_from: datetime | None
    next_run: datetime | None


def due_run(schedule: Schedule, watermark: datetime, now: datetime, grace: timedelta) -> Due | None:
    """The runs in (``watermark``, ``now``]: the latest of them that is at most ``grace``
    late is the slot to post now (several runs missed while the bot was down are posted
    once); the others are missed. None when no run fell in that span."""
    first = schedule.next_after(watermark)
    if first is None or first > now:
        return None
    probe = max(watermark, now - grace - _TICK)
    slot = None
    for _ in range(_MAX_STEPS):
        fire = schedule.next_after(probe)
        if fire is None or fire > now:
            break
        slot = probe = fire
    missed_from = first if first != slot else None
    return Due(slot, missed_from, schedule.next_after(now))


def check_spacing(schedule: Schedule, min_gap: timedelta, *, after: datetime) -> None:
    """Refuse a schedule that never runs, or runs more often than every ``min_gap``."""
    runs = schedule.runs_after(after, 50)
    if not runs:
        raise BadSchedule(f"`{schedule.text}` never runs. Try {EXAMPLES}.")
    for earlier, later in pairwise(runs):
        if later - earlier < min_gap:
            raise BadSchedule(
                f"`{schedule.text}` runs {_span(later - earlier)} apart; a feed runs at most "
                f"once every {_span(min_gap)}. Try {EXAMPLES}."
            )


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' * (hours != 1)}"
    return f"{minutes} minute{'s' * (minutes != 1)}"


# -- time zones ------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def zone_names() -> tuple[str, ...]:
    """Every IANA zone name offered (not the ``posix/``/``right/`` copies or oddities)."""
    names = {
        n
        for n in available_timezones()
        if ("/" in n and not n.startswith(("posix/", "right/", "Etc/"))) or n == "UTC"
    }
    return tuple(sorted(names))


@lru_cache(maxsize=1)
def _zones_by_folded_name() -> dict[str, str]:
    """Full names, and city names that only one zone has ("paris", "new_york")."""
    by_city: dict[str, list[str]] = {}
    for name in zone_names():
        by_city.setdefault(name.rsplit("/", 1)[-1].casefold(), []).append(name)
    known = {city: names[0] for city, names in by_city.items() if len(names) == 1}
    known.update({name.casefold(): name for name in zone_names()})
    known.update(gmt="UTC", z="UTC")
    return known


def zone_named(name: str) -> ZoneInfo:
    """The zone called ``name`` (any case, spaces for underscores, or a city only one zone
    is named after), or a clear refusal."""
    wanted = "_".join(name.strip().split()).casefold()
    found = _zones_by_folded_name().get(wanted)
    if not found:
        hint = suggest_zones(name, 3)
        maybe = f" Did you mean {', '.join(hint)}?" if hint else ""
        raise BadSchedule(
            f"“{echo(name, 60)}” isn't a time zone I know.{maybe} Use an IANA name such as "
            "`Europe/Paris` or `America/New_York` (start typing for suggestions)."
        )
    return ZoneInfo(found)


def suggest_zones(current: str, limit: int = 25) -> list[str]:
    """Zone names for autocomplete: those starting with what was typed (or whose city
    does), then those containing it."""
    needle = "_".join(current.strip().split()).casefold()
    names = zone_names()
    if not needle:
        return list(names[:limit])
    starts = [n for n in names if n.casefold().startswith(needle)]
    cities = [n for n in names if n.rsplit("/", 1)[-1].casefold().startswith(needle)]
    contains = [n for n in names if needle in n.casefold()]
    ordered = dict.fromkeys([*starts, *cities, *contains])
    return list(ordered)[:limit]


# -- parsing ---------------------------------------------------------------------------------


def parse_schedule(text: str, zone: ZoneInfo | str) -> Schedule:
    """Read a schedule as a member wrote it; ``BadSchedule`` (with examples) if it can't be."""
    if isinstance(zone, str):
        zone = zone_named(zone)
    words = " ".join(text.strip().lower().split())
    if not words:
        raise BadSchedule(f"Give a schedule, such as {EXAMPLES}.")
    fields = words.split(" ")
    if len(fields) == 5 and not _INTERVAL.fullmatch(words):
        return _cron(fields, zone)
    if words == "hourly":
        words = "every 1h"
    if interval := _INTERVAL.fullmatch(words):
        minutes = int(interval.group(1)) * (60 if interval.group(2).startswith("h") else 1)
        return _every(minutes, zone)
    days, _, when = words.partition(" ")
    if days == "every" and when.startswith("day "):
        days, when = "daily", when[4:]
    return _at_time(days, when, zone, original=text)


@lru_cache(maxsize=4096)
def stored_schedule(text: str, zone_name: str) -> Schedule:
    """A schedule read back from the feeds table (parsed once per text and zone)."""
    return parse_schedule(text, ZoneInfo(zone_name))


def _unknown(text: str) -> BadSchedule:
    return BadSchedule(f"“{echo(text, 60)}” isn't a schedule I can read. Try {EXAMPLES}.")


def _at_time(days_text: str, time_text: str, zone: ZoneInfo, *, original: str) -> Schedule:
    days = _DAY_GROUPS.get(days_text) or _day_list(days_text)
    moment = _TIME.fullmatch(time_text)
    if days is None or moment is None:
        raise _unknown(original)
    hour, minute, half = int(moment.group(1)), int(moment.group(2) or 0), moment.group(3)
    if moment.group(2) is None and half is None:
        raise _unknown(original)  # "daily 9" could be 9:00 or 21:00
    if half:
        if not 1 <= hour <= 12:
            raise BadSchedule(f"{hour}{half} isn't a time: with am/pm the hour is 1 to 12.")
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        raise BadSchedule(f"{hour}:{minute:02d} isn't a time of day (00:00 to 23:59).")
    label = next((g for g in ("daily", "weekdays", "weekends") if _DAY_GROUPS[g] == days), None)
    label = label or ",".join(days)
    trigger = CronTrigger(
        day_of_week="*" if days == _WEEK else ",".join(days),
        hour=hour,
        minute=minute,
        timezone=zone,
    )
    return Schedule(f"{label} {hour:02d}:{minute:02d}", zone, trigger, False)


def _day_list(text: str) -> tuple[str, ...] | None:
    """``mon,wed,fri`` or ``mondays`` (full names, plurals and 3-letter forms) in week order."""
    found: set[str] = set()
    for word in filter(None, text.split(",")):
        word = word.removesuffix("s") if len(word) > 3 else word
        day = next((d for d in _WEEK if len(word) >= 3 and _full(d).startswith(word)), None)
        if day is None:
            return None
        found.add(day)
    return tuple(d for d in _WEEK if d in found) or None


def _full(day: str) -> str:
    return {"tue": "tuesday", "wed": "wednesday", "thu": "thursday", "sat": "saturday"}.get(
        day, f"{day}day"
    )


def _every(minutes: int, zone: ZoneInfo) -> Schedule:
    if minutes <= 0:
        raise BadSchedule(f"An interval must be longer than zero. Try {EXAMPLES}.")
    if timedelta(minutes=minutes) > _LONGEST_INTERVAL:
        raise BadSchedule(
            "The longest interval is a week (`every 168h`); for less often, use a cron line "
            "such as `0 9 1 * *` (the 1st of every month at 09:00)."
        )
    label = f"every {minutes // 60}h" if minutes % 60 == 0 else f"every {minutes}m"
    if minutes % 60 == 0 and 24 % (minutes // 60) == 0:
        trigger: BaseTrigger = CronTrigger(hour=f"*/{minutes // 60}", minute=0, timezone=zone)
    elif minutes < 60 and 60 % minutes == 0:
        trigger = CronTrigger(minute=f"*/{minutes}", timezone=zone)
    else:
        origin = _INTERVAL_ORIGIN.replace(tzinfo=zone)
        trigger = IntervalTrigger(minutes=minutes, start_date=origin, timezone=zone)
    return Schedule(label, zone, trigger, True)


def _cron(fields: list[str], zone: ZoneInfo) -> Schedule:
    minute, hour, day, month, weekday = fields
    line = " ".join(fields)
    if day not in ("*", "?") and weekday not in ("*", "?"):
        raise BadSchedule(
            f"“{echo(line)}” gives both a day of the month and days of the week; give one of "
            "them and `*` for the other (cron would run on either, which surprises people)."
        )
    try:
        trigger = CronTrigger(
            minute=minute,
            hour=hour,
            day="*" if day == "?" else day,
            month=month,
            day_of_week=_cron_weekdays(weekday),
            timezone=zone,
        )
    except ValueError as exc:
        raise BadSchedule(
            f"“{echo(line)}” isn't a cron line I can read ({exc}). The five fields are minute, "
            f"hour, day of month, month and day of week (0 or 7 = Sunday). Try {EXAMPLES}."
        ) from None
    return Schedule(line, zone, trigger, hour.startswith("*"))


def _cron_weekdays(field: str) -> str:
    """Cron's day-of-week field as APScheduler 3 names (cron: 0 and 7 are Sunday)."""
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        step = _weekday_step(step_text, field)
        if span == "*":
            first, last = 0, 6
        else:
            low, dash, high = span.partition("-")
            first = _weekday_number(low)
            # "1-7" is Monday to Sunday; "1/2" is every other day from Monday on.
            last = _weekday_number(high) if dash else (6 if step_text else first)
            if last < first:
                raise BadSchedule(f"In “{echo(field)}”, a range of days must go forward.")
        days.update(d % 7 for d in range(first, last + 1, step))
    if len(days) == 7:
        return "*"
    # In APScheduler's week order (Monday first), by name so no number is misread.
    return ",".join(d for d in _WEEK if _CRON_WEEK.index(d) in days)


def _weekday_number(text: str) -> int:
    word = text.strip().lower()
    if word.isdigit() and 0 <= int(word) <= 7:
        return int(word)
    if word[:3] in _CRON_WEEK and len(word) >= 3:
        return _CRON_WEEK.index(word[:3])
    raise BadSchedule(
        f"“{echo(text)}” isn't a day of the week: use 0-7 (0 and 7 are "
        "Sunday) or sun, mon, tue, wed, thu, fri, sat."
    )


def _weekday_step(text: str, field: str) -> int:
    if not text:
        return 1
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise BadSchedule(f"In “{echo(field)}”, “/{echo(text)}” isn't a step (a whole number).")
