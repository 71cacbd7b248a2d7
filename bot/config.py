"""Typed, validated configuration.

Three sources, later ones winning: the TOML file (``config.toml``; every key documented in
``config.example.toml``), ``IMGURBOT_<SECTION>__<KEY>`` environment variables, and — for
secrets only — ``DISCORD_TOKEN`` style variables or files named by ``DISCORD_TOKEN_FILE``
(Docker secrets). Secrets are never read from the TOML file: a secret there is an error,
because that file tends to end up in a repository.

``load_config`` raises ``ConfigError`` whose ``problems`` are one line each, naming the key
(and the environment variable, when the value came from one), the bad value and what is
allowed; the CLI prints them and exits with status 2. An empty environment value means "not
set", as ``KEY=`` lines in an ``.env`` file or a compose file do.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from bot.imgur.vocab import CACHED_KINDS

ENV_PREFIX = "IMGURBOT_"
SECRET_NAMES = (
    "DISCORD_TOKEN",
    "IMGUR_CLIENT_ID",
    "IMGUR_CLIENT_SECRET",
    "IMGUR_REFRESH_TOKEN",
    "RAPIDAPI_KEY",
    "PGPASSWORD",  # the PostgreSQL password for [store] url (PGPASSWORD_FILE for a secret)
)


class ConfigError(Exception):
    """Invalid configuration. ``problems`` holds one human-readable line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class DiscordSettings(_Section):
    dev_guild_id: int | None = Field(None, description="Guild that gets commands at start-up.")
    owner_ids: list[int] = Field(default_factory=list)
    api_base_url: str | None = None
    gateway_url: str | None = None
    command_timeout_s: float = Field(20.0, gt=0)
    shutdown_grace_s: float = Field(10.0, gt=0)
    cooldown_per_user_s: float = Field(3.0, ge=0)
    paginator_timeout_s: float = Field(180.0, gt=0, le=840)
    # Cluster mode (README, "Sharding"): unset, one process runs the one shard Discord gives
    # a small bot. ``shard_count`` is the total across every process ("auto": Discord's
    # recommendation); ``shard_ids`` the ones this process runs (default: all of them).
    shard_count: int | Literal["auto"] | None = None
    shard_ids: list[int] | None = None

    @field_validator("shard_count", mode="before")
    @classmethod
    def _count(cls, value: Any) -> Any:
        return parse_shard_count(value) if value is not None else None

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _ids(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        ids = parse_shard_ids(value)
        if "shard_count" in info.data:  # else the count's own problem is reported
            _check_ids_fit(ids, info.data["shard_count"])
        return ids

    @property
    def sharded(self) -> bool:
        """Whether this process runs its shards with discord.py's ``AutoShardedBot``."""
        return self.shard_count is not None or self.shard_ids is not None


def _shard_error(message: str) -> PydanticCustomError:
    # A custom error shows the message alone (a ValueError would start "Value error, ").
    return PydanticCustomError("shard_setting", message)


def parse_shard_count(value: Any) -> int | Literal["auto"]:
    """``8``, ``"8"`` or ``"auto"``; anything else is explained."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise _shard_error(
        "the shard count is a whole number of 1 or more (the total across every process), "
        'or "auto" for the number Discord recommends'
    )


def parse_shard_ids(value: Any) -> list[int]:
    """Shard ids from ``"0-3"``, ``"0,2,5"``, ``"4"``, ``3`` or a list of those."""
    parts = value if isinstance(value, list) else [value]
    ids: list[int] = []
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            pieces = [str(part)]
        elif isinstance(part, str):
            pieces = [p.strip() for p in part.split(",")]
        else:
            pieces = [""]
        for piece in pieces:
            low, dash, high = piece.partition("-")
            if not low.strip().isdigit() or (dash and not high.strip().isdigit()):
                raise _shard_error(
                    f"{piece!r} is not a shard id or a range of them: write a range "
                    'such as "0-3", ids such as "0,2,5", or a list [0, 2, 5]'
                )
            first, last = int(low), int(high) if dash else int(low)
            if last < first:
                raise _shard_error(
                    f"the range {piece!r} goes backwards: write the lower id first, "
                    f'such as "{last}-{first}"'
                )
            ids.extend(range(first, last + 1))
    if not ids:
        raise _shard_error('no shard ids given: write a range such as "0-3"')
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise _shard_error(f"shard {duplicates[0]} is listed twice; list each shard once")
    return sorted(ids)


def shard_process_name(ids: list[int]) -> str:
    """The default ``[store] process_name`` of a process running ``ids``: ``shards-0-3``,
    ``shards-0,2,5``, ``shards-0-3,8-11``."""
    runs: list[list[int]] = []
    for i in ids:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return "shards-" + ",".join(
        f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]) for run in runs
    )


def _named_after_shards(config: Config, previous_ids: list[int] | None) -> Config:
    """``[store] process_name`` unset (or named after ``previous_ids``): named after the
    shards this process runs, so that processes sharing a database never share a name (the
    ledger files charges under it; the health file is named after it)."""
    ids = config.discord.shard_ids
    name = config.store.process_name
    derived = previous_ids is not None and name == shard_process_name(previous_ids)
    if ids is None or (name is not None and not derived):
        return config
    name = shard_process_name(ids)
    if len(name) > 64:
        raise ConfigError(
            [
                f"store.process_name: the default named after shard_ids ({name[:40]}...) is "
                "longer than 64 characters; set [store] process_name for this process"
            ]
        )
    store = config.store.model_copy(update={"process_name": name})
    return config.model_copy(update={"store": store})


def _check_ids_fit(ids: list[int], count: Any) -> None:
    if count is None:
        raise _shard_error(
            "shard ids need the shard count they are part of: set shard_count (--shard-count) "
            "to the total across every process, such as 8 for shard_ids 0-3 here and 4-7 "
            "elsewhere"
        )
    if count == "auto":
        raise _shard_error(
            'shard ids need a fixed shard_count, not "auto": every process must use the same '
            "count, and Discord's recommendation can change between two starts; set the "
            "number"
        )
    if isinstance(count, int) and ids[-1] >= count:
        raise _shard_error(
            f"shard {ids[-1]} does not exist with shard_count = {count}: shard ids go "
            f"from 0 to {count - 1}"
        )


class ImgurSettings(_Section):
    api_base_url: str = "https://api.imgur.com"
    commercial: bool = False
    rapidapi_base_url: str = "https://imgur-apiv3.p.rapidapi.com"
    rapidapi_host: str = "imgur-apiv3.p.rapidapi.com"
    use_emulator: Literal["auto", "always", "never"] = "auto"
    connect_timeout_s: float = Field(5.0, gt=0)
    total_timeout_s: float = Field(15.0, gt=0)
    max_retries: int = Field(3, ge=0, le=10)
    retry_budget_s: float = Field(20.0, gt=0)
    backoff_base_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(8.0, gt=0)
    max_connections: int = Field(100, ge=1)
    user_agent: str = "imgurbot/0.1 (+self-hosted Discord bot)"


class CacheSettings(_Section):
    enabled: bool = True
    max_entries: int = Field(5000, ge=0)
    max_entry_kb: int = Field(1024, ge=0)
    keep_stale_s: int = Field(2 * 86400, ge=0)
    ttl_frontpage_s: int = Field(600, ge=0)
    ttl_search_s: int = Field(900, ge=0)
    ttl_tag_s: int = Field(900, ge=0)
    ttl_tags_s: int = Field(86400, ge=0)
    ttl_subreddit_s: int = Field(900, ge=0)
    ttl_item_s: int = Field(3600, ge=0)
    ttl_account_s: int = Field(900, ge=0)
    ttl_memegen_s: int = Field(7 * 86400, ge=0)
    ttl_default_s: int = Field(300, ge=0)
    # Several processes share answers through Redis when set ("redis://host:6379/0");
    # without it each process keeps its own cache. See bot/imgur/shared_cache.py.
    redis_url: str | None = None
    # The process fetching an answer others also want holds a lease this long, renewed
    # while it works: a process that dies blocks the others for at most this long.
    lease_s: float = Field(5.0, gt=0, le=300)
    # The longest a process waits for another's fetch before it asks Imgur itself.
    lease_wait_s: float = Field(30.0, gt=0, le=600)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError(
                "not a Redis URL; write it like redis://127.0.0.1:6379/0 "
                "(rediss:// for TLS, unix:///path/to/redis.sock)"
            )
        return value

    def ttl_for(self, kind: str) -> int:
        """The TTL of a kind of answer (``bot.imgur.vocab.CachedKind``), else the default."""
        return getattr(self, f"ttl_{kind}_s", self.ttl_default_s)


# One setting per kind of cached answer, no more, no less: adding a kind to the vocabulary
# without its TTL setting (or leaving a setting behind) fails here, at import.
_TTL_KINDS = {n[4:-2] for n in CacheSettings.model_fields if n.startswith("ttl_")} - {"default"}
if _TTL_KINDS != set(CACHED_KINDS):
    raise RuntimeError(f"[cache] ttl settings {_TTL_KINDS} do not match {set(CACHED_KINDS)}")


class LedgerSettings(_Section):
    daily_client_budget: int = Field(12500, ge=1)
    safety_reserve: float = Field(0.10, ge=0, lt=1)
    scheduler_reserve: float = Field(0.05, ge=0, lt=1)
    guild_floor: int = Field(50, ge=0)
    active_days: int = Field(7, ge=1)
    user_burst_per_minute: int = Field(10, ge=1)
    guild_uploads_per_hour: int = Field(10, ge=0)
    user_reserve: int = Field(25, ge=0)
    post_reserve: int = Field(50, ge=0)
    upload_reserve: int = Field(5, ge=0)
    imgur_uploads_per_hour: int = Field(50, ge=1)
    audit_retention_days: int = Field(30, ge=1)
    # A bare 429 (no header says a limit is spent) stops calls for this long, doubling with
    # each one in a row up to the maximum; then one call probes whether Imgur is back.
    slowdown_base_s: float = Field(30.0, gt=0)
    slowdown_max_s: float = Field(900.0, gt=0)
    # A call that got no answer, or an error answer, counts until Imgur's own count says it
    # was not counted; only calls given up this long ago are settled that way (time enough
    # for Imgur to have finished any call the bot stopped waiting for).
    reconcile_after_s: float = Field(120.0, ge=0)


class UploadSettings(_Section):
    # The longest an upload command may take, receiving and sending included (Discord lets
    # a deferred answer be finished for 15 minutes).
    timeout_s: float = Field(600.0, gt=0, le=840)
    # An upload still running after this many seconds shows its progress, edited at most
    # once every progress_every_s (Discord rate-limits message edits).
    progress_after_s: float = Field(2.0, ge=0)
    progress_every_s: float = Field(1.0, ge=1.0)
    # Seconds Discord's CDN may send nothing before a download is given up.
    stall_timeout_s: float = Field(30.0, gt=0)
    # Threads that check files (decoding first frames); each can hold one decoded frame.
    inspect_threads: int = Field(2, ge=1, le=16)
    # Where files wait between Discord and Imgur (None: the system's temporary folder).
    temp_dir: Path | None = None


class StoreSettings(_Section):
    path: Path = Path("./data/imgurbot.db")
    busy_timeout_ms: int = Field(5000, ge=0)
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    # A PostgreSQL server instead of the SQLite file: what several bot processes share.
    url: str | None = None
    pool_size: int = Field(10, ge=2, le=200)
    # This process's name among those sharing the database: the same name after a restart
    # settles that process's unfinished charges. Default: from its shards ("shards-0-3"),
    # else "bot".
    process_name: str | None = Field(None, min_length=1, max_length=64)

    @property
    def member_name(self) -> str:
        """This process's name among those sharing the database (``process_name``, set or
        derived from the shards; "bot" when neither says)."""
        return self.process_name or "bot"

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError(
                f"must be a PostgreSQL address such as 'postgresql://imgurbot@db:5432/imgurbot'"
                f" (got the scheme {parts.scheme + '://' if parts.scheme else 'none'})"
            )
        if parts.password is not None:
            raise ValueError(
                "must not hold a password (it would show in logs): leave it out and set "
                "PGPASSWORD in the environment, or use a ~/.pgpass file"
            )
        return value


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    format: Literal["text", "json"] = "text"
    file: Path | None = None
    # The file is rotated at this size, keeping this many older files beside it.
    file_max_mb: float = Field(10.0, gt=0)
    file_backups: int = Field(5, ge=0, le=100)

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class RunSettings(_Section):
    # True where a supervisor restarts the bot whenever it exits (the Docker image sets it):
    # without DISCORD_TOKEN the bot then stops with a configuration error instead of showing
    # the demo, and errors only the admin can fix (statuses 2 and 4) keep the process up and
    # unhealthy instead of exiting into a restart loop.
    supervised: bool = False
    # How often the running bot records its health (gateway connected, database writable)
    # for ``imgurbot check --health``.
    heartbeat_s: float = Field(15.0, gt=0, le=3600)


class MetricsSettings(_Section):
    """``/healthz`` and ``/metrics`` over HTTP (``bot.metrics``); off while ``port`` is 0."""

    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535)


class EmulatorSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8089, ge=0, le=65535)
    seed: int = 1
    public_url: str | None = None


class HighlightsSettings(_Section):
    """Scheduled front-page highlights (``/highlights``, ``bot.highlights``)."""

    # A run missed while the bot was down is posted once at start if it is at most this
    # old; older ones are skipped (and logged).
    grace_s: int = Field(3600, ge=0)
    max_feeds_per_guild: int = Field(25, ge=1, le=1000)
    # For feeds added without a timezone (an IANA name such as "Europe/Paris").
    default_timezone: str = "UTC"
    # Feeds run at most this often (protects the channels and the scheduler's Imgur share).
    min_interval_minutes: int = Field(60, ge=1)
    # Posts to channels, across the whole bot: kept under Discord's global 50 requests/s.
    discord_posts_per_second: float = Field(48.0, gt=0, le=50)
    # A post that fails for a missing channel or permission is retried after this many
    # seconds, five times longer after each failure; the third failure pauses the feed.
    retry_after_s: int = Field(60, ge=1)

    @field_validator("default_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "not a time zone name; use an IANA name such as 'UTC' or 'Europe/Paris'"
            ) from None
        return value


class MemesSettings(_Section):
    # Font files or folders searched before the system's (/usr/share/fonts...).
    fonts: list[str] = Field(default_factory=list)
    # Hosts template links may point at (https only; checked again after every redirect).
    allowed_template_hosts: list[str] = Field(
        default_factory=lambda: ["i.imgur.com", "cdn.discordapp.com", "media.discordapp.net"]
    )
    # Origins (scheme://host:port) trusted as they are, http and private addresses included.
    extra_template_origins: list[str] = Field(default_factory=list)
    max_template_mb: float = Field(8.0, gt=0, le=50)
    max_templates_per_server: int = Field(100, ge=0, le=1000)
    template_max_side: int = Field(1200, ge=64, le=4096)
    max_text_length: int = Field(200, ge=1, le=1000)
    render_threads: int = Field(2, ge=1, le=32)
    background_cache_mb: int = Field(128, ge=0)
    fetch_timeout_s: float = Field(15.0, gt=0)
    max_redirects: int = Field(3, ge=0, le=10)

    @field_validator("allowed_template_hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            if not host or "/" in host or ":" in host or host != host.strip():
                raise ValueError(f"{host!r} is not a host name (like i.imgur.com)")
        return [host.lower().rstrip(".") for host in hosts]

    @field_validator("extra_template_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{origin!r} is not an origin like http://127.0.0.1:8089")
        return origins


class Secrets(BaseModel):
    """Secrets, each a ``SecretStr`` so a repr or log line shows ``**********``."""

    model_config = ConfigDict(frozen=True)

    discord_token: SecretStr | None = None
    imgur_client_id: SecretStr | None = None
    imgur_client_secret: SecretStr | None = None
    imgur_refresh_token: SecretStr | None = None
    rapidapi_key: SecretStr | None = None
    pgpassword: SecretStr | None = None


class Config(_Section):
    discord: DiscordSettings = DiscordSettings()
    imgur: ImgurSettings = ImgurSettings()
    cache: CacheSettings = CacheSettings()
    ledger: LedgerSettings = LedgerSettings()
    uploads: UploadSettings = UploadSettings()
    store: StoreSettings = StoreSettings()
    logging: LoggingSettings = LoggingSettings()
    run: RunSettings = RunSettings()
    metrics: MetricsSettings = MetricsSettings()
    emulator: EmulatorSettings = EmulatorSettings()
    highlights: HighlightsSettings = HighlightsSettings()
    memes: MemesSettings = MemesSettings()
    secrets: Secrets = Field(default_factory=Secrets, exclude=True)
    source: Path | None = Field(None, exclude=True)


def _set_path(tree: dict[str, Any], dotted: list[str], value: Any) -> None:
    node = tree
    for part in dotted[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError([f"{'.'.join(dotted)}: cannot override inside a non-table value"])
        node = child
    node[dotted[-1]] = value


def _env_value(raw: str) -> Any:
    """Parse an override as a TOML value when it is one (numbers, booleans, lists), else text."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _secret_named(*parts: str) -> str | None:
    """The secret a config key stands for (``[discord] token`` is DISCORD_TOKEN), if any."""
    for candidate in (parts[-1].upper(), "_".join(parts).upper()):
        if candidate in SECRET_NAMES:
            return candidate
    return None


