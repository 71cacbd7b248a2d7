"""Fault injection: make the emulator misbehave the ways real Imgur does (§4, §8).

A fault has a kind, targets requests whose path starts with ``path_prefix`` (and, if
given, one HTTP method), and applies to the next ``times`` matching requests or, with
``times=None``, until cleared. Admin paths (``/_emulator``) are never faulted.

Kinds and what a client sees:

==========================  =================================================================
``latency``                 the response is delayed ``seconds`` (default 0.5)
``error_500``               500, classic envelope with the *object* error (code 500)
``html_503``                503 with an HTML page
``over_capacity_403``       403 "Imgur is temporarily over capacity. Please try again later."
``over_capacity_1203``      HTTP 500, envelope "Imgur is over capacity", body ``status: 1203``
``html_404``                404 with Imgur's HTML page instead of JSON
``token_invalid_403``       403 "The access token provided is invalid."
``rate_limited_429``        429 in the configured shape (classic or ``errors[]``) and *no*
                            rate-limit header: nothing says that a limit is spent (Imgur
                            throttling for reasons of its own)
``rate_limited_429_spent``  a real limit hit: the same 429 plus every rate-limit header, with
                            ``ClientRemaining: 0`` (``UserRemaining: 0`` for
                            ``scope="user"``); one answer, the books are not drained
``truncated_json``          the real body cut in half (request is processed and charged)
``invalid_json``            a body that is not JSON at all (``\\r\\n <xml``)
``empty_body``              status 200 with an empty body
``connection_reset``        the TCP connection is dropped without an answer
``missing_rate_headers``    the real answer without any rate-limit header
``user_reset_epoch``        ``X-RateLimit-UserReset`` as a unix epoch
``user_reset_relative``     ``X-RateLimit-UserReset`` as seconds until reset
==========================  =================================================================

The 429 kinds take ``scope``: ``client`` (default; classic body "Daily client requests
exceeded"), ``user`` ("User request limit exceeded"), or for the plain kind ``post``.

What is charged (one credit a call, ten an upload): the answer-replacing kinds
(``REPLACING``: 500, 503, both over-capacity, HTML 404, invalid token, both 429s and
``connection_reset``) stand in for a request Imgur never processed, so nothing is charged.
``latency``, body and header faults delay or spoil a request that *is* processed, and it
is charged once, even when its client gave up waiting (see ``pipeline.handle``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

# Faults that replace the answer before the request is processed (nothing is charged).
REPLACING = frozenset(
    {
        "error_500",
        "html_503",
        "over_capacity_403",
        "over_capacity_1203",
        "html_404",
        "token_invalid_403",
        "rate_limited_429",
        "rate_limited_429_spent",
        "connection_reset",
    }
)
# Faults that spoil the body of a processed (and charged) request.
BODY = frozenset({"truncated_json", "invalid_json", "empty_body"})
# Faults that change headers of a processed request.
HEADER = frozenset({"missing_rate_headers", "user_reset_epoch", "user_reset_relative"})
KINDS = frozenset({"latency"}) | REPLACING | BODY | HEADER

ADMIN_PREFIX = "/_emulator"
# The scopes each 429 kind may claim (a spent POST limit is the accounting's own 429).
LIMIT_SCOPES = {
    "rate_limited_429": ("client", "user", "post"),
    "rate_limited_429_spent": ("client", "user"),
}


class UnknownFault(ValueError):
    pass


@dataclass
class Fault:
    id: int
    kind: str
    path_prefix: str = "/"
    method: str | None = None
    times: int | None = None  # remaining applications; None = until cleared
    params: dict[str, Any] = field(default_factory=dict)
    applied: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return path.startswith(self.path_prefix)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Faults:
    """The registry the request pipeline consults; also the tests' Python API."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(
        self,
        kind: str,
        *,
        path_prefix: str = "/",
        times: int | None = None,
        method: str | None = None,
        **params: Any,
    ) -> Fault:
        """Inject ``kind`` for the next ``times`` matching requests (None: until cleared)."""
        if kind not in KINDS:
            raise UnknownFault(f"unknown fault kind {kind!r}; known: {sorted(KINDS)}")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        scopes = LIMIT_SCOPES.get(kind)
        if scopes is not None and params.get("scope", "client") not in scopes:
            raise ValueError(f"the scope of {kind} must be one of {', '.join(scopes)}")
        fault = Fault(next(self._ids), kind, path_prefix or "/", method, times, dict(params))
        self._faults.append(fault)
        return fault

    def clear(self, fault_id: int | None = None) -> int:
        """Remove one fault (by id) or all of them; returns how many were removed."""
        before = len(self._faults)
        if fault_id is None:
            self._faults.clear()
        else:
            self._faults = [f for f in self._faults if f.id != fault_id]
        return before - len(self._faults)

    def active(self) -> list[Fault]:
        return list(self._faults)

    @contextmanager
    def injected(self, kind: str, **kwargs: Any) -> Iterator[Fault]:
        """``with emu.faults.injected("html_404", path_prefix="/3/image"): ...``"""
        fault = self.add(kind, **kwargs)
        try:
            yield fault
        finally:
            self.clear(fault.id)

    def take(self, method: str, path: str) -> list[Fault]:
        """The faults that apply to this request, consuming one use of each."""
        if not self._faults or path.startswith(ADMIN_PREFIX):
            return []
        taken: list[Fault] = []
        replacing_taken = False
        for fault in self._faults:
            if not fault.matches(method, path):
                continue
            # Only one answer-replacing fault per request; the others wait their turn.
            if fault.kind in REPLACING:
                if replacing_taken:
                    continue
                replacing_taken = True
            taken.append(fault)
            fault.applied += 1
            if fault.times is not None:
                fault.times -= 1
        self._faults = [f for f in self._faults if f.times is None or f.times > 0]
        return taken
