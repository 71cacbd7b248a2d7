"""The quota ledger: every Imgur call is charged here first.

``book.py`` holds the arithmetic (pure, synchronous: budgets, allowances, windows, breakers);
``ledger.py`` wraps it with persistence, Imgur's rate-limit headers and the audit.
"""

from bot.ledger.ledger import MIGRATIONS, Charge, GuildStatus, Health, Ledger, Usage

__all__ = ["MIGRATIONS", "Charge", "GuildStatus", "Health", "Ledger", "Usage"]
