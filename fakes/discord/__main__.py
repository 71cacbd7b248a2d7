"""Run the fake Discord on its own, for the offline sandbox or a manual try::

    python -m fakes.discord --port 8090 --token sandbox-token

It makes one server with a safe and an age-restricted channel, prints the settings that point
the bot at it, and serves until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from .server import FakeDiscord


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fakes.discord", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--token", default="sandbox-token", help="the bot token it accepts")
    parser.add_argument("--guild", default="Sandbox")
    parser.add_argument("--channel", action="append", default=None, help="(repeatable)")
    parser.add_argument("--nsfw-channel", action="append", default=None, help="(repeatable)")
    parser.add_argument(
        "--no-deadline", action="store_true", help="let the bot take longer than 3 s to answer"
    )
    return parser.parse_args(argv)


def build(args: argparse.Namespace) -> FakeDiscord:
    """A fake with the world the arguments describe (not started)."""
    fd = FakeDiscord(
        args.token,
        host=args.host,
        port=args.port,
        interaction_deadline=None if args.no_deadline else 3.0,
    )
    guild = fd.add_guild(args.guild)
    for name in args.channel or ["general"]:
        fd.add_channel(guild, name)
    for name in args.nsfw_channel or ["nsfw"]:
        fd.add_channel(guild, name, nsfw=True)
    return fd


def settings(fd: FakeDiscord) -> str:
    return (
        "[discord]\n"
        f'api_base_url = "{fd.rest_url}"\n'
        f'gateway_url = "{fd.gateway_url}"\n'
        f"# token: {fd.token}"
    )


async def serve(args: argparse.Namespace) -> None:
    async with build(args) as fd:
        print(settings(fd), flush=True)
        await fd.run()


def main(argv: list[str] | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
