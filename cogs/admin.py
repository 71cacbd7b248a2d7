"""``/imgur-admin …``: the bot owner's controls over the shared Imgur budget.

The owner check is a real check run on every call (``bot.is_owner``: the application's
owner or team, plus ``[discord] owner_ids``), not only a default-permissions hint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.replies import NO_MENTIONS, echo, relative_time
from bot.errors import BadInput

if TYPE_CHECKING:
    from bot.app import ImgurBot

    Interaction = discord.Interaction[ImgurBot]
else:
    Interaction = discord.Interaction


class NotOwner(app_commands.CheckFailure):
    def __init__(self) -> None:
        super().__init__("Only the bot's owner can use this command.")


async def owner_only(interaction: Interaction) -> bool:
    if await interaction.client.is_owner(interaction.user):
        return True
    raise NotOwner()


def parse_guild_id(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise BadInput(
            f"“{echo(text)}” is not a server id: turn on Developer Mode in Discord's settings, "
            "then right-click the server and choose Copy Server ID."
        ) from None
    if value <= 0:
        raise BadInput("A server id is a positive number.")
    return value


@app_commands.default_permissions(administrator=True)
class Admin(commands.GroupCog, group_name="imgur-admin", group_description="Bot owner only"):
    quota = app_commands.Group(name="quota", description="Per-server Imgur allowances")

    def __init__(self, bot: ImgurBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: Interaction) -> bool:
        # Runs for every command of this cog; default_permissions above is only a hint.
        return await owner_only(interaction)

    @quota.command(name="set", description="Set or clear a server's daily Imgur allowance")
    @app_commands.describe(
        guild="the server id",
        allowance="credits a day; leave empty to return to the fair share",
    )
    async def quota_set(
        self,
        interaction: Interaction,
        guild: str,
        allowance: app_commands.Range[int, 0, 1_000_000] | None = None,
    ) -> None:
        guild_id = parse_guild_id(guild)
        await self.bot.ledger.set_allowance(guild_id, allowance)
        status = await self.bot.ledger.guild_status(guild_id)
        what = (
            f"{allowance:,} credits a day"
            if allowance is not None
            else f"the fair share ({status.allowance:,} credits a day now)"
        )
        await interaction.response.send_message(
            f"Server `{guild_id}` now gets {what}; it has used {status.used:,} today.",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @app_commands.command(name="usage", description="Imgur usage today across every server")
    async def usage(self, interaction: Interaction) -> None:
        usage = await self.bot.ledger.usage(top=10)
        embed = discord.Embed(title="Imgur usage today", colour=discord.Colour.blurple())
        embed.add_field(
            name="Budget",
            value=(
                f"{usage.used_total:,} of {usage.client_limit:,} credits used "
                f"(servers' pool {usage.guild_pool:,}, scheduler {usage.scheduler_used:,}"
                f"/{usage.scheduler_pool:,}, safety reserve {usage.safety_reserve:,})\n"
                f"Imgur says {_maybe(usage.client_credits_left)} left · "
                f"resets {relative_time(usage.resets_at)}"
            ),
            inline=False,
        )
        top = "\n".join(f"`{g.guild_id}` {g.used:,} / {g.allowance:,}" for g in usage.top_guilds)
        embed.add_field(
            name=f"Busiest servers ({usage.active_guilds} active)",
            value=top or "No server used Imgur today.",
            inline=False,
        )
        breakers = "\n".join(
            f"{scope}: open until {relative_time(until)}" for scope, until in usage.breakers.items()
        )
        embed.add_field(name="Breakers", value=breakers or "all closed", inline=False)
        hits = usage.limit_hits_this_month
        embed.add_field(
            name="Daily limit hits this month",
            value=f"{hits} of 5 (five block the Imgur app for the rest of the month)",
            inline=False,
        )
        if self.bot.failed_extensions:
            embed.add_field(
                name="Cogs that failed to load",
                value="\n".join(self.bot.failed_extensions)[:1024],
                inline=False,
            )
        await interaction.response.send_message(
            embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS
        )


def _maybe(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


async def setup(bot: ImgurBot) -> None:
    await bot.add_cog(Admin(bot))
