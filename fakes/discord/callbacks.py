"""Interaction responses: the callback endpoint and the interaction webhook.

discord.py answers an interaction through its webhook adapter (``discord/webhook/async_.py``),
not ``HTTPClient``: ``POST /interactions/{id}/{token}/callback?with_response=1`` first, then
``/webhooks/{application_id}/{token}`` for followups and for reading, editing or deleting the
original response (``messages/@original``) and followups (``messages/{id}``).

The Discord rules the fake enforces, because a bot has to survive them:

- one callback per interaction; a second gets 400 "Interaction has already been
  acknowledged." (code 40060);
- the first callback must arrive within ``interaction_deadline`` (3 s), else 404 "Unknown
  interaction" (10062);
- the callback type must suit the interaction (no autocomplete result for a slash command…);
- after a deferral (type 5) the first followup resolves the "thinking…" message instead of
  posting a new one, and it keeps the deferral's ephemerality whatever its own flags say;
- the token works for ``token_lifetime`` (15 min); after that 401 "Invalid Webhook Token".

With ``with_response=1`` the callback answers 200 with an ``InteractionCallbackResponse``
(discord.py builds ``InteractionCallbackResponse`` from it; a bare 204 would break it).
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from .backend import Backend, backend_of, body_of
from .interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE_MESSAGE,
    MESSAGE_COMPONENT,
    MODAL,
    MODAL_SUBMIT,
    PING,
    PONG,
    UPDATE_MESSAGE,
    Callback,
    InteractionRecord,
)
from .messages import apply_body
from .models import EPHEMERAL, LOADING, Message
from .responses import (
    ALREADY_ACKNOWLEDGED,
    INVALID_FORM_BODY,
    INVALID_WEBHOOK_TOKEN,
    UNKNOWN_INTERACTION,
    UNKNOWN_MESSAGE,
    UNKNOWN_WEBHOOK,
    DiscordError,
    json_response,
    no_content,
    unknown,
)

# Which callback types each interaction type accepts.
ALLOWED: dict[int, set[int]] = {
    PING: {PONG},
    APPLICATION_COMMAND: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, MODAL},
    MESSAGE_COMPONENT: {
        CHANNEL_MESSAGE,
        DEFERRED_CHANNEL_MESSAGE,
        DEFERRED_UPDATE_MESSAGE,
        UPDATE_MESSAGE,
        MODAL,
    },
    AUTOCOMPLETE: {AUTOCOMPLETE_RESULT},
    MODAL_SUBMIT: {
        CHANNEL_MESSAGE,
        DEFERRED_CHANNEL_MESSAGE,
        DEFERRED_UPDATE_MESSAGE,
        UPDATE_MESSAGE,
    },
}

CHAT_INPUT_COMMAND_MESSAGE = 20  # message type of a slash command's response


def _backend(request: web.Request) -> Backend:
    return backend_of(request)


def _reject(record: InteractionRecord, ctype: Any, exc: DiscordError) -> DiscordError:
    record.rejected.append((ctype, exc.status, exc.code))
    record.world.feed.publish(
        "interaction",
        action="callback_refused",
        id=record.id,
        label=record.label,
        type=ctype,
        status=exc.status,
        code=exc.code,
    )
    record.world.changed()
    return exc


# -- POST /interactions/{id}/{token}/callback ------------------------------------------------


async def interaction_callback(request: web.Request) -> web.Response:
    backend = _backend(request)
    record = backend.world.interactions.get(request.match_info["interaction_id"])
    if record is None or record.token != request.match_info["token"]:
        raise unknown("interaction", UNKNOWN_INTERACTION)
    payload = body_of(request).json or {}
    ctype, data = payload.get("type"), payload.get("data")
    if record.acknowledged:
        raise _reject(
            record,
            ctype,
            DiscordError(400, "Interaction has already been acknowledged.", ALREADY_ACKNOWLEDGED),
        )
    deadline = backend.interaction_deadline
    if deadline is not None and time.monotonic() - record.dispatched_at > deadline:
        raise _reject(record, ctype, unknown("interaction", UNKNOWN_INTERACTION))
    if ctype not in ALLOWED.get(record.type, set()):
        message = f"Invalid Form Body (callback type {ctype} for interaction type {record.type})"
        raise _reject(record, ctype, DiscordError(400, message, INVALID_FORM_BODY))
    if ctype in (DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE) and record.source_message is None:
        raise _reject(
            record,
            ctype,
            DiscordError(400, "Invalid Form Body (no message to update)", INVALID_FORM_BODY),
        )

    try:
        message = await _apply_callback(backend, record, ctype, data, request)
    except DiscordError as exc:
        raise _reject(record, ctype, exc) from None
    record.callbacks.append(Callback(ctype, data, message))
    backend.world.feed.publish(
        "interaction",
        action="callback",
        id=record.id,
        label=record.label,
        type=ctype,
        message_id=message.id if message is not None else None,
    )
    backend.world.changed()
    if request.query.get("with_response", "").lower() not in ("1", "true"):
        return no_content()
    return json_response(_callback_response(record, ctype, message))


async def _apply_callback(
    backend: Backend,
    record: InteractionRecord,
    ctype: int,
    data: dict[str, Any] | None,
    request: web.Request,
) -> Message | None:
    body = body_of(request)
    data = data or {}
    if ctype == CHANNEL_MESSAGE:
        message = _response_message(backend, record)
        try:
            apply_body(backend.cdn, message, data, body, edit=False)
        except DiscordError:
            del backend.world.messages[message.id]
            raise
        _publish(backend, record, message)
        await backend.announce("MESSAGE_CREATE", message)
        return message
    if ctype == DEFERRED_CHANNEL_MESSAGE:
        message = _response_message(backend, record)
        message.flags = LOADING | (int(data.get("flags") or 0) & EPHEMERAL)
        _publish(backend, record, message)
        await backend.announce("MESSAGE_CREATE", message)
        return message
    if ctype in (DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE):
        message = record.source_message
        assert message is not None
        record.original = message
        if ctype == UPDATE_MESSAGE:
            apply_body(backend.cdn, message, data, body, edit=True)
            record.last_message = message
            backend.world.feed_message("edited", message)
            await backend.announce("MESSAGE_UPDATE", message)
        return message
    if ctype == AUTOCOMPLETE_RESULT:
        choices = data.get("choices")
        if not isinstance(choices, list) or len(choices) > 25:
            raise DiscordError(400, "Invalid Form Body (choices: at most 25)", INVALID_FORM_BODY)
        return None
    if ctype == MODAL:
        if not data.get("custom_id") or not data.get("title") or not data.get("components"):
            raise DiscordError(
                400,
                "Invalid Form Body (modal needs custom_id, title, components)",
                INVALID_FORM_BODY,
            )
        return None
    return None  # PONG


def _response_message(backend: Backend, record: InteractionRecord) -> Message:
    world = backend.world
    metadata: dict[str, Any] = {
        "id": record.id,
        "type": record.type,
        "user": record.user.payload(),
        "authorizing_integration_owners": record.payload.get("authorizing_integration_owners", {}),
    }
    if record.source_message is not None:
        metadata["interacted_message_id"] = record.source_message.id
    return world.new_message(
        record.channel.id,
        record.guild.id if record.guild else None,
        type=CHAT_INPUT_COMMAND_MESSAGE if record.type == APPLICATION_COMMAND else 0,
        webhook_id=world.application_id,
        application_id=world.application_id,
        interaction_id=record.id,
        interaction_metadata=metadata,
    )


def _publish(backend: Backend, record: InteractionRecord, message: Message) -> None:
    record.original = message
    record.last_message = message
    backend.world.post_to_channel(message)
    backend.world.feed_message("created", message)


def _callback_response(
    record: InteractionRecord, ctype: int, message: Message | None
) -> dict[str, Any]:
    interaction: dict[str, Any] = {"id": record.id, "type": record.type}
    body: dict[str, Any] = {"interaction": interaction}
    if message is not None:
        interaction.update(
            response_message_id=message.id,
            response_message_loading=message.loading,
            response_message_ephemeral=message.ephemeral,
        )
        body["resource"] = {"type": ctype, "message": message.payload()}
    return body


# -- /webhooks/{app_id}/{token} ----------------------------------------------------------------


def _webhook_interaction(request: web.Request) -> InteractionRecord:
    backend = _backend(request)
    world = backend.world
    record = world.interaction_by_token(request.match_info["token"])
    if request.match_info["app_id"] != world.application_id or record is None:
        raise unknown("Webhook", UNKNOWN_WEBHOOK)
    if time.monotonic() - record.dispatched_at > backend.token_lifetime:
        raise DiscordError(401, "Invalid Webhook Token", INVALID_WEBHOOK_TOKEN)
    if not record.acknowledged:
        raise unknown("Webhook", UNKNOWN_WEBHOOK)
    return record


def _target(record: InteractionRecord, message_id: str) -> Message:
    if message_id == "@original":
        message = record.original
    else:
        message = next((m for m in record.messages if m.id == message_id), None)
    if message is None or message.deleted:
        raise unknown("Message", UNKNOWN_MESSAGE)
    return message


async def create_followup(request: web.Request) -> web.Response:
    backend = _backend(request)
    record = _webhook_interaction(request)
    body = body_of(request)
    data = dict(body.json or {})
    original = record.original
    if (
        original is not None
        and original.loading
        and not original.deleted
        and record.response is not None
        and record.response.type == DEFERRED_CHANNEL_MESSAGE
        and not record.followups
    ):
        # Discord treats the first followup after a deferral as resolving the "thinking…"
        # message: it edits the original, keeping the deferral's ephemerality.
        data.pop("flags", None)
        apply_body(backend.cdn, original, data, body, edit=True)
        original.flags &= ~LOADING
        record.updates += 1
        record.last_message = original
        backend.world.feed_message("edited", original)
        backend.world.changed()
        await backend.announce("MESSAGE_UPDATE", original)
        return json_response(original.payload())

    world = backend.world
    message = world.new_message(
        record.channel.id,
        record.guild.id if record.guild else None,
        webhook_id=world.application_id,
        application_id=world.application_id,
        interaction_id=record.id,
    )
    try:
        apply_body(backend.cdn, message, data, body, edit=False)
    except DiscordError:
        del world.messages[message.id]
        raise
    record.followups.append(message)
    record.updates += 1
    record.last_message = message
    world.post_to_channel(message)
    world.feed_message("created", message)
    world.changed()
    await backend.announce("MESSAGE_CREATE", message)
    return json_response(message.payload())


async def get_webhook_message(request: web.Request) -> web.Response:
    record = _webhook_interaction(request)
    return json_response(_target(record, request.match_info["message_id"]).payload())


async def edit_webhook_message(request: web.Request) -> web.Response:
    backend = _backend(request)
    record = _webhook_interaction(request)
    message = _target(record, request.match_info["message_id"])
    body = body_of(request)
    apply_body(backend.cdn, message, dict(body.json or {}), body, edit=True)
    message.flags &= ~LOADING  # editing a deferred response resolves its "thinking…"
    record.updates += 1
    record.last_message = message
    backend.world.feed_message("edited", message)
    backend.world.changed()
    await backend.announce("MESSAGE_UPDATE", message)
    return json_response(message.payload())


async def delete_webhook_message(request: web.Request) -> web.Response:
    backend = _backend(request)
    record = _webhook_interaction(request)
    message = _target(record, request.match_info["message_id"])
    message.deleted = True
    record.updates += 1
    backend.world.feed_message("deleted", message)
    backend.world.changed()
    return no_content()


def routes(api: str) -> list[web.RouteDef]:
    hook = api + "/webhooks/{app_id}/{token}"
    return [
        web.post(api + "/interactions/{interaction_id}/{token}/callback", interaction_callback),
        web.post(hook, create_followup),
        web.get(hook + "/messages/{message_id}", get_webhook_message),
        web.patch(hook + "/messages/{message_id}", edit_webhook_message),
        web.delete(hook + "/messages/{message_id}", delete_webhook_message),
    ]
