"""A faithful, offline Imgur API v3 emulator (see ``app.py`` for the entry points)."""

from fakes.imgur.app import Emulator, make_app, run
from fakes.imgur.config import EmulatorConfig

__all__ = ["Emulator", "EmulatorConfig", "make_app", "run"]
