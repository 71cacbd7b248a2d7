"""Configuration: defaults, overrides, secrets, and the one-line-per-problem errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bot.config import Config, ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]


def problems_of(tmp_path: Path, toml: str = "", env: dict[str, str] | None = None) -> list[str]:
    path = tmp_path / "config.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env or {})
    return caught.value.problems


def test_example_config_is_exactly_the_defaults():
    assert load_config(REPO / "config.example.toml", {}).model_dump() == Config().model_dump()


def test_example_config_documents_every_key():
    example = tomllib.loads((REPO / "config.example.toml").read_text())
    text = (REPO / "config.example.toml").read_text()
    for section, model in Config.model_fields.items():
        if section in ("secrets", "source"):
            continue
        for key in model.annotation.model_fields:
            documented = key in example.get(section, {}) or f"# {key} =" in text
            assert documented, f"[{section}] {key} is missing from config.example.toml"


def test_env_overrides_parse_as_toml_values():
    config = load_config(
        None,
        {
            "IMGURBOT_LOGGING__LEVEL": "debug",
            "IMGURBOT_LEDGER__GUILD_FLOOR": "7",
            "IMGURBOT_CACHE__ENABLED": "false",
            "IMGURBOT_DISCORD__OWNER_IDS": "[1, 2]",
        },
    )
    assert config.logging.level == "DEBUG"
    assert config.ledger.guild_floor == 7
    assert config.cache.enabled is False
    assert config.discord.owner_ids == [1, 2]


def test_unknown_key_is_named(tmp_path):
    problems = problems_of(tmp_path, "[ledger]\nguild_flor = 3\n")
    assert problems == [
        "ledger.guild_flor: unknown setting (see config.example.toml for the allowed keys)"
    ]


def test_wrong_type_names_key_and_value(tmp_path):
    (problem,) = problems_of(tmp_path, '[imgur]\nmax_retries = "many"\n')
    assert problem.startswith("imgur.max_retries = 'many':")
    assert "integer" in problem


def test_bad_value_says_what_is_allowed(tmp_path):
    (problem,) = problems_of(tmp_path, '[imgur]\nuse_emulator = "sometimes"\n')
    assert "imgur.use_emulator = 'sometimes'" in problem
    assert "'auto'" in problem and "'never'" in problem


def test_every_problem_is_reported_at_once(tmp_path):
    problems = problems_of(
        tmp_path,
        "[ledger]\nsafety_reserve = 2.0\n[nope]\nx = 1\n",
        {"IMGURBOT_STORE__BUSY_TIMEOUT_MS": "-1"},
    )
    assert len(problems) == 3


def test_missing_file_is_a_clear_problem(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.toml", {})
    assert "does not exist" in caught.value.problems[0]


def test_invalid_toml_is_reported(tmp_path):
    assert "not valid TOML" in problems_of(tmp_path, "[ledger\n")[0]


def test_secret_in_the_file_is_refused(tmp_path):
    (problem,) = problems_of(tmp_path, 'discord_token = "abc"\n')
    assert "DISCORD_TOKEN" in problem and "abc" not in problem


def test_secrets_from_env_and_files_never_show_in_repr(tmp_path):
    secret_file = tmp_path / "imgur_id"
    secret_file.write_text("file-secret-value\n")
    config = load_config(
        None, {"DISCORD_TOKEN": "env-secret-value", "IMGUR_CLIENT_ID_FILE": str(secret_file)}
    )
    assert config.secrets.discord_token.get_secret_value() == "env-secret-value"
    assert config.secrets.imgur_client_id.get_secret_value() == "file-secret-value"
    for text in (repr(config), str(config), repr(config.secrets), config.model_dump_json()):
        assert "secret-value" not in text


def test_unreadable_secret_file_is_a_problem(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(None, {"DISCORD_TOKEN_FILE": str(tmp_path / "missing")})
    assert caught.value.problems[0].startswith("DISCORD_TOKEN_FILE: cannot read")


# -- cluster mode: [discord] shard_count and shard_ids -----------------------------------------


@pytest.mark.parametrize(
    ("toml", "count", "ids"),
    [
        ("", None, None),
        ('shard_count = "auto"', "auto", None),
        ("shard_count = 8", 8, None),
        ('shard_count = 8\nshard_ids = "0-3"', 8, [0, 1, 2, 3]),
        ('shard_count = 8\nshard_ids = "6,2"', 8, [2, 6]),
        ('shard_count = 8\nshard_ids = [7, "0-1"]', 8, [0, 1, 7]),
        ("shard_count = 8\nshard_ids = 5", 8, [5]),
    ],
)
def test_shard_settings_accept_a_count_and_ranges_or_lists_of_ids(tmp_path, toml, count, ids):
    path = tmp_path / "config.toml"
    path.write_text(f"[discord]\n{toml}\n")
    settings = load_config(path, {}).discord
    assert (settings.shard_count, settings.shard_ids) == (count, ids)
    assert settings.sharded == (count is not None)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('shard_ids = "0-3"', "discord.shard_ids = '0-3': shard ids need the shard count"),
        (
            'shard_count = "auto"\nshard_ids = "0-3"',
            'shard ids need a fixed shard_count, not "auto"',
        ),
        ('shard_count = 4\nshard_ids = "2-4"', "shard 4 does not exist with shard_count = 4"),
        ('shard_count = 4\nshard_ids = "3-1"', "the range '3-1' goes backwards"),
        ('shard_count = 4\nshard_ids = "1,1"', "shard 1 is listed twice"),
        ('shard_count = 4\nshard_ids = "0-"', "'0-' is not a shard id or a range of them"),
        ("shard_count = 0", "discord.shard_count = 0: the shard count is a whole number of 1"),
        ('shard_count = "many"', "the shard count is a whole number of 1 or more"),
    ],
)
def test_bad_shard_settings_say_what_is_wrong_on_one_line(tmp_path, toml, expected):
    problems = problems_of(tmp_path, f"[discord]\n{toml}\n")
    assert len(problems) == 1 and expected in problems[0], problems


def test_shard_flags_win_over_the_file_and_are_named_when_wrong(tmp_path):
    from bot.config import with_shards

    path = tmp_path / "config.toml"
    path.write_text('[discord]\nshard_count = 4\nshard_ids = "0-1"\n')
    config = load_config(path, {})
    assert with_shards(config, shard_ids=None, shard_count=None) is config
    moved = with_shards(config, shard_ids="2-3", shard_count=None).discord
    assert (moved.shard_count, moved.shard_ids) == (4, [2, 3])
    grown = with_shards(config, shard_ids="4-7", shard_count="8").discord
    assert (grown.shard_count, grown.shard_ids) == (8, [4, 5, 6, 7])
    with pytest.raises(ConfigError) as caught:
        with_shards(config, shard_ids="4", shard_count=None)
    assert caught.value.problems == [
        "--shards 4: shard 4 does not exist with shard_count = 4: shard ids go from 0 to 3"
    ]
    with pytest.raises(ConfigError) as caught:
        with_shards(config, shard_ids=None, shard_count="1")
    assert caught.value.problems == [
        "discord.shard_ids = [0, 1] (configured): shard 1 does not exist with shard_count = 1: "
        "shard ids go from 0 to 0"
    ]


def test_a_store_url_must_be_postgresql_and_hold_no_password(tmp_path):
    (wrong,) = problems_of(tmp_path, '[store]\nurl = "mysql://bot@db/imgurbot"\n')
    assert wrong.startswith("store.url = ") and "PostgreSQL" in wrong and "mysql://" in wrong
    (secret,) = problems_of(tmp_path, '[store]\nurl = "postgresql://bot:hunter2@db/imgurbot"\n')
    assert "PGPASSWORD" in secret and "hunter2" not in secret and "bot:***@db" in secret
    env = {"IMGURBOT_STORE__URL": '"postgresql://bot:hunter2@db/imgurbot"'}
    (secret,) = problems_of(tmp_path, env=env)
    assert "IMGURBOT_STORE__URL" in secret and "hunter2" not in secret
    url = "postgresql://bot@db:5432/imgurbot"
    config = load_config(None, {"IMGURBOT_STORE__URL": f'"{url}"'})
    assert config.store.url == url


def test_a_process_is_named_after_its_shards_unless_named(tmp_path):
    from bot.config import shard_process_name, with_shards

    assert shard_process_name([0, 1, 2, 3]) == "shards-0-3"
    assert shard_process_name([0, 2, 5, 6, 7]) == "shards-0,2,5-7"
    path = tmp_path / "config.toml"
    path.write_text('[discord]\nshard_count = 8\nshard_ids = "0-3"\n')
    config = load_config(path, {})
    assert config.store.process_name == "shards-0-3"
    # --shards renames a process named after its configured shards...
    moved = with_shards(config, shard_ids="4-7", shard_count=None)
    assert moved.store.process_name == "shards-4-7"
    # ...but never one the admin named.
    named = load_config(path, {"IMGURBOT_STORE__PROCESS_NAME": "east"})
    assert named.store.process_name == "east"
    assert with_shards(named, shard_ids="4-7", shard_count=None).store.process_name == "east"
    assert load_config(None, {}).store.process_name is None  # one process: "bot"
    flags_only = with_shards(load_config(None, {}), shard_ids="0,1", shard_count="4")
    assert flags_only.store.process_name == "shards-0-1"


def test_the_postgresql_password_is_a_secret_read_from_a_file_too(tmp_path):
    secret = tmp_path / "pgpassword"
    secret.write_text("s3cret-pg\n")
    config = load_config(None, {"PGPASSWORD_FILE": str(secret)})
    assert config.secrets.pgpassword.get_secret_value() == "s3cret-pg"
    assert "s3cret-pg" not in repr(config) + repr(config.secrets)
    (problem,) = problems_of(tmp_path, '[store]\npgpassword = "s3cret-pg"\n')
    assert "PGPASSWORD" in problem and "s3cret-pg" not in problem
