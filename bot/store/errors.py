"""What can go wrong with the store, the same on every engine."""

from __future__ import annotations


class StoreClosed(RuntimeError):
    """Work was sent to a store that is closed (or closing)."""


class StoreUnavailable(RuntimeError):
    """The database cannot take writes right now: the disk is full, the file or its mount is
    read-only, or the file is damaged. Nothing already committed is lost; the operator has
    to fix the disk. ``reason`` says which, in words."""

    def __init__(self, reason: str, error: BaseException) -> None:
        super().__init__(f"the database cannot be written: {reason}")
        self.reason = reason
        self.error = error


class Conflict(Exception):
    """A write broke a uniqueness or other integrity rule (raised by the portable verbs on
    every engine)."""
