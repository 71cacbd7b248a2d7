"""Schedules as admins write them, their run times across daylight saving, and slot maths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from bot.highlights.schedule import (
    BadSchedule,
    check_spacing,
    due_run,
    parse_schedule,
    suggest_zones,
    zone_named,
)

HOUR = timedelta(hours=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def runs(text: str, zone: str, after: datetime, count: int = 3) -> list[datetime]:
    return parse_schedule(text, zone).runs_after(after, count)


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("daily 09:00", "daily 09:00"),
        ("Daily 9:00", "daily 09:00"),
        ("every day at 9am", "daily 09:00"),
        ("weekdays 18:30", "weekdays 18:30"),
        ("weekends 10:15", "weekends 10:15"),
        ("mondays 7pm", "mon 19:00"),
        ("fri,mon,wednesday 07:05", "mon,wed,fri 07:05"),
        ("every 6h", "every 6h"),
        ("every 6 hours", "every 6h"),
        ("every 120m", "every 2h"),
        ("every 90 minutes", "every 90m"),
        ("hourly", "every 1h"),
        ("30  8 * *   1-5", "30 8 * * 1-5"),
    ],
)
def test_schedules_are_read_and_stored_in_one_spelling(written, canonical):
    assert parse_schedule(written, "UTC").text == canonical


@pytest.mark.parametrize(
    ("written", "words"),
    [
        ("sometimes", "isn't a schedule I can read"),
        ("daily 9", "isn't a schedule I can read"),  # 9:00 or 21:00?
        ("daily 24:00", "isn't a time of day"),
        ("daily 13pm", "the hour is 1 to 12"),
        ("every 0h", "longer than zero"),
        ("every 200h", "longest interval is a week"),
        ("61 * * * *", "isn't a cron line I can read"),
        ("0 9 * * 8", "isn't a day of the week"),
        ("0 9 * * 5-1", "must go forward"),
        ("0 9 1 * 1", "both a day of the month and days of the week"),
        ("", "Give a schedule"),
    ],
)
def test_a_bad_schedule_says_why_and_shows_examples(written, words):
    with pytest.raises(BadSchedule) as caught:
        parse_schedule(written, "UTC")
    message = str(caught.value)
    assert words in message
    if "isn't a schedule" in words or "cron line" in words:
        assert "`daily 09:00`" in message and "`every 6h`" in message


def test_cron_weekdays_count_from_sunday_as_cron_does():
    # APScheduler 3 alone would read 1-5 as Tuesday to Saturday.
    weekdays = runs("30 8 * * 1-5", "UTC", utc(2026, 3, 6, 12), 3)  # from Friday noon
    assert [r.strftime("%a") for r in weekdays] == ["Mon", "Tue", "Wed"]
    assert {r.strftime("%a") for r in runs("0 9 * * 0", "UTC", utc(2026, 3, 1), 4)} == {"Sun"}
    assert {r.strftime("%a") for r in runs("0 9 * * 7", "UTC", utc(2026, 3, 1), 4)} == {"Sun"}
    assert {r.strftime("%a") for r in runs("0 9 * * sat,sun", "UTC", utc(2026, 3, 1), 4)} == {
        "Sat",
        "Sun",
    }


def test_weekdays_skip_the_weekend():
    after = utc(2026, 3, 6, 19)  # Friday evening, past 18:30
    assert runs("weekdays 18:30", "UTC", after, 2) == [
        utc(2026, 3, 9, 18, 30),
        utc(2026, 3, 10, 18, 30),
    ]


@pytest.mark.parametrize(
    ("zone", "before", "after"),
    [
        # New York: EST (UTC-5) until 8 March 2026, EDT (UTC-4) until 1 November.
        ("America/New_York", utc(2026, 3, 7, 14), utc(2026, 3, 8, 13)),
        ("America/New_York", utc(2026, 10, 31, 13), utc(2026, 11, 1, 14)),
        # Berlin: CET (UTC+1) until 29 March 2026, CEST (UTC+2) until 25 October.
        ("Europe/Berlin", utc(2026, 3, 28, 8), utc(2026, 3, 29, 7)),
        ("Europe/Berlin", utc(2026, 10, 24, 7), utc(2026, 10, 25, 8)),
    ],
)
def test_a_daily_time_stays_on_the_local_clock_when_clocks_change(zone, before, after):
    assert runs("daily 09:00", zone, before - HOUR, 2) == [before, after]


@pytest.mark.parametrize(
    ("zone", "night", "missing_time_runs_at"),
    [
        ("America/New_York", utc(2026, 3, 8), utc(2026, 3, 8, 7, 30)),  # 03:30 EDT
        ("Europe/Berlin", utc(2026, 3, 28, 12), utc(2026, 3, 29, 1, 30)),  # 03:30 CEST
    ],
)
def test_a_time_that_does_not_exist_runs_an_hour_later_that_day(zone, night, missing_time_runs_at):
    first, second = runs("daily 02:30", zone, night, 2)
    assert first == missing_time_runs_at
    assert second - first == timedelta(hours=23)  # back on the local clock the next day


@pytest.mark.parametrize(
    ("zone", "night"),
    [("America/New_York", utc(2026, 11, 1)), ("Europe/Berlin", utc(2026, 10, 24, 20))],
)
def test_a_time_that_happens_twice_runs_once(zone, night):
    first, second = runs("daily 01:30", zone, night, 2)
    assert second - first == timedelta(hours=25)  # not again an hour later


def test_hourly_runs_both_passes_of_the_doubled_hour():
    hourly = runs("hourly", "America/New_York", utc(2026, 11, 1, 4, 30), 3)
    # 01:00 EDT, 01:00 EST, 02:00 EST: three real hours.
    assert hourly == [utc(2026, 11, 1, 5), utc(2026, 11, 1, 6), utc(2026, 11, 1, 7)]


def test_every_six_hours_is_laid_on_the_local_clock_across_daylight_saving():
    local = zone_named("Europe/Berlin")
    times = runs("every 6h", "Europe/Berlin", utc(2026, 3, 28, 12), 6)
    assert [t.astimezone(local).hour for t in times] == [18, 0, 6, 12, 18, 0]
    assert times[2] - times[1] == timedelta(hours=5)  # the short night


def test_intervals_that_do_not_divide_a_day_agree_between_processes():
    # Each process parses the stored text itself: the run times must be the same.
    one = parse_schedule("every 5h", "Asia/Tokyo").runs_after(utc(2026, 5, 5, 5, 5), 4)
    two = parse_schedule("every 5h", "Asia/Tokyo").runs_after(utc(2026, 5, 5, 5, 5), 4)
    assert one == two
    assert {b - a for a, b in pairwise(one)} == {timedelta(hours=5)}
    assert all(t.second == 0 and t.microsecond == 0 for t in one)


def test_run_times_are_whole_seconds_in_utc():
    for text in ("daily 09:00", "every 90m", "15 */2 * * *"):
        for run in runs(text, "Australia/Adelaide", utc(2026, 4, 4, 10, 0, 0), 5):
            assert run.tzinfo is UTC and run.microsecond == 0


def test_spacing_refuses_schedules_that_run_too_often_or_never():
    start = utc(2026, 1, 1)
    with pytest.raises(
        BadSchedule, match=r"10 minutes apart; a feed runs at most once every 1 hour"
    ):
        check_spacing(parse_schedule("*/10 * * * *", "UTC"), HOUR, after=start)
    with pytest.raises(BadSchedule, match="never runs"):
        check_spacing(parse_schedule("0 0 31 2 *", "UTC"), HOUR, after=start)
    check_spacing(parse_schedule("hourly", "America/New_York"), HOUR, after=utc(2026, 11, 1))


# -- slot maths --------------------------------------------------------------------------------

DAILY = parse_schedule("daily 09:00", "UTC")
GRACE = HOUR


def test_nothing_is_due_before_the_next_run():
    assert due_run(DAILY, utc(2026, 3, 1, 9), utc(2026, 3, 2, 8, 59), GRACE) is None


def test_a_run_is_due_from_its_time_on():
    due = due_run(DAILY, utc(2026, 3, 1, 9), utc(2026, 3, 2, 9), GRACE)
    assert due.slot == utc(2026, 3, 2, 9)
    assert due.missed_from is None
    assert due.next_run == utc(2026, 3, 3, 9)


def test_a_run_missed_within_the_grace_window_is_still_due_once():
    due = due_run(DAILY, utc(2026, 3, 1, 9), utc(2026, 3, 2, 10), GRACE)  # exactly an hour late
    assert due.slot == utc(2026, 3, 2, 9) and due.missed_from is None


def test_a_run_missed_beyond_the_grace_window_is_skipped():
    due = due_run(DAILY, utc(2026, 3, 1, 9), utc(2026, 3, 2, 10, 0, 1), GRACE)
    assert due.slot is None
    assert due.missed_from == utc(2026, 3, 2, 9)
    assert due.next_run == utc(2026, 3, 3, 9)


def test_several_runs_missed_become_one_post_of_the_latest():
    hourly = parse_schedule("hourly", "UTC")
    due = due_run(hourly, utc(2026, 3, 2, 6), utc(2026, 3, 2, 9, 30), timedelta(hours=2))
    assert due.slot == utc(2026, 3, 2, 9)
    assert due.missed_from == utc(2026, 3, 2, 7)


# -- time zones --------------------------------------------------------------------------------


def test_time_zones_by_iana_name_in_any_case_or_by_a_unique_city():
    assert zone_named("europe/paris").key == "Europe/Paris"
    assert zone_named("America/New York").key == "America/New_York"
    assert zone_named("Tokyo").key == "Asia/Tokyo"
    assert zone_named("utc").key == "UTC"


def test_an_unknown_time_zone_is_refused_with_suggestions():
    with pytest.raises(BadSchedule, match=r"isn't a time zone I know\. Did you mean Europe/Paris"):
        zone_named("Europe/Pari")
    with pytest.raises(BadSchedule, match="isn't a time zone"):
        zone_named("../../etc/passwd")


def test_time_zone_suggestions_start_with_what_was_typed():
    assert suggest_zones("europe/par")[0] == "Europe/Paris"
    assert "America/New_York" in suggest_zones("new")
    assert len(suggest_zones("")) == 25
