"""The emulator's credit accounting, driven by a FakeClock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.clock import FakeClock
from fakes.imgur.accounting import Accounting, Caller
from fakes.imgur.config import EmulatorConfig

ME = Caller("client", "10.0.0.1")


@pytest.fixture
def clock():
    return FakeClock(datetime(2026, 5, 1, 12, 0, tzinfo=UTC))


def accounting(clock, **limits) -> Accounting:
    return Accounting(EmulatorConfig(clock=clock, **limits))


def test_calls_cost_one_and_uploads_ten(clock):
    books = accounting(clock)
    books.admit(ME, is_post=False, is_upload=False)
    books.admit(ME, is_post=True, is_upload=True)
    credits = books.credits(ME)
    assert credits["ClientRemaining"] == 12_500 - 11
    assert credits["UserRemaining"] == 500 - 11


def test_refusals_name_their_scope_and_charge_nothing(clock):
    books = accounting(clock, client_daily_limit=5, user_hourly_limit=100)
    for _ in range(5):
        assert books.admit(ME, is_post=False, is_upload=False).refused is None
    refused = books.admit(ME, is_post=False, is_upload=False)
    assert (refused.refused, refused.cost) == ("client", 0)
    assert refused.wait_seconds == 86_400
    assert books.credits(ME)["ClientRemaining"] == 0


def test_an_upload_needs_ten_credits_left(clock):
    books = accounting(clock, user_hourly_limit=15)
    books.admit(ME, is_post=False, is_upload=False)
    books.admit(ME, is_post=False, is_upload=False)
    books.admit(ME, is_post=False, is_upload=False)
    books.admit(ME, is_post=False, is_upload=False)
    books.admit(ME, is_post=False, is_upload=False)
    books.admit(ME, is_post=False, is_upload=False)
    assert books.admit(ME, is_post=True, is_upload=True).refused == "user"
    assert books.admit(ME, is_post=False, is_upload=False).refused is None


def test_user_window_rolls_after_an_hour_client_window_after_a_day(clock):
    books = accounting(clock, client_daily_limit=10, user_hourly_limit=4)
    for _ in range(4):
        books.admit(ME, is_post=False, is_upload=False)
    assert books.admit(ME, is_post=False, is_upload=False).refused == "user"
    clock.advance(3600)
    for _ in range(4):
        assert books.admit(ME, is_post=False, is_upload=False).refused is None
    clock.advance(3600)
    books.admit(ME, is_post=False, is_upload=False)
    books.admit(ME, is_post=False, is_upload=False)
    assert books.admit(ME, is_post=False, is_upload=False).refused == "client"
    clock.advance(86_400 - 7200)
    assert books.admit(ME, is_post=False, is_upload=False).refused is None


def test_other_ips_have_their_own_user_bucket_but_share_the_client(clock):
    books = accounting(clock, client_daily_limit=3, user_hourly_limit=2)
    other = Caller("client", "10.0.0.2")
    books.admit(ME, is_post=False, is_upload=False)
    books.admit(ME, is_post=False, is_upload=False)
    assert books.admit(ME, is_post=False, is_upload=False).refused == "user"
    assert books.admit(other, is_post=False, is_upload=False).refused is None
    assert books.admit(other, is_post=False, is_upload=False).refused == "client"


def test_post_limit_spares_commercial_callers(clock):
    books = accounting(clock, post_hourly_limit=1)
    commercial = Caller("client", "10.0.0.1", commercial=True)
    assert books.admit(ME, is_post=True, is_upload=False).refused is None
    assert books.admit(ME, is_post=True, is_upload=False).refused == "post"
    assert books.admit(commercial, is_post=True, is_upload=False).refused is None


def test_upload_throttle_and_refund(clock):
    books = accounting(clock, upload_hourly_limit=2)
    assert books.admit(ME, is_post=True, is_upload=True).refused is None
    books.refund_upload(ME)  # a rejected file does not count
    assert books.admit(ME, is_post=True, is_upload=True).refused is None
    assert books.admit(ME, is_post=True, is_upload=True).refused is None
    verdict = books.admit(ME, is_post=True, is_upload=True)
    assert verdict.refused == "upload" and 0 < verdict.wait_seconds <= 3600


def test_headers_in_both_user_reset_modes(clock):
    books = accounting(clock)
    books.admit(ME, is_post=True, is_upload=False)
    clock.advance(600)
    relative = books.headers(ME, is_post=True, user_reset_mode="relative")
    epoch = books.headers(ME, is_post=False, user_reset_mode="epoch")
    now = int(clock.now().timestamp())

    assert relative["x-ratelimit-userreset"] == "3000"
    assert relative["x-ratelimit-clientreset"] == str(86_400 - 600)
    assert relative["x-post-rate-limit-remaining"] == "1249"
    assert relative["x-post-rate-limit-reset"] == "3000"
    assert epoch["x-ratelimit-userreset"] == str(now + 3000)
    assert "x-post-rate-limit-limit" not in epoch


def test_modern_headers_are_lower_case_and_posts_carry_both_sets(clock):
    books = accounting(clock)
    get = books.headers(ME, is_post=False, user_reset_mode="relative")
    post = books.headers(ME, is_post=True, user_reset_mode="relative")

    assert all(name == name.lower() for name in (*get, *post))
    assert len(get) == 6 and set(get) < set(post) and len(post) == 9


def test_2017_headers_use_the_old_spelling_and_posts_only_the_post_trio(clock):
    books = accounting(clock)
    get = books.headers(ME, is_post=False, user_reset_mode="epoch", style="2017")
    post = books.headers(ME, is_post=True, user_reset_mode="epoch", style="2017")

    assert set(get) == {
        "X-RateLimit-UserLimit",
        "X-RateLimit-UserRemaining",
        "X-RateLimit-UserReset",
        "X-RateLimit-ClientLimit",
        "X-RateLimit-ClientRemaining",
    }
    assert set(post) == {
        "X-Post-Rate-Limit-Limit",
        "X-Post-Rate-Limit-Remaining",
        "X-Post-Rate-Limit-Reset",
    }


def test_five_exhausted_days_in_a_month_block_the_client_until_the_month_ends(clock):
    books = accounting(clock, client_daily_limit=1, user_hourly_limit=100)
    for _day in range(5):
        assert books.admit(ME, is_post=False, is_upload=False).refused is None
        assert books.admit(ME, is_post=False, is_upload=False).refused == "client"
        clock.advance(86_400)

    blocked = books.admit(ME, is_post=False, is_upload=False)
    assert blocked.refused == "client" and books.blocked_for_month("client")
    # May 6th 12:00 -> June 1st 00:00.
    assert blocked.wait_seconds == (25 * 24 + 12) * 3600
    clock.advance(blocked.wait_seconds)
    assert books.admit(ME, is_post=False, is_upload=False).refused is None


def test_monthly_block_can_be_switched_off(clock):
    books = accounting(clock, client_daily_limit=1, monthly_block_after=None)
    for _day in range(6):
        books.admit(ME, is_post=False, is_upload=False)
        books.admit(ME, is_post=False, is_upload=False)
        clock.advance(86_400)
    assert books.admit(ME, is_post=False, is_upload=False).refused is None
