"""Reading Imgur's drifting scalar types once, the same way everywhere (``imgur-api.md`` §8.4).

Numbers arrive as strings (``"0"``, ``"12497"``), vote fields as null, ``pro_expiration`` as
``false`` or an epoch, header values with stray spaces. These converters never raise: a
value that cannot mean what is asked becomes None.
"""

from __future__ import annotations

import math
from typing import Any

_MAX_DIGITS = 30  # longer "numbers" are garbage, and int() on them is needlessly slow


def to_int(value: Any) -> int | None:
    """An int from an int, a finite float, or a numeric string; None for anything else.

    Booleans are not numbers here: ``pro_expiration: false`` means "never", not 0.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > _MAX_DIGITS:
            return None
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                return None
            return int(number) if math.isfinite(number) else None
    return None


def to_bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no", ""):
            return False
    return None


def to_str(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def to_nonempty_str(value: Any) -> str | None:
    """For URLs and ids where Imgur writes ``""`` to mean "none" (covers, ``mp4: ""``)."""
    text = to_str(value)
    return text if text and text.strip() else None
