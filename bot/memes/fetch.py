"""Fetching template images from links members give, without letting them aim the bot inward.

A link typed into ``/meme template-add`` is a request the bot makes on a stranger's behalf
(server-side request forgery, SSRF): pointed at ``http://127.0.0.1:8089/_emulator/reset``,
a cloud metadata address such as ``169.254.169.254``, or a name that resolves to the
operator's LAN, a naive fetch would read or poke things only the bot's host can reach. So
every fetch here goes through ``FetchPolicy`` and a ``TemplateFetcher``:

- **https only, allowed hosts only** (Imgur's and Discord's image hosts by default,
  ``[memes] allowed_template_hosts``); an address typed as the host is refused outright,
  with words saying what kind of address it is;
- **the address is checked after DNS**: the fetcher's connector resolves names through
  ``GuardedResolver``, which refuses a name when any of its addresses is loopback, private,
  link-local, shared (CGNAT), reserved, multicast or unspecified, IPv4 and IPv6 alike
  (IPv4-mapped, IPv4-compatible, 6to4 and NAT64 forms are judged by the IPv4 inside);
- **pinned**: aiohttp connects to exactly the addresses that resolver returned (one lookup
  per connection, no DNS cache), so a name cannot answer "public" to the check and
  "private" to the connection (DNS rebinding);
- **redirects are followed by hand**, at most ``max_redirects``, each hop checked like the
  first link;
- **the body is capped while streaming**: a declared ``Content-Length`` over the cap refuses
  before reading, and reading stops the moment the cap is passed, whatever was declared;
- no proxy from the environment, no cookies, no compressed transfer (the cap counts what
  arrives).

``extra_origins`` (``[memes] extra_template_origins``) names whole origins
(``scheme://host:port``) trusted as they are, http and private addresses included: the
built-in Imgur emulator's, and the tests' local servers. It is empty by default, so by
default nothing on the bot's own machine or network can be fetched.

The lookup is injectable (``Lookup``: host, port → addresses), so tests make
``evil.example`` resolve to ``10.0.0.1`` without any DNS.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Self

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from .errors import MemeError

DEFAULT_ALLOWED_HOSTS = ("i.imgur.com", "cdn.discordapp.com", "media.discordapp.net")
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024

# host, port → the addresses it resolves to (as text).
Lookup = Callable[[str, int], Awaitable[Sequence[str]]]


class FetchRefused(MemeError):
    """The link may not be fetched (scheme, host, address, redirect, size); the message says
    why and what to do instead."""


class FetchFailed(MemeError):
    """The link was allowed but the download did not work (no answer, an error status)."""


@dataclass(frozen=True)
class Origin:
    """``scheme://host:port``, the port always explicit."""

    scheme: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Origin:
        """Read ``http://127.0.0.1:8089`` (a path, if any, is ignored); ``ValueError`` when
        it is not an http(s) origin with a host."""
        url = URL(text.strip())
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"{text!r} is not an origin like http://127.0.0.1:8089")
        assert url.port is not None  # yarl fills in the scheme's default port
        return cls(url.scheme, url.host.lower(), url.port)

    @classmethod
    def of(cls, url: URL) -> Origin | None:
        if not url.scheme or not url.host or url.port is None:
            return None
        return cls(url.scheme, url.host.lower(), url.port)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for, when it is one of the forms that reach it."""
    if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d
        return address.ipv4_mapped
    if address.sixtofour is not None:  # 2002:AABB:CCDD::/48
        return address.sixtofour
    packed = address.packed
    if packed[:12] == bytes(12) and int(address) > 1:  # ::a.b.c.d (deprecated "compatible")
        return ipaddress.IPv4Address(packed[12:])
    if address in _NAT64:  # 64:ff9b::a.b.c.d
        return ipaddress.IPv4Address(packed[12:])
    return None


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")


def address_problem(text: str) -> str | None:
    """Why the bot must not connect to this address (``"a loopback address"``), or ``None``
    when it is an ordinary public one. Anything that does not parse is refused too."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return "not an IP address"
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            return address_problem(str(inner))
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if address.is_private:
        return "a private address"
    if address.is_reserved or not address.is_global:
        return "a reserved address"
    return None


@dataclass(frozen=True)
class FetchPolicy:
    """What may be fetched: hosts, trusted origins, the size cap, redirects and time."""

    allowed_hosts: frozenset[str] = frozenset(DEFAULT_ALLOWED_HOSTS)
    extra_origins: frozenset[Origin] = frozenset()
    max_bytes: int = 8 * 1024 * 1024
    max_redirects: int = 3
    timeout_s: float = 15.0

    @classmethod
    def build(
        cls,
        allowed_hosts: Iterable[str] = DEFAULT_ALLOWED_HOSTS,
        extra_origins: Iterable[str | Origin] = (),
        **limits: float,
    ) -> FetchPolicy:
        return cls(
            allowed_hosts=frozenset(h.strip().lower().rstrip(".") for h in allowed_hosts),
            extra_origins=frozenset(
                o if isinstance(o, Origin) else Origin.parse(o) for o in extra_origins
            ),
            **limits,  # type: ignore[arg-type]
        )

    def trusts(self, url: URL) -> bool:
        """Whether the link's origin is one of the explicitly trusted extra origins."""
        origin = Origin.of(url)
        return origin is not None and origin in self.extra_origins

    def hosts_text(self) -> str:
        hosts = sorted(self.allowed_hosts)
        return ", ".join(hosts[:-1]) + (" or " if len(hosts) > 1 else "") + hosts[-1]

    def check_url(self, text: str | URL) -> URL:
        """The link as a URL when it may be fetched; else ``FetchRefused`` saying why."""
        try:
            url = text if isinstance(text, URL) else URL(text.strip())
        except (ValueError, TypeError):
            raise FetchRefused("That is not a link. Give an https link to the image.") from None
        if self.trusts(url):
            return url
        if url.scheme != "https":
            raise FetchRefused(
                "Template links must be https links on "
                f"{self.hosts_text()} (or attach the image instead)."
            )
        host = (url.host or "").lower().rstrip(".")
        if not host:
            raise FetchRefused("That link has no host. Give an https link to the image.")
        if url.user is not None or url.password is not None:
            raise FetchRefused("Links with a user name or password in them are not fetched.")
        problem = address_problem(host.strip("[]"))
        if problem != "not an IP address":
            what = problem or "an address, not a host name"
            raise FetchRefused(
                f"That link points at {what}; template links must be on {self.hosts_text()}."
            )
        if host not in self.allowed_hosts:
            raise FetchRefused(
                f"Template links must be on {self.hosts_text()}; attach the image instead, "
                "or upload it to Imgur first."
            )
        return url


