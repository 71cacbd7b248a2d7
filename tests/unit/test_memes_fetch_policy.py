"""Which links the bot may fetch template images from, decided before any connection."""

from __future__ import annotations

import pytest

from bot.memes.fetch import FetchPolicy, FetchRefused, Origin, address_problem


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("2001:db8::1", "private"),  # documentation range
        # IPv6 forms that reach an IPv4 address are judged by that address
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.1.2.3", "private"),
        ("::127.0.0.1", "loopback"),
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
    ],
)
def test_addresses_inside_machines_and_networks_are_refused(address, problem):
    assert problem in (address_problem(address) or "")


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "151.101.12.193", "2606:4700::1111", "::ffff:8.8.8.8"]
)
def test_public_addresses_pass(address):
    assert address_problem(address) is None


def test_a_name_is_not_an_address():
    assert address_problem("i.imgur.com") == "not an IP address"


POLICY = FetchPolicy.build()


@pytest.mark.parametrize(
    ("link", "words"),
    [
        ("http://127.0.0.1/x.png", "must be https"),
        ("http://i.imgur.com/abc.png", "must be https"),
        ("https://169.254.169.254/latest/meta-data/", "link-local address"),
        ("https://127.0.0.1:8089/_emulator/reset", "loopback address"),
        ("https://[::ffff:127.0.0.1]/x.png", "loopback address"),
        ("https://10.0.0.1/x.png", "private address"),
        ("https://8.8.8.8/x.png", "an address, not a host name"),
        ("https://evil.example/x.png", "must be on cdn.discordapp.com, i.imgur.com or media"),
        ("https://i.imgur.com.evil.example/x.png", "must be on"),
        ("https://user:pw@i.imgur.com/x.png", "user name or password"),
        ("ftp://i.imgur.com/x.png", "must be https"),
        ("file:///etc/passwd", "must be https"),
        ("not a link", "must be https"),
    ],
)
def test_links_off_the_allowed_hosts_are_refused_with_the_reason(link, words):
    with pytest.raises(FetchRefused) as refused:
        POLICY.check_url(link)
    assert words in str(refused.value)


@pytest.mark.parametrize(
    "link",
    [
        "https://i.imgur.com/AbC1234.jpg",
        "https://I.IMGUR.COM/AbC1234.jpg",
        "https://cdn.discordapp.com/attachments/1/2/cat.png?ex=1&hm=2",
        "https://media.discordapp.net/attachments/1/2/cat.png",
    ],
)
def test_imgur_and_discord_cdn_links_pass(link):
    assert str(POLICY.check_url(link)).lower() == link.lower()


def test_by_default_the_emulator_origin_is_refused_and_an_extra_origin_trusts_exactly_it():
    emulator = "http://127.0.0.1:8089/AbC1234.jpg"
    with pytest.raises(FetchRefused):
        POLICY.check_url(emulator)
    trusting = FetchPolicy.build(extra_origins=["http://127.0.0.1:8089"])
    assert trusting.check_url(emulator)
    for other in ("http://127.0.0.1:8090/x.jpg", "https://127.0.0.1:8089/x.jpg"):
        with pytest.raises(FetchRefused):
            trusting.check_url(other)


def test_origins_read_with_their_default_ports():
    assert Origin.parse("https://cdn.example") == Origin("https", "cdn.example", 443)
    assert str(Origin.parse("http://127.0.0.1:8089/path")) == "http://127.0.0.1:8089"
    with pytest.raises(ValueError):
        Origin.parse("127.0.0.1:8089")
