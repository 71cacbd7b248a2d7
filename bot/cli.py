"""The ``imgurbot`` command line: run, check, sync, emulator, gallery.

Every failure a person can cause (a bad config, a missing secret, an unreachable service)
ends with a short message and a non-zero status, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config import Config, ConfigError, default_config_path, load_config
from bot.imgur.vocab import GALLERY_SORTS, SECTIONS, WINDOWS
from bot.logs import setup_logging

log = logging.getLogger("imgurbot")

EXIT_CONFIG = 2
EXIT_FAILED = 1

MISSING_DISCORD = (
    "DISCORD_TOKEN is not set, so the bot cannot log in to Discord.\n"
    "  Set DISCORD_TOKEN (or DISCORD_TOKEN_FILE) to your bot's token from the Discord developer\n"
    "  portal, and IMGUR_CLIENT_ID to your Imgur application's Client-ID (api.imgur.com/oauth2).\n"
    "  Meanwhile, here is the bot's Imgur side working against the built-in Imgur emulator:"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imgurbot",
        description="A self-hosted Discord bot for Imgur: browse and search Imgur from Discord.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="TOML config file (default: $IMGURBOT_CONFIG or ./config.toml)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sub.add_parser("run", help="start the bot", description="Start the bot.")

    check = sub.add_parser(
        "check",
        help="validate the configuration",
        description="Validate the configuration and that the database path is writable.",
    )
    check.add_argument(
        "--online",
        action="store_true",
        help="also verify the Discord token and the Imgur client id with one call each",
    )

    sync = sub.add_parser(
        "sync",
        help="sync slash commands",
        description="Sync slash commands globally (may take an hour to show) or to one guild.",
    )
    sync.add_argument("--guild", type=int, default=None, help="sync to this guild id only")

    emu = sub.add_parser(
        "emulator",
        help="run the Imgur emulator",
        description="Run the Imgur API emulator (for offline development and tests).",
    )
    emu.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    emu.add_argument("--port", type=int, default=None, help="port (default 8089)")
    emu.add_argument("--seed", type=int, default=None, help="seed for the synthetic catalogue")

    gallery = sub.add_parser(
        "gallery",
        help="print the Imgur front page",
        description="Print the front page the way the seed example does: one link per line.",
    )
    gallery.add_argument("--section", default="hot", choices=SECTIONS)
    gallery.add_argument("--sort", default="viral", choices=GALLERY_SORTS)
    gallery.add_argument("--window", default="day", choices=WINDOWS)
    gallery.add_argument("--page", type=int, default=0)
    gallery.add_argument(
        "--emulator",
        action="store_true",
        help="ask the built-in Imgur emulator instead of Imgur",
    )
    return parser


def _load(args: argparse.Namespace) -> Config:
    explicit = args.config is not None
    path = args.config if explicit else default_config_path()
    if not explicit and not Path(path).exists():
        # No config file at all is fine: defaults plus environment.
        return load_config(None)
    return load_config(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = _load(args)
    except ConfigError as exc:
        print("imgurbot: invalid configuration:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(config.logging, config.secrets)
    handlers = {
        "run": cmd_run,
        "check": cmd_check,
        "sync": cmd_sync,
        "emulator": cmd_emulator,
        "gallery": cmd_gallery,
    }
    try:
        return handlers[args.command](config, args)
    except KeyboardInterrupt:
        return 130


# -- subcommands ---------------------------------------------------------------------------


def cmd_run(config: Config, args: argparse.Namespace) -> int:
    if config.secrets.discord_token is None:
        print(MISSING_DISCORD, file=sys.stderr)
        return asyncio.run(_print_gallery(config, "hot", "viral", "day", 0, force_emulator=True))
    from bot.app import run_bot

    return asyncio.run(run_bot(config))


def check_database(config: Config) -> str | None:
    """Return a problem line when the database cannot be created or written, else None."""
    path = config.store.path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path, timeout=config.store.busy_timeout_ms / 1000) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS _imgurbot_check (x)")
            conn.execute("DROP TABLE _imgurbot_check")
        conn.close()
    except (OSError, sqlite3.Error) as exc:
        return f"store.path = {str(path)!r}: not writable ({exc}); choose a writable location"
    return None


def cmd_check(config: Config, args: argparse.Namespace) -> int:
    problem = check_database(config)
    if problem:
        print(f"imgurbot: {problem}", file=sys.stderr)
        return EXIT_FAILED
    where = config.source or "defaults (no config file)"
    print(f"config ok ({where}); database {config.store.path} writable")
    missing = [
        name
        for name, value in (
            ("DISCORD_TOKEN", config.secrets.discord_token),
            ("IMGUR_CLIENT_ID", config.secrets.imgur_client_id),
        )
        if value is None
    ]
    if missing:
        print(f"not set: {', '.join(missing)} (needed to talk to Discord and Imgur)")
    if not args.online:
        return 0
    if missing:
        print("imgurbot: --online needs both secrets set", file=sys.stderr)
        return EXIT_FAILED
    from bot.online import check_online

    return asyncio.run(check_online(config))


def cmd_sync(config: Config, args: argparse.Namespace) -> int:
    if config.secrets.discord_token is None:
        print("imgurbot: set DISCORD_TOKEN to sync commands", file=sys.stderr)
        return EXIT_FAILED
    from bot.app import sync_commands

    return asyncio.run(sync_commands(config, args.guild))


def cmd_emulator(config: Config, args: argparse.Namespace) -> int:
    from fakes.imgur.app import run

    host = args.host or config.emulator.host
    port = config.emulator.port if args.port is None else args.port
    seed = config.emulator.seed if args.seed is None else args.seed
    run(host=host, port=port, seed=seed, public_url=config.emulator.public_url)
    return 0


def cmd_gallery(config: Config, args: argparse.Namespace) -> int:
    return asyncio.run(
        _print_gallery(
            config, args.section, args.sort, args.window, args.page, force_emulator=args.emulator
        )
    )


async def _print_gallery(
    config: Config, section: str, sort: str, window: str, page: int, *, force_emulator: bool
) -> int:
    from bot.imgur import sansio
    from bot.imgur.backend import open_imgur
    from bot.imgur.errors import ImgurError

    try:
        async with open_imgur(config, force_emulator=force_emulator) as backend:
            if backend.emulated:
                print(f"(Imgur emulator at {backend.base_url})", file=sys.stderr)
            items = await backend.client.get(sansio.gallery(section, sort, window, page))
    except ImgurError as exc:
        print(f"imgurbot: Imgur said: {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    except ValueError as exc:
        print(f"imgurbot: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    for item in items:
        print(item.link)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