def _not_a_setting(where: str, secret: str | None) -> str:
    name = secret or "the secret's environment variable"
    also = f" (or {secret}_FILE)" if secret else ""
    return (
        f"{where}: secrets never go in the config file or IMGURBOT_ settings (they end up in "
        f"repositories and process listings); set {name}{also} instead"
    )


def _secrets_in_tree(tree: dict[str, Any]) -> list[str]:
    """Take every secret out of the file's tree, one problem each; values are never shown."""
    problems = []
    for key in list(tree):
        value = tree[key]
        if key.lower() == "secrets":
            inner = value if isinstance(value, dict) else {}
            named = [_secret_named(k) for k in inner] or [None]
            problems.extend(_not_a_setting(f"[{key}]", s) for s in named)
            tree.pop(key)
        elif _secret_named(key):
            problems.append(_not_a_setting(key, _secret_named(key)))
            tree.pop(key)
        elif isinstance(value, dict):
            for inner_key in list(value):
                secret = _secret_named(key, inner_key)
                if secret:
                    problems.append(_not_a_setting(f"{key}.{inner_key}", secret))
                    value.pop(inner_key)
    return problems


# What people paste in front of a secret: the header word the bot adds itself.
_HEADER_WORDS = {"DISCORD_TOKEN": "Bot", "IMGUR_CLIENT_ID": "Client-ID"}


