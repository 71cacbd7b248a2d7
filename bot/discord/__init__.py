"""The bot's Discord-facing core: where discord.py is pointed, how errors become words,
and the shared presentation (pages, the paginator) that every cog uses."""
