"""``python -m fakes.imgur --host 127.0.0.1 --port 8089 --seed 1337``"""

from __future__ import annotations

import argparse

from fakes.imgur.app import run
from fakes.imgur.clock import ManualClock


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fakes.imgur", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--items", type=int, default=3000, help="gallery posts to generate")
    parser.add_argument("--public-url", default=None, help="base of returned links")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per call")
    parser.add_argument("--client-limit", type=int, default=12_500)
    parser.add_argument("--user-limit", type=int, default=500)
    parser.add_argument("--post-limit", type=int, default=1_250)
    parser.add_argument("--upload-limit", type=int, default=50)
    parser.add_argument("--rate-limit-shape", choices=("classic", "errors"), default="classic")
    parser.add_argument("--user-reset", choices=("relative", "epoch"), default="relative")
    parser.add_argument(
        "--rate-headers",
        choices=("modern", "2017"),
        default="modern",
        help="rate-limit header spelling: lower-case as Imgur sends since 2024, or 2017's",
    )
    parser.add_argument("--rapidapi-key", default=None)
    parser.add_argument(
        "--fake-clock",
        action="store_true",
        help="time stands still until POST /_emulator/clock moves it (simulated days)",
    )
    parser.add_argument(
        "--keepalive-timeout",
        type=float,
        default=75.0,
        help="seconds before an idle keep-alive connection is closed",
    )
    parser.add_argument(
        "--admin-token",
        default=None,
        help="secret that unlocks /_emulator from any host (default: $IMGUR_EMULATOR_ADMIN_TOKEN;"
        " the environment keeps it out of the process list)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    extra: dict = {"clock": ManualClock()} if args.fake_clock else {}
    if args.admin_token:
        extra["admin_token"] = args.admin_token
    try:
        run(
            args.host,
            args.port,
            seed=args.seed,
            item_count=args.items,
            public_url=args.public_url,
            latency=args.latency,
            client_daily_limit=args.client_limit,
            user_hourly_limit=args.user_limit,
            post_hourly_limit=args.post_limit,
            upload_hourly_limit=args.upload_limit,
            rate_limit_429_shape=args.rate_limit_shape,
            user_reset_mode=args.user_reset,
            rate_header_style=args.rate_headers,
            rapidapi_key=args.rapidapi_key,
            keepalive_timeout=args.keepalive_timeout,
            **extra,
        )
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
