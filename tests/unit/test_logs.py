"""Secrets never reach a log line, whatever the level or the path they take."""

from __future__ import annotations

import io
import json
import logging

from pydantic import SecretStr

from bot.config import LoggingSettings, Secrets
from bot.logs import setup_logging

MARKER = "tok-MARKER-8c1f0e"


def test_secret_values_are_redacted_from_messages_and_tracebacks(tmp_path):
    stream = io.StringIO()
    log_file = tmp_path / "bot.log"
    setup_logging(
        LoggingSettings(level="DEBUG", file=log_file),
        Secrets(discord_token=SecretStr(MARKER)),
        stream=stream,
    )
    log = logging.getLogger("test.redaction")
    log.debug("connecting with token=%s", MARKER)
    try:
        raise RuntimeError(f"bad header Authorization: Bot {MARKER}")
    except RuntimeError:
        log.exception("request failed")
    for handler in logging.getLogger().handlers:
        handler.flush()
    written = stream.getvalue() + log_file.read_text()
    assert "connecting with token=[redacted]" in written
    assert "RuntimeError: bad header Authorization: Bot [redacted]" in written
    assert MARKER not in written


def test_json_lines_are_one_object_per_line():
    stream = io.StringIO()
    setup_logging(
        LoggingSettings(level="INFO", format="json"),
        Secrets(imgur_client_id=SecretStr(MARKER)),
        stream=stream,
    )
    logging.getLogger("test.json").info("client id %s in use", MARKER)
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["level"] == "INFO" and entry["logger"] == "test.json"
    assert entry["message"] == "client id [redacted] in use"
