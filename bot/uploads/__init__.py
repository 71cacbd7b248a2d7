"""Attachments on their way to Imgur: what they are, whether Imgur will take them.

The uploads service calls, per attachment::

    async with await intake.receive(response, filename=..., declared_size=...,
                                    limit=interaction.filesize_limit,
                                    executor=inspections) as upload:
        upload.info          # MediaInfo: real type, size, upload_name, width/height/frames
        ...charge the ledger, then send upload.open_chunks(on_progress=...) to Imgur

where ``inspections`` is a ``ThreadPoolExecutor(max_workers=2)`` the bot owns, and turns
``MediaRejected`` into its ``str()``, an ephemeral message. See ``intake`` for the
pipeline and why it goes through a temporary file, ``media`` for the checks.
"""

from bot.uploads.formats import MediaType, sniff
from bot.uploads.intake import TempMedia, download_to_temp, inspect_temp, receive
from bot.uploads.media import MediaInfo, MediaRejected, Refusal, clean_filename, inspect

__all__ = [
    "MediaInfo",
    "MediaRejected",
    "MediaType",
    "Refusal",
    "TempMedia",
    "clean_filename",
    "download_to_temp",
    "inspect",
    "inspect_temp",
    "receive",
    "sniff",
]