def _shape_problem(name: str, where: str, value: str) -> str | None:
    """A secret pasted with quotes or with its HTTP header word, explained (never shown)."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return (
            f"{where}: the value is wrapped in quotes; remove them (some tools, such as "
            "docker run --env-file, keep quotes as part of the value)"
        )
    word = _HEADER_WORDS.get(name)
    if word and value.lower().startswith(word.lower() + " "):
        return f"{where} starts with {word!r}: set the value alone; the bot adds {word!r} itself"
    return None


def _read_secrets(env: Mapping[str, str]) -> tuple[Secrets, list[str]]:
    """Secrets from NAME or the file NAME_FILE names; empty means not set, like overrides."""
    values: dict[str, str] = {}
    problems: list[str] = []
    for name in SECRET_NAMES:
        direct = (env.get(name) or "").strip()
        file_name = env.get(f"{name}_FILE")
        where = name
        if direct:
            value = direct
        elif file_name:
            where = f"{name}_FILE ({file_name!r})"
            try:
                value = Path(file_name).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "strerror", None) or "not UTF-8 text"
                problems.append(
                    f"{name}_FILE: cannot read {file_name!r} ({reason}); "
                    "point it at a readable file holding the secret"
                )
                continue
        else:
            continue
        if not value:
            continue
        shape = _shape_problem(name, where, value)
        if shape:
            problems.append(shape)
        values[name.lower()] = value
    return Secrets(**values), problems


# Pydantic error kinds that mean "not this type": the hint says overrides are TOML values.
_TYPE_ERRORS = ("_type", "_parsing")


_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def _masked(value: Any) -> Any:
    """A refused value as it may be shown: a password inside an address is starred."""
    return _URL_PASSWORD.sub(r"\1***@", value) if isinstance(value, str) else value


def _describe(error: Any, origins: Mapping[tuple[str, ...], tuple[str, str]]) -> str:
    loc = tuple(str(p) for p in error["loc"])
    kind = error["type"]
    value = _masked(error.get("input"))
    origin = next((loc[:n] for n in range(len(loc), 0, -1) if loc[:n] in origins), None)
    if origin is not None:
        # The value came from the environment: name the variable, as the admin wrote it.
        variable, raw = origins[origin]
        raw, key = _masked(raw), ".".join(origin)
        if kind == "extra_forbidden":
            return f"{variable} ({key}): unknown setting (see config.example.toml for the keys)"
        hint = ""
        if kind.endswith(_TYPE_ERRORS):
            hint = '; the value is read as TOML: a number 42, a list [1, 2], text "in quotes"'
        return f"{variable} = {raw!r} ({key}): {error['msg']}{hint}"
    dotted = ".".join(loc)
    if kind == "extra_forbidden":
        return f"{dotted}: unknown setting (see config.example.toml for the allowed keys)"
    shown = "" if isinstance(value, dict) else f" = {value!r}"
    return f"{dotted}{shown}: {error['msg']}"


def read_config_file(source: Path) -> dict[str, Any]:
    """The TOML file as a tree, or a ``ConfigError`` that says what is wrong with it."""
    try:
        return tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            [f"config file {str(source)!r} does not exist: copy config.example.toml there"]
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{source}: not valid TOML ({exc})"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{source}: not UTF-8 text; save it as UTF-8"]) from None
    except OSError as exc:
        raise ConfigError([f"{source}: cannot read ({exc.strerror or exc})"]) from None


def load_config(path: Path | str | None, env: Mapping[str, str] | None = None) -> Config:
    """Read, merge and validate configuration. ``path`` None means defaults plus environment.

    A path that was asked for but does not exist is an error.
    """
    env = os.environ if env is None else env
    source = Path(path) if path is not None else None
    tree = read_config_file(source) if source is not None else {}
    problems = _secrets_in_tree(tree)

    origins: dict[tuple[str, ...], tuple[str, str]] = {}
    for name, raw in sorted(env.items()):
        if not name.startswith(ENV_PREFIX) or name == "IMGURBOT_CONFIG":
            continue
        if not raw.strip():
            continue  # KEY= in an .env or compose file: not set
        dotted = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if len(dotted) < 2 or not all(dotted):
            problems.append(f"{name}: overrides are named IMGURBOT_<SECTION>__<KEY>")
            continue
        if _secret_named(*dotted):
            problems.append(_not_a_setting(name, _secret_named(*dotted)))
            continue
        try:
            _set_path(tree, dotted, _env_value(raw))
        except ConfigError as exc:
            problems.extend(exc.problems)
        origins[tuple(dotted)] = (name, raw)

    secrets, secret_problems = _read_secrets(env)
    problems.extend(secret_problems)
    try:
        config = Config.model_validate(tree)
    except ValidationError as exc:
        problems.extend(_describe(e, origins) for e in exc.errors())
        config = None
    if problems or config is None:
        raise ConfigError(problems)
    config = config.model_copy(update={"secrets": secrets, "source": source})
    return _named_after_shards(config, config.discord.shard_ids)


_SHARD_FLAGS = {"shard_ids": "--shards", "shard_count": "--shard-count"}


def with_shards(config: Config, *, shard_ids: str | None, shard_count: str | None) -> Config:
    """``imgurbot run --shards 0-3 --shard-count 8``: the flags win over the configuration.

    ``ConfigError`` names the flag (or the configured key) whose value does not fit.
    """
    given = {"shard_ids": shard_ids, "shard_count": shard_count}
    given = {key: value for key, value in given.items() if value is not None}
    if not given:
        return config
    try:
        discord = DiscordSettings.model_validate({**config.discord.model_dump(), **given})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = str(error["loc"][0])
            where = (
                f"{_SHARD_FLAGS[key]} {given[key]}"
                if key in given
                else f"discord.{key} = {error.get('input')!r} (configured)"
            )
            problems.append(f"{where}: {error['msg']}")
        raise ConfigError(problems) from None
    return _named_after_shards(
        config.model_copy(update={"discord": discord}), config.discord.shard_ids
    )
