"""The ``imgurbot`` command line: run, check, sync, invite, emulator, sandbox, gallery.

Every failure a person can cause (a bad config, a missing secret, an unreachable service, a
database that cannot be used, a second bot on the same database, Ctrl-C) ends with one or two
lines that say what is wrong and what to do, and a distinct exit status
(``bot.failures.ExitStatus``, listed by ``imgurbot --help`` and in the README), never a
traceback. Only a bug keeps its traceback (status 1).

Only the standard library and ``bot.failures`` are imported at the top: discord.py, pydantic
and aiohttp take a second to import, and Ctrl-C during that second must end in a sentence too.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.failures import MEANING, NEEDS_THE_ADMIN, ExitStatus, Failure

if TYPE_CHECKING:
    from bot.config import Config, ConfigError

log = logging.getLogger("imgurbot")
PROCESS_STARTED = time.monotonic()  # as near the start as this module can note it

DEMO_HEADER = (
    "imgurbot: DISCORD_TOKEN is not set, so here is a demo instead of the bot: the front page "
    "of the built-in Imgur emulator (made-up posts):"
)
DEMO_NOTE = (
    "imgurbot: that was the demo; its 127.0.0.1 links stopped working when it ended.\n"
    "  To run the bot, set DISCORD_TOKEN (README, 'Create the bot') and IMGUR_CLIENT_ID "
    "(README, 'The Imgur Client-ID'), in .env for `make run`, then start it again."
)


def port_number(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is out of range (0-65535; 0 picks a free port)")
    return port


def _exit_statuses() -> str:
    rows = "\n".join(f"  {int(status):>3}  {MEANING[status]}" for status in ExitStatus)
    return f"exit statuses:\n{rows}"


def build_parser() -> argparse.ArgumentParser:
    from bot.imgur.vocab import GALLERY_SORTS, SECTIONS, WINDOWS

    parser = argparse.ArgumentParser(
        prog="imgurbot",
        description="A self-hosted Discord bot for Imgur: browse and search Imgur from Discord.",
        epilog=_exit_statuses(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="TOML config file, before the subcommand (default: $IMGURBOT_CONFIG, else "
        "./config.toml if it exists, else the defaults)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser(
        "run",
        help="start the bot",
        description="Start the bot: log the invite link, publish the slash commands if they "
        "changed, answer until SIGTERM or Ctrl-C. Without DISCORD_TOKEN, show a demo instead.",
    )
    run.add_argument(
        "--shards",
        default=None,
        metavar="IDS",
        help='the shards this process runs: a range "0-3" or ids "0,2" (over [discord] '
        "shard_ids; needs a shard count)",
    )
    run.add_argument(
        "--shard-count",
        default=None,
        metavar="N",
        help='the total number of shards across every process, or "auto" (over [discord] '
        "shard_count)",
    )

    check = sub.add_parser(
        "check",
        help="validate the configuration",
        description="Say what `imgurbot run` would refuse (configuration, secrets, database).",
    )
    check.add_argument(
        "--online",
        action="store_true",
        help="also verify the Discord token and the Imgur client id with one call each",
    )
    check.add_argument(
        "--health",
        action="store_true",
        help="is the running bot healthy (gateway connected, database writable)? "
        "Exit 0 if so, else 1 (the Docker HEALTHCHECK)",
    )

    sync = sub.add_parser(
        "sync",
        help="sync slash commands now",
        description="Publish the slash commands now, globally (may take a minute to show) or "
        "to one server. `imgurbot run` does it by itself when they changed.",
    )
    sync.add_argument("--guild", type=int, default=None, help="sync to this server id only")

    invite = sub.add_parser(
        "invite",
        help="print the link that adds the bot to a server",
        description="Print the invite link: scopes bot and applications.commands, and the "
        "permissions the bot uses. `imgurbot run` logs it at every start too.",
    )
    invite.add_argument("--guild", type=int, default=None, help="choose this server in advance")

    move = sub.add_parser(
        "migrate",
        help="copy the SQLite database into PostgreSQL",
        description="Copy everything the bot keeps in its SQLite file ([store] path) into the "
        "PostgreSQL database named by [store] url, in one transaction, then compare the "
        "totals. Safe to run again. Stop the bot first.",
    )
    move.add_argument("--from", dest="source", type=Path, default=None,
                      help="the SQLite file (default: [store] path)")  # fmt: skip
    move.add_argument("--to", dest="target", default=None,
                      help="the PostgreSQL address (default: [store] url)")  # fmt: skip

    emu = sub.add_parser(
        "emulator",
        help="run the Imgur emulator",
        description="Run the Imgur API emulator (for offline development and tests).",
    )
    emu.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    emu.add_argument("--port", type=port_number, default=None, help="port (default 8089)")
    emu.add_argument("--seed", type=int, default=None, help="seed for the synthetic catalogue")

    sandbox = sub.add_parser(
        "sandbox",
        help="try the bot in a browser, offline",
        description="Start the Imgur emulator, a fake Discord and the real bot, and serve a "
        "page that looks like a Discord channel: try every command with no account. Needs no "
        "configuration or secret.",
    )
    sandbox.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1, this machine only; 0.0.0.0 inside a "
        "container, with the port published to the host's 127.0.0.1)",
    )
    sandbox.add_argument("--port", type=port_number, default=8080, help="port (default 8080)")
    sandbox.add_argument("--open", action="store_true", help="open the page in a browser")

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


def say(failure: Failure) -> None:
    """Print a failure for a person at a terminal: ``imgurbot: what`` then ``  what to do``."""
    first, *rest = failure.lines
    print(f"imgurbot: {first}", file=sys.stderr)
    for line in rest:
        print(f"  {line}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("imgurbot: interrupted", file=sys.stderr)
        return ExitStatus.INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        misplaced = _misplaced_config(extra)
        if misplaced is not None:
            say(
                Failure(
                    ExitStatus.CONFIG,
                    "--config goes before the subcommand:",
                    f"imgurbot --config {misplaced} {args.command} ...",
                )
            )
            return ExitStatus.CONFIG
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    status = _run_command(args)
    if args.command == "check" and args.health and status != ExitStatus.OK:
        return 1  # Docker reads 1 as unhealthy and reserves 2
    return status


def say_invalid(exc: ConfigError) -> int:
    print("imgurbot: invalid configuration:", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)
    return ExitStatus.CONFIG


def _misplaced_config(extra: list[str]) -> str | None:
    """The path of a ``--config`` given after the subcommand, if there is one."""
    for i, arg in enumerate(extra):
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
        if arg == "--config":
            return extra[i + 1] if i + 1 < len(extra) else "PATH"
    return None


def _run_command(args: argparse.Namespace) -> int:
    from bot.config import ConfigError, load_config
    from bot.logs import setup_logging

    try:
        config = load_config(_config_path(args))
    except Failure as failure:
        say(failure)
        return failure.status
    except ConfigError as exc:
        return say_invalid(exc)
    try:
        setup_logging(config.logging, config.secrets)
    except OSError as exc:
        say(
            Failure(
                ExitStatus.STORAGE,
                f"[logging] file = {str(config.logging.file)!r} cannot be written "
                f"({exc.strerror or exc}); choose a writable path, or leave it unset.",
            )
        )
        return ExitStatus.STORAGE
    handlers = {
        "run": cmd_run,
        "check": cmd_check,
        "sync": cmd_sync,
        "invite": cmd_invite,
        "migrate": cmd_migrate,
        "emulator": cmd_emulator,
        "sandbox": cmd_sandbox,
        "gallery": cmd_gallery,
    }
    try:
        return handlers[args.command](config, args)
    except Failure as failure:
        say(failure)
        return failure.status


def _config_path(args: argparse.Namespace) -> Path | None:
    """The file to read: --config, else $IMGURBOT_CONFIG, else ./config.toml if it exists.

    A file named by --config or IMGURBOT_CONFIG must exist: a typo there must not quietly
    run the bot on defaults.
    """
    if args.config is not None:
        path, origin = args.config, "--config"
    elif os.environ.get("IMGURBOT_CONFIG"):
        path, origin = Path(os.environ["IMGURBOT_CONFIG"]), "IMGURBOT_CONFIG"
    else:
        default = Path("config.toml")
        return default if default.exists() else None
    if not path.exists():
        undo = "or unset IMGURBOT_CONFIG" if origin == "IMGURBOT_CONFIG" else "or fix the path"
        raise Failure(
            ExitStatus.CONFIG,
            f"config file {str(path)!r} (from {origin}) does not exist.",
            f"Create it (cp config.example.toml {path}) {undo}.",
        )
    return path


# -- run ------------------------------------------------------------------------------------


def cmd_run(config: Config, args: argparse.Namespace) -> int:
    from bot.config import ConfigError, with_shards

    try:
        config = with_shards(config, shard_ids=args.shards, shard_count=args.shard_count)
    except ConfigError as exc:
        return say_invalid(exc)
    if config.secrets.discord_token is None and not config.run.supervised:
        return run_demo(config)
    try:
        for failure in config_failures(config):
            raise failure  # before importing discord.py: a mistake is told at once
        from bot.app import run_bot

        return asyncio.run(run_bot(config))
    except Failure as failure:
        log.error("%s", "\n  ".join(failure.lines))
        if config.run.supervised and failure.status in NEEDS_THE_ADMIN:
            stay_up_until_stopped()
        return failure.status


def stay_up_until_stopped() -> None:
    """Wait for SIGTERM or SIGINT without retrying (``[run] supervised``).

    A supervisor that restarts on every exit would otherwise loop on a mistake that only the
    admin can fix. Up and unhealthy (``imgurbot check --health`` says why), the container
    shows the problem without flooding the log.
    """
    import signal

    stop = {signal.SIGINT, signal.SIGTERM}
    # Blocked before saying so, so that a stop right after the line is waited for here; and
    # as PID 1 in a container, the default actions would be ignored anyway.
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    log.error(
        "not retrying: staying up, unhealthy, until stopped ([run] supervised); fix the "
        "problem above, then restart (docker compose up -d)"
    )
    signal.sigwait(stop)


def run_demo(config: Config) -> int:
    """Without a Discord token: show the Imgur side working against the emulator."""
    print(DEMO_HEADER, file=sys.stderr, flush=True)
    status = asyncio.run(
        _print_gallery(config, "hot", "viral", "day", 0, force_emulator=True, announce=False)
    )
    sys.stdout.flush()  # the note comes after the links, where it does not scroll away
    print(DEMO_NOTE, file=sys.stderr)
    return status


# -- check ----------------------------------------------------------------------------------


def config_failures(config: Config) -> list[Failure]:
    """What ``run`` would refuse before touching the database or the network."""
    from bot.preflight import missing_token, run_failures

    failures = []
    if config.secrets.discord_token is None and config.run.supervised:
        failures.append(missing_token())
    return failures + run_failures(config)


def cmd_check(config: Config, args: argparse.Namespace) -> int:
    if args.health:
        return check_health(config)
    from bot.preflight import diagnose_store, missing_token

    failures = config_failures(config)
    storage = diagnose_store(config.store, config.secrets.pgpassword)
    if storage is not None:
        failures.append(storage)
    for failure in failures:
        say(failure)
    if not failures:
        where = config.source or "defaults (no config file)"
        print(f"config ok ({where}); database {config.store.path} writable")
    if config.secrets.discord_token is None and not config.run.supervised:
        print("not set: DISCORD_TOKEN (`imgurbot run` shows a demo and exits)")
    if args.online and not failures:
        if config.secrets.discord_token is None:
            failures.append(missing_token())
            say(failures[-1])
        else:
            from bot.online import check_online

            online = asyncio.run(check_online(config))
            for failure in online:
                say(failure)
            failures.extend(online)
    return failures[0].status if failures else ExitStatus.OK


def check_health(config: Config) -> int:
    """``check --health``: the configuration as ``check`` sees it, then the running bot's
    ``/healthz`` when ``[metrics] port`` is set, else the heartbeat it writes."""
    import time

    from bot.health import describe_healthy, health_path, judge, read_report
    from bot.preflight import diagnose_store

    failures = config_failures(config)
    now = time.time()
    if config.metrics.port:
        from bot.metrics import ask_healthz

        problems, healthy_words, store_judged = ask_healthz(config.metrics)
    else:
        report = read_report(health_path(config.store))
        problems = judge(report, now)
        healthy_words = "" if report is None else describe_healthy(report, now)
        store_judged = report is not None and report.store_problem is not None
    if problems and not store_judged:
        # Not running (or stuck): say why the database would stop it, if it would.
        storage = diagnose_store(config.store, config.secrets.pgpassword)
        if storage is not None:
            failures.append(storage)
    for failure in failures:
        say(failure)
    for problem in problems:
        print(f"imgurbot: unhealthy: {problem}", file=sys.stderr)
    if failures or problems:
        return 1
    print(healthy_words)
    return ExitStatus.OK


# -- sync and invite ------------------------------------------------------------------------


def cmd_sync(config: Config, args: argparse.Namespace) -> int:
    from bot.app import sync_commands

    print(asyncio.run(sync_commands(config, args.guild)))
    return ExitStatus.OK


def cmd_invite(config: Config, args: argparse.Namespace) -> int:
    from bot.app import EXTENSIONS
    from bot.invite import cog_classes, invite_url, permission_names, permissions_needed
    from bot.online import application_id
    from bot.preflight import missing_token

    if config.secrets.discord_token is None:
        raise missing_token()
    app_id = asyncio.run(application_id(config))
    permissions = permissions_needed(cog_classes(EXTENSIONS))
    print(
        "Open this link, choose your server (you need Manage Server there) and authorise. "
        f"Scopes: bot, applications.commands; permissions: "
        f"{', '.join(permission_names(permissions))}.",
        file=sys.stderr,
    )
    print(invite_url(app_id, permissions, args.guild))
    return ExitStatus.OK


def cmd_migrate(config: Config, args: argparse.Namespace) -> int:
    from bot.config import StoreSettings
    from bot.migrate import migrate

    target = args.target or config.store.url
    if not target:
        raise Failure(
            ExitStatus.CONFIG,
            "migrate needs the PostgreSQL database to copy into.",
            "Set [store] url (or IMGURBOT_STORE__URL), or pass --to postgresql://USER@HOST/DB.",
        )
    try:
        target = StoreSettings(url=target).url
    except ValueError as exc:
        raise Failure(ExitStatus.CONFIG, f"--to: {exc.errors()[0]['msg']}") from None
    source = config.store.model_copy(update={"url": None, "path": args.source or config.store.path})
    password = config.secrets.pgpassword
    done = asyncio.run(migrate(source, target, progress=print, password=password))
    for table, rows in done.already.items():
        print(f"{table}: {rows} row(s) already there")
    print(
        f"done: {sum(done.copied.values())} row(s) copied into {len(done.copied)} table(s), "
        f"{len(done.already)} table(s) already there; totals match. Set [store] url to "
        "start the bots on PostgreSQL."
    )
    return ExitStatus.OK


# -- emulator and gallery -------------------------------------------------------------------


def cmd_emulator(config: Config, args: argparse.Namespace) -> int:
    from fakes.imgur.app import run

    host = args.host or config.emulator.host
    port = config.emulator.port if args.port is None else args.port
    seed = config.emulator.seed if args.seed is None else args.seed
    try:
        run(host=host, port=port, seed=seed, public_url=config.emulator.public_url)
    except OSError as exc:
        raise _listen_failure(exc, host, port, "another emulator") from None
    return ExitStatus.OK


def _listen_failure(exc: OSError, host: str, port: int, who: str) -> Exception:
    """Why a server could not listen on ``host:port``, in words (else ``exc`` itself)."""
    import errno
    import socket

    if exc.errno == errno.EADDRINUSE:
        return Failure(
            ExitStatus.IN_USE,
            f"port {port} on {host} is already in use ({who}, or another program).",
            "Stop it, or choose another port with --port (0 picks a free one).",
        )
    if exc.errno == errno.EACCES:
        return Failure(
            ExitStatus.CONFIG,
            f"port {port} needs administrator rights on this machine; choose one above 1023.",
        )
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return Failure(
            ExitStatus.CONFIG,
            f"cannot listen on {host!r}: not an address of this machine "
            "(127.0.0.1 is this machine only, 0.0.0.0 every address).",
        )
    return exc


def cmd_sandbox(config: Config, args: argparse.Namespace) -> int:
    from bot.sandbox import serve_sandbox

    try:
        return asyncio.run(
            serve_sandbox(args.host, args.port, open_browser=args.open, since=PROCESS_STARTED)
        )
    except OSError as exc:
        raise _listen_failure(exc, args.host, args.port, "another sandbox") from None


def cmd_gallery(config: Config, args: argparse.Namespace) -> int:
    if not args.emulator:
        from bot.preflight import imgur_failure

        failure = imgur_failure(config)
        if failure is not None:
            raise failure
    return asyncio.run(
        _print_gallery(
            config, args.section, args.sort, args.window, args.page, force_emulator=args.emulator
        )
    )


async def _print_gallery(
    config: Config,
    section: str,
    sort: str,
    window: str,
    page: int,
    *,
    force_emulator: bool,
    announce: bool = True,
) -> int:
    from bot.imgur import sansio
    from bot.imgur.backend import open_imgur
    from bot.imgur.errors import AuthError, ImgurError, NoAnswer

    try:
        request = sansio.gallery(section, sort, window, page)
    except ValueError as exc:
        raise Failure(ExitStatus.CONFIG, str(exc)) from None
    async with open_imgur(config, force_emulator=force_emulator) as backend:
        if backend.emulated and announce:
            print(f"(Imgur emulator at {backend.base_url})", file=sys.stderr)
        try:
            items = await backend.client.get(request)
        except NoAnswer as exc:
            raise Failure(
                ExitStatus.UNREACHABLE,
                f"cannot reach Imgur at {backend.base_url} ({exc.message}).",
                "Check this machine's network, DNS and firewall, then try again.",
            ) from None
        except ImgurError as exc:
            status = ExitStatus.CONFIG if isinstance(exc, AuthError) else ExitStatus.UNREACHABLE
            raise Failure(status, f"Imgur said: {exc.message}") from None
    for item in items:
        print(item.link)
    return ExitStatus.OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
