"""Message bodies: parsing JSON or multipart requests, and turning them into messages.

discord.py sends a message body as JSON, or — when files are attached — as multipart with a
``payload_json`` part and ``files[n]`` parts, where ``data.attachments`` lists
``{"id": n, "filename": ...}`` for each file (``discord/http.py: handle_message_parameters``).
Edits refer to attachments to keep by their snowflake id.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from .cdn import Cdn
from .models import Message
from .responses import CANNOT_SEND_EMPTY_MESSAGE, INVALID_FORM_BODY, DiscordError

_FILE_FIELD = re.compile(r"^files\[(\d+)\]$")


@dataclass
class UploadedFile:
    filename: str
    data: bytes
    content_type: str


@dataclass
class Body:
    """A request body: its JSON (or ``payload_json``) and any uploaded files by index."""

    json: Any = None
    files: dict[int, UploadedFile] = field(default_factory=dict)
    raw_size: int = 0


async def read_body(request: web.Request) -> Body:
    if not request.body_exists:
        return Body()
    if request.content_type.startswith("multipart/"):
        body = Body()
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue
            name = part.name or ""
            data = await part.read()
            body.raw_size += len(data)
            if name == "payload_json":
                body.json = json.loads(data)
            elif match := _FILE_FIELD.match(name):
                ctype = part.headers.get("Content-Type", "application/octet-stream")
                body.files[int(match.group(1))] = UploadedFile(part.filename or name, data, ctype)
        return body
    raw = await request.read()
    if not raw:
        return Body(raw_size=0)
    try:
        return Body(json=json.loads(raw), raw_size=len(raw))
    except ValueError:
        raise DiscordError(400, "400: Bad Request (body is not JSON)", 50109) from None


def resolve_attachments(
    cdn: Cdn, data: dict[str, Any], body: Body, existing: list[dict[str, Any]]
) -> list[dict[str, Any]] | None:
    """The message's new attachment list, or None when the body leaves it unchanged."""
    if "attachments" not in data and not body.files:
        return None
    kept = {str(a["id"]): a for a in existing}
    uploads = dict(body.files)
    result: list[dict[str, Any]] = []

    def upload(index: int, spec: dict[str, Any]) -> dict[str, Any]:
        file = uploads.pop(index)
        stored = cdn.add(
            spec.get("filename") or file.filename,
            file.data,
            file.content_type,
            description=spec.get("description"),
        )
        return stored.payload()

    for spec in data.get("attachments") or []:
        ref = str(spec.get("id"))
        if ref in kept:
            result.append(kept[ref])
        elif ref.isdigit() and int(ref) in uploads:
            result.append(upload(int(ref), spec))
        else:
            raise DiscordError(
                400, f"Invalid Form Body (unknown attachment {ref})", INVALID_FORM_BODY
            )
    for index in sorted(uploads):  # files not listed in attachments are still uploaded
        result.append(upload(index, {}))
    return result


def has_content(message: Message) -> bool:
    return bool(message.content or message.embeds or message.components or message.attachments)


def apply_body(cdn: Cdn, message: Message, data: dict[str, Any], body: Body, *, edit: bool) -> None:
    """Create or edit ``message`` from a request body; refuse an empty new message."""
    if not isinstance(data, dict):
        raise DiscordError(400, "Invalid Form Body (expected an object)", INVALID_FORM_BODY)
    before, versions = dict(vars(message)), len(message.history)  # to undo a rejected edit
    message.apply(data, edit=edit)
    try:
        attachments = resolve_attachments(cdn, data, body, message.attachments)
        if attachments is not None:
            message.attachments = attachments
            for att in attachments:
                stored = cdn.files.get(att["id"])
                if stored is not None:
                    message.files[stored.filename] = stored.data
        if not has_content(message) and not data.get("poll"):
            raise DiscordError(400, "Cannot send an empty message", CANNOT_SEND_EMPTY_MESSAGE)
    except DiscordError:
        vars(message).update(before)
        del message.history[versions:]
        raise
