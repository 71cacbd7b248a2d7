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


def test_the_log_file_rotates_by_size_and_keeps_a_bounded_number(tmp_path):
    log_file = tmp_path / "bot.log"
    setup_logging(
        LoggingSettings(level="INFO", file=log_file, file_max_mb=0.01, file_backups=2),
        Secrets(),
        stream=io.StringIO(),
    )
    log = logging.getLogger("test.rotation")
    for n in range(400):
        log.info("line %d %s", n, "x" * 100)
    for handler in logging.getLogger().handlers:
        handler.flush()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["bot.log", "bot.log.1", "bot.log.2"]
    assert all((tmp_path / f).stat().st_size <= 11 * 1024 for f in files)
    assert "line 399" in log_file.read_text()