async def system_lookup(host: str, port: int) -> list[str]:
    """The addresses the operating system's resolver gives for ``host``."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver hook: look the name up once, refuse it if any address is not
    public (unless the origin is trusted), and hand aiohttp exactly the addresses checked."""

    def __init__(self, policy: FetchPolicy, lookup: Lookup = system_lookup) -> None:
        self._policy = policy
        self._lookup = lookup
        self.lookups: list[str] = []  # names looked up, in order (for tests and logs)

    def _trusted(self, host: str, port: int) -> bool:
        return any(o.host == host.lower() and o.port == port for o in self._policy.extra_origins)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        addresses = list(await self._lookup(host, port))
        if not addresses:
            raise OSError(f"{host} has no address")
        if not self._trusted(host, port):
            for address in addresses:
                problem = address_problem(address)
                if problem is not None:
                    raise FetchRefused(
                        f"That link's host resolves to {problem}, which the bot never "
                        "fetches from. Attach the image instead."
                    )
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class Fetched:
    """A downloaded image: its bytes, the declared content type and where it came from."""

    data: bytes
    content_type: str
    url: str
    redirects: tuple[str, ...] = field(default=())


class TemplateFetcher:
    """Downloads template images under a ``FetchPolicy``. Owns its own session (a connector
    with the guarded resolver); use ``async with`` or ``start()``/``close()``."""

    def __init__(
        self,
        policy: FetchPolicy,
        *,
        lookup: Lookup = system_lookup,
        user_agent: str = "imgurbot",
    ) -> None:
        self.policy = policy
        self.resolver = GuardedResolver(policy, lookup)
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                resolver=self.resolver, use_dns_cache=False, limit=20, limit_per_host=4
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.policy.timeout_s),
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                auto_decompress=False,
                headers={"User-Agent": self._user_agent, "Accept-Encoding": "identity"},
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def fetch(self, link: str) -> Fetched:
        """The image behind ``link``: checked, redirects followed by hand, body capped.

        Raises ``FetchRefused`` (not allowed: the message says why) or ``FetchFailed``
        (allowed, but the download did not work)."""
        if self._session is None:
            await self.start()
        assert self._session is not None
        url = self.policy.check_url(link)
        hops: list[str] = []
        while True:
            try:
                async with self._session.get(url, allow_redirects=False) as response:
                    if response.status in REDIRECT_STATUSES:
                        location = response.headers.get("Location")
                        if not location:
                            raise FetchFailed("The link redirects nowhere; use the image's link.")
                        if len(hops) >= self.policy.max_redirects:
                            raise FetchRefused(
                                f"The link redirects more than {self.policy.max_redirects} "
                                "times; use the image's own link."
                            )
                        try:
                            target = url.join(URL(location))
                        except ValueError:
                            raise FetchFailed("The link redirects to nothing readable.") from None
                        hops.append(str(target))
                        url = self._check_hop(target)
                        continue
                    if response.status != 200:
                        raise FetchFailed(
                            f"The image's host answered {response.status}; check the link."
                        )
                    data = await read_capped(response, self.policy.max_bytes)
                    return Fetched(
                        data, response.headers.get("Content-Type", ""), str(url), tuple(hops)
                    )
            except TimeoutError:
                raise FetchFailed(
                    f"The image's host did not answer within {self.policy.timeout_s:g} s; "
                    "try again, or attach the image."
                ) from None
            except aiohttp.ClientError as exc:
                raise FetchFailed(
                    f"The image could not be downloaded ({type(exc).__name__}); check the link."
                ) from None

    def _check_hop(self, target: URL) -> URL:
        try:
            return self.policy.check_url(target)
        except FetchRefused as refused:
            raise FetchRefused(f"The link redirects somewhere not allowed. {refused}") from None


def too_large(limit: int) -> FetchRefused:
    return FetchRefused(
        f"The image is larger than {limit / 1_048_576:g} MB, the limit for templates. "
        "Use a smaller one."
    )


async def read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body, refusing (``FetchRefused``) as soon as it is known to pass ``limit``
    bytes: from ``Content-Length`` before reading, else while streaming."""
    declared = response.content_length
    if declared is not None and declared > limit:
        raise too_large(limit)
    body = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > limit:
            raise too_large(limit)
    return bytes(body)
