"""The ``imgurbot`` command as a person runs it: help, configuration mistakes, the demo, check.

Each mistake is made the way an admin would make it, in a real process; the test reads the
words, the exit status, and that no traceback appears.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request

import pytest
from processes import assert_failure, clean_env, imgurbot, imgurbot_async

from bot.failures import ExitStatus

SUBCOMMANDS = ["run", "check", "sync", "invite", "emulator", "gallery"]
MARKER = "MARKER-d1sc0rd-t0ken-5ecret"


def test_top_level_help_lists_every_subcommand_and_the_exit_statuses():
    result = imgurbot("--help")
    assert result.returncode == 0
    for name in SUBCOMMANDS:
        assert name in result.stdout
    for status in ExitStatus:
        assert re.search(rf"^\s+{int(status)}\s+\w", result.stdout, re.M), status


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_help(name):
    result = imgurbot(name, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: imgurbot {name}")


# -- configuration mistakes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[ledger]\nguild_flor = 1\n", "ledger.guild_flor: unknown setting"),
        ('[imgur]\nmax_retries = "lots"\n', "imgur.max_retries = 'lots'"),
        ("[cache]\nttl_search_s = -5\n", "cache.ttl_search_s = -5"),
    ],
)
def test_bad_config_exits_2_naming_the_key(tmp_path, toml, expected):
    config = tmp_path / "config.toml"
    config.write_text(toml)
    result = imgurbot("--config", str(config), "check")
    assert_failure(result, ExitStatus.CONFIG, "invalid configuration", expected)


def test_a_config_file_named_by_the_option_must_exist(tmp_path):
    result = imgurbot("--config", str(tmp_path / "absent.toml"), "check")
    assert_failure(result, ExitStatus.CONFIG, "absent.toml' (from --config) does not exist")


def test_a_config_file_named_by_imgurbot_config_must_exist_not_fall_back_to_defaults(tmp_path):
    missing = tmp_path / "typo.toml"
    result = imgurbot("run", env={"IMGURBOT_CONFIG": str(missing)}, cwd=tmp_path)
    assert_failure(
        result, ExitStatus.CONFIG, "(from IMGURBOT_CONFIG) does not exist", "unset IMGURBOT_CONFIG"
    )
    assert result.stdout == ""  # no demo on defaults


def test_config_after_the_subcommand_gets_told_where_it_goes(tmp_path):
    result = imgurbot("check", "--config", "x.toml", cwd=tmp_path)
    assert_failure(
        result, ExitStatus.CONFIG, "--config goes before the subcommand", "imgurbot --config x.toml"
    )


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("IMGURBOT_DISCORD__OWNER_IDS", "42", "IMGURBOT_DISCORD__OWNER_IDS = '42'"),
        ("IMGURBOT_DISCORD__OWNER_IDS", "[abc]", "IMGURBOT_DISCORD__OWNER_IDS = '[abc]'"),
        ("IMGURBOT_LOGGING__LEVEL", "chatty", "IMGURBOT_LOGGING__LEVEL = 'chatty'"),
        ("IMGURBOT_LEDGER__GUILD_FLOR", "3", "IMGURBOT_LEDGER__GUILD_FLOR (ledger.guild_flor)"),
    ],
)
def test_a_bad_environment_override_names_the_variable(tmp_path, variable, value, expected):
    result = imgurbot("check", env={variable: value}, cwd=tmp_path)
    assert_failure(result, ExitStatus.CONFIG, "invalid configuration", expected)


def test_an_empty_override_means_not_set(tmp_path):
    # As docker's env files and a copied .env.example write them: KEY= with nothing after.
    result = imgurbot(
        "check", env={"IMGURBOT_DISCORD__DEV_GUILD_ID": "", "IMGURBOT_LOGGING__LEVEL": ""},
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "config ok" in result.stdout


@pytest.mark.parametrize(
    ("toml", "variable"),
    [
        (f'[discord]\ntoken = "{MARKER}"\n', "DISCORD_TOKEN"),
        (f'discord_token = "{MARKER}"\n', "DISCORD_TOKEN"),
        (f'[imgur]\nclient_id = "{MARKER}"\n', "IMGUR_CLIENT_ID"),
        (f'[secrets]\nrapidapi_key = "{MARKER}"\n', "RAPIDAPI_KEY"),
    ],
)
def test_a_secret_written_in_the_toml_gets_the_secrets_message(tmp_path, toml, variable):
    config = tmp_path / "config.toml"
    config.write_text(toml)
    result = imgurbot("--config", str(config), "check", cwd=tmp_path)
    assert_failure(result, ExitStatus.CONFIG, "secrets never go in the config file", variable)
    assert "unknown setting" not in result.stderr
    assert MARKER not in result.output


def test_a_secret_as_an_imgurbot_override_gets_the_secrets_message(tmp_path):
    result = imgurbot("check", env={"IMGURBOT_DISCORD__TOKEN": MARKER}, cwd=tmp_path)
    assert_failure(result, ExitStatus.CONFIG, "IMGURBOT_DISCORD__TOKEN", "set DISCORD_TOKEN")
    assert MARKER not in result.output


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"Bot {MARKER}", "DISCORD_TOKEN starts with 'Bot': set the value alone"),
        (f'"{MARKER}"', "DISCORD_TOKEN: the value is wrapped in quotes"),
        (f"'{MARKER}'", "DISCORD_TOKEN: the value is wrapped in quotes"),
    ],
)
def test_a_token_pasted_with_bot_or_quotes_is_recognised_and_explained(tmp_path, value, expected):
    result = imgurbot("run", env={"DISCORD_TOKEN": value, "IMGUR_CLIENT_ID": "x"}, cwd=tmp_path)
    assert_failure(result, ExitStatus.CONFIG, "invalid configuration", expected)
    assert MARKER not in result.output


def test_a_quoted_secret_in_a_docker_secret_file_is_explained_too(tmp_path):
    secret = tmp_path / "discord_token"
    secret.write_text(f'"{MARKER}"\n')
    result = imgurbot("check", env={"DISCORD_TOKEN_FILE": str(secret)}, cwd=tmp_path)
    assert_failure(result, ExitStatus.CONFIG, "DISCORD_TOKEN_FILE", "wrapped in quotes")
    assert MARKER not in result.output


def test_a_config_file_that_is_not_utf8_is_explained(tmp_path):
    config = tmp_path / "config.toml"
    config.write_bytes(b'[logging]\nlevel = "INFO" # caf\xe9\n')
    result = imgurbot("--config", str(config), "check", cwd=tmp_path)
    assert_failure(result, ExitStatus.CONFIG, "not UTF-8 text")


def test_a_log_file_that_cannot_be_written_is_a_storage_failure(tmp_path):
    (tmp_path / "blocker").write_text("a file, not a folder")
    result = imgurbot(
        "check", env={"IMGURBOT_LOGGING__FILE": f'"{tmp_path}/blocker/imgurbot.log"'},
        cwd=tmp_path,
    )  # fmt: skip
    assert_failure(result, ExitStatus.STORAGE, "[logging] file =", "cannot be written")


def test_check_never_shows_the_token_even_at_debug(tmp_path):
    log_file = tmp_path / "imgurbot.log"
    result = imgurbot(
        "check",
        env={
            "DISCORD_TOKEN": MARKER,
            "IMGUR_CLIENT_ID": "check-client",
            "IMGURBOT_LOGGING__LEVEL": "DEBUG",
            "IMGURBOT_LOGGING__FILE": f'"{log_file}"',
            "IMGURBOT_STORE__PATH": f'"{tmp_path / "db.sqlite"}"',
        },
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "config ok" in result.stdout
    assert log_file.exists()
    assert MARKER not in result.output + log_file.read_text()


def test_check_says_what_run_would_refuse_in_the_same_words(tmp_path):
    env = {"DISCORD_TOKEN": MARKER}  # a token, no Imgur Client-ID
    checked = imgurbot("check", env=env, cwd=tmp_path)
    ran = imgurbot("run", env=env, cwd=tmp_path)
    assert_failure(checked, ExitStatus.CONFIG, "IMGUR_CLIENT_ID is not", "use_emulator")
    assert_failure(ran, ExitStatus.CONFIG, "IMGUR_CLIENT_ID is not", "use_emulator")
    sentence = next(line for line in checked.stderr.splitlines() if "IMGUR_CLIENT_ID" in line)
    assert sentence.removeprefix("imgurbot: ") in ran.stderr


# -- the demo -------------------------------------------------------------------------------

SEED_IMAGE = re.compile(r"^http://127\.0\.0\.1:\d+/[A-Za-z0-9]{5,10}\.(jpg|png|gif|mp4|webm)$")
SEED_ALBUM = re.compile(r"^http://127\.0\.0\.1:\d+/a/[A-Za-z0-9]{5,10}$")


def test_run_without_a_token_labels_the_demo_and_says_what_to_set_after_the_links(tmp_path):
    # One stream, as a terminal shows it: the note must come after the links.
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=clean_env(), cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout
    assert "Traceback" not in done.stdout
    lines = done.stdout.splitlines()
    links = [i for i, line in enumerate(lines) if SEED_IMAGE.match(line) or SEED_ALBUM.match(line)]
    assert len(links) >= 20
    header = next(i for i, line in enumerate(lines) if "demo" in line)
    note = next(i for i, line in enumerate(lines) if "set DISCORD_TOKEN" in line)
    assert header < links[0] and links[-1] < note
    assert "made-up posts" in lines[header]
    assert "stopped working" in done.stdout  # the links are labelled for what they are


def test_gallery_from_the_emulator_prints_seed_shaped_links(tmp_path):
    result = imgurbot("gallery", "--emulator", "--section", "top", "--window", "week", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    links = result.stdout.split()
    assert len(links) == 60
    assert any(SEED_ALBUM.match(x) for x in links) and any(SEED_IMAGE.match(x) for x in links)


def test_gallery_bad_page_is_a_clear_error(tmp_path):
    result = imgurbot("gallery", "--emulator", "--page", "-1", cwd=tmp_path)
    assert_failure(result, ExitStatus.CONFIG, "page")


def test_emulator_subcommand_serves_the_api(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "emulator", "--port", "0", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env=clean_env(),
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        request = urllib.request.Request(
            f"{match.group(1)}/3/gallery/hot/viral/day/0",
            headers={"Authorization": "Client-ID cli-test"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.load(response)
        assert body["success"] is True and len(body["data"]) == 60
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


async def test_check_online_verifies_both_services_and_never_leaks_the_token(tmp_path):
    from fakes.discord import FakeDiscord
    from fakes.imgur.app import Emulator, EmulatorConfig

    log_file = tmp_path / "imgurbot.log"
    async with FakeDiscord(token=MARKER) as fd, Emulator(EmulatorConfig(seed=2)) as emu:
        env = {
            "DISCORD_TOKEN": MARKER,
            "IMGUR_CLIENT_ID": "online-check-client",
            "IMGURBOT_DISCORD__API_BASE_URL": fd.rest_url,
            "IMGURBOT_IMGUR__API_BASE_URL": emu.base_url,
            "IMGURBOT_IMGUR__USE_EMULATOR": "never",
            "IMGURBOT_LOGGING__LEVEL": "DEBUG",
            "IMGURBOT_LOGGING__FILE": f'"{log_file}"',
            "IMGURBOT_STORE__PATH": f'"{tmp_path / "db.sqlite"}"',
        }
        good = await imgurbot_async("check", "--online", env=env, cwd=tmp_path)
        assert good.returncode == 0, good.stderr
        assert "discord ok: logged in as" in good.stdout
        assert re.search(r"imgur ok: [\d,]+ of 12500 client credits left today", good.stdout)

        env["DISCORD_TOKEN"] = "wrong-" + MARKER
        wrong = await imgurbot_async("check", "--online", env=env, cwd=tmp_path)
        assert_failure(wrong, ExitStatus.CONFIG, "Discord refused DISCORD_TOKEN", "Reset Token")
    assert MARKER not in good.output + wrong.output + log_file.read_text()


def test_check_online_with_discord_unreachable_exits_3(tmp_path, closed_port):
    env = {
        "DISCORD_TOKEN": MARKER,
        "IMGURBOT_IMGUR__USE_EMULATOR": "always",
        "IMGURBOT_DISCORD__API_BASE_URL": f"http://127.0.0.1:{closed_port}/api/v10",
        "IMGURBOT_STORE__PATH": f'"{tmp_path / "db.sqlite"}"',
    }
    result = imgurbot("check", "--online", env=env, cwd=tmp_path)
    assert_failure(result, ExitStatus.UNREACHABLE, "cannot reach Discord", "connection refused")
    assert "imgur ok" in result.stdout  # the other service is still checked


async def test_check_online_says_whether_the_shared_cache_answers(
    tmp_path, closed_port, redis_prefix
):
    env = {
        "DISCORD_TOKEN": MARKER,
        "IMGURBOT_IMGUR__USE_EMULATOR": "always",
        "IMGURBOT_DISCORD__API_BASE_URL": f"http://127.0.0.1:{closed_port}/api/v10",
        "IMGURBOT_STORE__PATH": f'"{tmp_path / "db.sqlite"}"',
        "IMGURBOT_CACHE__REDIS_URL": redis_prefix[0],
    }
    up = await imgurbot_async("check", "--online", env=env, cwd=tmp_path)
    import redis.asyncio as aioredis

    from bot.imgur.shared_cache import describe_url

    assert f"redis ok: the shared cache at {describe_url(redis_prefix[0])} answers" in up.stdout
    redis = aioredis.Redis.from_url(redis_prefix[0])
    try:  # the check asked Imgur for today's credits, which are never shared
        assert not [k async for k in redis.scan_iter(match="imgurbot:cache:*:/3/credits")]
    finally:
        await redis.aclose()

    env["IMGURBOT_CACHE__REDIS_URL"] = f"redis://:hunter2@127.0.0.1:{closed_port}/0"
    down = await imgurbot_async("check", "--online", env=env, cwd=tmp_path)
    assert f"the shared cache at redis://127.0.0.1:{closed_port}/0 cannot be reached" in (
        down.stdout
    )
    assert "still runs" in down.stdout and "hunter2" not in down.output
    # Redis away is no failure (the bot runs without it): the status is Discord's alone.
    assert down.returncode == up.returncode == ExitStatus.UNREACHABLE
