"""One logging setup for the whole process (discord.py's ``setup_logging`` style).

Every handler carries a redaction filter: any configured secret value that finds its way
into a record (a URL with a token, an exception text, a library's debug line) is replaced
by ``[redacted]`` before anything is written, at every level.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from bot.config import LoggingSettings, Secrets

REDACTED = "[redacted]"
# Interaction tokens live in URLs, never in the config: discord.py logs interaction callbacks
# (``/interactions/{id}/{token}/callback``) and webhook calls (``/webhooks/{app}/{token}/…``)
# at DEBUG. A token is 15 minutes of the right to speak for the bot in that channel.
_TOKEN_IN_URL = re.compile(r"(/(?:interactions|webhooks)/\d+/)[A-Za-z0-9_.\-]{16,}")


class RedactSecrets(logging.Filter):
    """Replace known secret values, and the tokens in Discord's interaction and webhook URLs,
    in the fully rendered record, tracebacks included."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is not half-replaced.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        if "/interactions/" in text or "/webhooks/" in text:
            text = _TOKEN_IN_URL.sub(rf"\g<1>{REDACTED}", text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = self.scrub(record.getMessage())
        record.msg, record.args = message, None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.scrub(text)
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        return True


class JsonLines(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        for key in ("error_id", "guild_id", "command"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        return json.dumps(entry, ensure_ascii=False)


def secret_values(secrets: Secrets) -> list[str]:
    return [v.get_secret_value() for v in secrets.__dict__.values() if v is not None]


def setup_logging(settings: LoggingSettings, secrets: Secrets, *, stream=None) -> RedactSecrets:
    """Install handlers on the root logger (replacing earlier ones) and return the filter."""
    redact = RedactSecrets(secret_values(secrets))
    if settings.format == "json":
        formatter: logging.Formatter = JsonLines()
    else:
        formatter = logging.Formatter(
            "%(asctime)s %(levelname)-8s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"
        )
    handlers: list[logging.Handler] = [logging.StreamHandler(stream or sys.stderr)]
    if settings.file is not None:
        Path(settings.file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(
            # Rotated by size so a long-running bot never fills its disk with logs.
            logging.handlers.RotatingFileHandler(
                settings.file,
                maxBytes=int(settings.file_max_mb * 1024 * 1024),
                backupCount=settings.file_backups,
                encoding="utf-8",
            )
        )
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_imgurbot", False):  # only ours: leave pytest's capture alone
            root.removeHandler(old)
            old.close()
    for handler in handlers:
        handler._imgurbot = True  # type: ignore[attr-defined]
        handler.setFormatter(formatter)
        handler.addFilter(redact)
        root.addHandler(handler)
    root.setLevel(settings.level)
    # discord.py's gateway chatter at DEBUG is huge and never useful to an admin.
    logging.getLogger("discord.gateway").setLevel(max(logging.INFO, root.level))
    return redact
