"""Scheduled front-page highlights: Imgur's best posted into channels on a schedule.

- ``schedule.py`` reads schedules ("daily 09:00", "every 6h", "weekdays 18:30", cron) into
  APScheduler triggers in a time zone, and does the slot maths (``due_run``);
- ``sources.py`` what a feed reads on Imgur (one request shared by all feeds that read it)
  and which items it picks;
- ``feeds.py`` the tables (feeds, claimed slots, what was posted where) and their queries;
- ``message.py`` one post: a header line and up to ten embeds;
- ``outlet.py`` the Discord side: may the bot post in a channel, post, tell a server;
- ``pacing.py`` keeping the bot's own posts under Discord's global rate limit;
- ``engine.py`` the engine that ties them together (``run_due(now)``).

The cog (``cogs/highlights.py``) is the ``/highlights`` commands over ``bot.highlights``.
"""

from bot.highlights.engine import HighlightsEngine, RunReport
from bot.highlights.feeds import Feed, FeedSettings
from bot.highlights.outlet import ChannelProblem, DiscordOutlet
from bot.highlights.sources import Source

__all__ = [
    "ChannelProblem",
    "DiscordOutlet",
    "Feed",
    "FeedSettings",
    "HighlightsEngine",
    "RunReport",
    "Source",
]
