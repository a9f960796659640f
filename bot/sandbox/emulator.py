"""A local Telegram Bot API emulator that unmodified python-telegram-bot talks to.

Start it, point PTB at it, and drive users through the control API::

    emulator = BotApiEmulator()
    await emulator.start()
    app = (
        ApplicationBuilder()
        .token(SANDBOX_TOKEN)
        .base_url(emulator.base_url)
        .base_file_url(emulator.base_file_url)
        .build()
    )
    async with SandboxClient(emulator.control_url) as sandbox: ...

Bot API: ``/bot<TOKEN>/<method>`` (GET or POST; query string, form, multipart or JSON);
files: ``/file/bot<TOKEN>/<file_path>``; control API: ``/control/...`` (see
``docs/sandbox-control-api.md``). Semantics live in :mod:`bot.sandbox.state`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from bot.sandbox.control import add_control_routes
from bot.sandbox.limits import ApiError, Limits, bad_request
from bot.sandbox.state import (
    DEFAULT_UPDATE_TYPES,
    JSON,
    SandboxChat,
    SandboxState,
    StoredFile,
    StoredMessage,
    UploadedFile,
)

_LOG = logging.getLogger(__name__)

#: A token the emulator accepts out of the box (bot id 123456789).
SANDBOX_TOKEN = "123456789:SANDBOX-token-for-local-emulator-0000"  # noqa: S105 - not a secret

TOKEN_RE = re.compile(r"^(\d{1,20}):[A-Za-z0-9_-]{30,}$")

_JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "media",
        "allowed_updates",
        "entities",
        "caption_entities",
        "reply_parameters",
        "commands",
        "scope",
        "menu_button",
        "link_preview_options",
        "message_ids",
    }
)
_BOOL_PARAMS = frozenset(
    {
        "protect_content",
        "disable_notification",
        "show_alert",
        "drop_pending_updates",
        "allow_sending_without_reply",
        "disable_content_type_detection",
        "show_caption_above_media",
        "has_spoiler",
    }
)
_TOO_FEW_MEDIA = "media group must contain 2-10 items"
_GROUP_TYPES = ("photo", "document", "audio", "video")
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_BOT_TEXTS = MappingProxyType(
    {
        "name": ("name", 64),
        "description": ("description", 512),
        "short_description": ("short_description", 120),
    }
)

Handler = Callable[[JSON, dict[str, UploadedFile]], Awaitable[Any]]


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes")


def _normalize(values: dict[str, Any]) -> JSON:
    params: JSON = {}
    for key, value in values.items():
        if key in _JSON_PARAMS and isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                if key == "reply_markup":
                    raise bad_request("can't parse reply keyboard markup JSON object") from exc
                raise bad_request(f"can't parse {key} JSON object") from exc
        elif key in _BOOL_PARAMS:
            value = _to_bool(value)
        params[key] = value
    return params


def _int_param(params: JSON, name: str, default: int | None = None) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise bad_request(f"invalid {name} specified") from exc


def _chat_id_hint(params: JSON) -> int | None:
    try:
        return int(params["chat_id"])
    except (KeyError, TypeError, ValueError):
        return None


async def read_request(request: web.Request) -> tuple[JSON, dict[str, UploadedFile]]:
    """All parameters of a Bot API request (query, form, multipart or JSON) and its uploads."""
    values: dict[str, Any] = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if request.can_read_body:
        try:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    values.update(body)
            elif request.content_type in (
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            ):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        files[key] = UploadedFile(
                            value.file.read(), value.filename, value.content_type
                        )
                    else:
                        values[key] = value if isinstance(value, str) else value.decode()
        except web.HTTPRequestEntityTooLarge as exc:
            raise ApiError(413, "Request Entity Too Large") from exc
        except json.JSONDecodeError as exc:
            raise bad_request("can't parse JSON encoded request body") from exc
    return _normalize(values), files


def _chat_key(update: JSON) -> object:
    """The chat an update belongs to (its updates are pushed in order), else the update."""
    for kind, payload in update.items():
        if kind == "update_id" or not isinstance(payload, dict):
            continue
        for holder in (payload, payload.get("message")):
            if isinstance(holder, dict) and isinstance(holder.get("chat"), dict):
                return ("chat", holder["chat"].get("id"))
        if isinstance(payload.get("from"), dict):
            return ("user", payload["from"].get("id"))
        if isinstance(payload.get("user"), dict):
            return ("user", payload["user"].get("id"))
    return ("update", update.get("update_id"))


class BotApiEmulator:
    """The emulator: Bot API + file downloads + control API on one aiohttp application."""

    def __init__(
        self,
        *,
        bot_username: str = "SamparkBot",
        bot_first_name: str = "Sampark",
        token: str | None = None,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.time,
        webhook_retry_delay: float = 0.5,
        allow_loopback_http: bool = False,
    ) -> None:
        """``token``: accept only this token (default: any well-formed token).

        ``allow_loopback_http``: accept ``http://`` webhook URLs on 127.0.0.1, localhost
        and ::1 (Telegram accepts only https; local tests and the sandbox need plain http).
        """
        self.token = token
        self.webhook_retry_delay = webhook_retry_delay
        self.allow_loopback_http = allow_loopback_http
        bot_id = int((token or SANDBOX_TOKEN).split(":", 1)[0])
        self.state = SandboxState(
            token=token or SANDBOX_TOKEN,
            bot_id=bot_id,
            bot_username=bot_username,
            bot_first_name=bot_first_name,
            limits=limits,
            clock=clock,
        )
        self.closing = False
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._host = "127.0.0.1"
        self._handlers: dict[str, Handler] = {
            "getme": self._get_me,
            "logout": self._ok,
            "close": self._ok,
            "deletewebhook": self._delete_webhook,
            "setwebhook": self._set_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "getupdates": self._get_updates,
            "sendmessage": self._send_message,
            "sendphoto": self._media_handler("photo"),
            "senddocument": self._media_handler("document"),
            "sendvoice": self._media_handler("voice"),
            "sendaudio": self._media_handler("audio"),
            "sendvideo": self._media_handler("video"),
            "sendmediagroup": self._send_media_group,
            "sendcontact": self._send_contact,
            "sendchataction": self._send_chat_action,
            "getfile": self._get_file,
            "answercallbackquery": self._answer_callback_query,
            "editmessagetext": self._edit_text,
            "editmessagecaption": self._edit_caption,
            "editmessagereplymarkup": self._edit_markup,
            "deletemessage": self._delete_message,
            "deletemessages": self._delete_messages,
            "editmessagemedia": self._edit_media,
            "setmyname": self._bot_text_setter("name"),
            "getmyname": self._bot_text_getter("name"),
            "setmydescription": self._bot_text_setter("description"),
            "getmydescription": self._bot_text_getter("description"),
            "setmyshortdescription": self._bot_text_setter("short_description"),
            "getmyshortdescription": self._bot_text_getter("short_description"),
            "copymessage": self._copy_message,
            "forwardmessage": self._forward_message,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "setchatmenubutton": self._set_chat_menu_button,
            "getchatmenubutton": self._get_chat_menu_button,
            "getchat": self._get_chat,
            "getchatmember": self._get_chat_member,
            "getchatmembercount": self._get_chat_member_count,
        }

    # ----------------------------------------------------------------- lifecycle

    def make_app(self) -> web.Application:
        """The aiohttp application (for embedding in another server or test client)."""
        max_size = max(self.state.limits.max_upload_bytes, self.state.limits.max_photo_bytes)
        app = web.Application(client_max_size=max_size + 16 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._bot_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        add_control_routes(app, self)
        app.cleanup_ctx.append(self._webhook_context)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on ``host:port`` (port 0 picks a free one)."""
        if self._runner is not None:
            raise RuntimeError("emulator is already running; stop() it first")
        self.closing = False
        self._runner = web.AppRunner(self.make_app(), shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        self._host = host

    async def stop(self) -> None:
        """Wake every long poll and shut the server down."""
        self.closing = True
        self.state.notifier.notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotApiEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def root_url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._port is None:
            raise RuntimeError("emulator is not started")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url(...)`` (PTB appends the token)."""
        return f"{self.root_url}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``ApplicationBuilder().base_file_url(...)``."""
        return f"{self.root_url}/file/bot"

    @property
    def control_url(self) -> str:
        """Root of the control API."""
        return f"{self.root_url}/control"

    # ----------------------------------------------------------------- dispatch

    def _check_token(self, token: str) -> ApiError | None:
        match = TOKEN_RE.match(token)
        if match is None:
            return ApiError(404, "Not Found")
        if self.token is not None and token != self.token:
            return ApiError(401, "Unauthorized")
        self.state.bot_id = int(match.group(1))
        self.state.token = token
        return None

    async def _bot_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"].lower()
        error = self._check_token(request.match_info["token"])
        if error is None and method not in self._handlers:
            error = ApiError(404, "Not Found")
        if error is not None:
            self.state.stats.record(method, error.status)
            return web.json_response(error.payload(), status=error.status)
        try:
            params, files = await read_request(request)
            fault = self.state.take_fault(method, _chat_id_hint(params))
            if fault is not None:
                if fault.delay > 0:
                    await asyncio.sleep(fault.delay)
                fault_error = fault.error()
                if fault_error is not None:
                    raise fault_error
            result = await self._handlers[method](params, files)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # Malformed parameters that slipped past validation: a 400 naming the problem
            # is more useful to a test than aiohttp's bare 500 page.
            _LOG.warning("emulator: %s failed on bad input: %r", method, exc)
            error = bad_request(f"invalid request parameters ({exc.__class__.__name__}: {exc})")
            self.state.stats.record(method, 400)
            return web.json_response(error.payload(), status=400)
        except ApiError as exc:
            if request.transport is None or request.transport.is_closing():
                self.state.stats.record(method, 499)  # the client went away (cancelled poll)
            else:
                self.state.stats.record(method, exc.status)
            return web.json_response(exc.payload(), status=exc.status)
        self.state.stats.record(method, 200)
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.Response:
        error = self._check_token(request.match_info["token"])
        stored = self.state.files_by_path.get(request.match_info["path"])
        if error is None and stored is None:
            error = ApiError(404, "Not Found")
        if error is not None or stored is None:
            assert error is not None
            return web.json_response(error.payload(), status=error.status)
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )

    # ----------------------------------------------------------------- helpers

    def _target_chat(self, params: JSON) -> SandboxChat:
        if params.get("chat_id") in (None, ""):
            raise bad_request("chat_id is empty")
        chat = self.state.chat_for_bot(params["chat_id"])
        self.state.check_can_send(chat)
        return chat

    # ----------------------------------------------------------------- methods

    async def _ok(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        return True

    async def _get_me(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        return self.state.get_me()

    async def _delete_webhook(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        self.state.webhook = {"url": "", "secret_token": None, "allowed_updates": None}
        if params.get("drop_pending_updates"):
            self.state.updates.clear()
        return True

    async def _set_webhook(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        url = str(params.get("url") or "")
        parts = urlsplit(url)
        local = (
            self.allow_loopback_http
            and parts.scheme == "http"
            and (parts.hostname or "") in _LOCAL_HOSTS
        )
        if url and not (parts.scheme == "https" or local):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_RE.match(str(secret)):
            raise bad_request("secret token contains unallowed characters")
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self.state.allowed_updates = frozenset(allowed) if allowed else DEFAULT_UPDATE_TYPES
        self.state.webhook_errors.clear()
        connections = _int_param(params, "max_connections", 40)
        assert connections is not None
        if not 1 <= connections <= 100:
            raise bad_request("bad webhook: max_connections must be between 1 and 100")
        self.state.webhook = {
            "url": url,
            "secret_token": params.get("secret_token"),
            "allowed_updates": params.get("allowed_updates"),
            "max_connections": connections,
        }
        if params.get("drop_pending_updates"):
            self.state.updates.clear()
        self.state.poll_generation += 1
        self.state.notifier.notify()
        return True

    async def _get_webhook_info(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        info: JSON = {
            "url": self.state.webhook["url"],
            "has_custom_certificate": False,
            "pending_update_count": len(self.state.updates),
        }
        if self.state.webhook.get("allowed_updates"):
            info["allowed_updates"] = self.state.webhook["allowed_updates"]
        if info["url"]:
            info["max_connections"] = self.state.webhook.get("max_connections") or 40
        if self.state.webhook_errors:
            last = self.state.webhook_errors[-1]
            info["last_error_date"] = last["date"]
            info["last_error_message"] = last["message"]
        return info

    # ----------------------------------------------------------------- webhook delivery

    async def _webhook_context(self, app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(self._deliver_webhooks())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _deliver_webhooks(self) -> None:
        """POST queued updates to the webhook URL while one is set, like Telegram: up to
        ``max_connections`` at once, but one at a time and in order within a chat."""
        state = self.state
        timeout = aiohttp.ClientTimeout(total=30)
        in_flight: dict[int, asyncio.Task[None]] = {}  # id(update) -> its delivery
        busy: set[object] = set()  # chats with an update in flight (or waiting to retry)
        connector = aiohttp.TCPConnector(limit=100)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            try:
                while not self.closing:
                    url = state.webhook["url"]
                    limit = int(state.webhook.get("max_connections") or 40)
                    for update in list(state.updates) if url else []:
                        if len(in_flight) >= limit:
                            break
                        key = _chat_key(update)
                        if id(update) in in_flight or key in busy:
                            continue
                        busy.add(key)
                        in_flight[id(update)] = asyncio.create_task(
                            self._push(session, url, update, key, in_flight, busy)
                        )
                    await state.notifier.wait(1.0)
            finally:
                for task in in_flight.values():
                    task.cancel()
                await asyncio.gather(*in_flight.values(), return_exceptions=True)

    async def _push(
        self,
        session: aiohttp.ClientSession,
        url: str,
        update: JSON,
        key: object,
        in_flight: dict[int, asyncio.Task[None]],
        busy: set[object],
    ) -> None:
        """Deliver one update; on failure record why and hold its chat for the retry delay."""
        state = self.state
        headers = {}
        if state.webhook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = str(state.webhook["secret_token"])
        error: str | None = None
        try:
            try:
                async with session.post(url, json=update, headers=headers) as resp:
                    await resp.read()
                    if not 200 <= resp.status < 300:
                        error = f"Wrong response from the webhook: {resp.status} {resp.reason}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = f"Connection failed: {exc.__class__.__name__}"
            if error is None:
                for index, queued in enumerate(state.updates):
                    if queued is update:
                        del state.updates[index]
                        break
                state.webhook_delivered += 1
            else:
                state.webhook_errors.append({"date": state.now(), "message": error})
                del state.webhook_errors[:-20]
                await asyncio.sleep(self.webhook_retry_delay)
        finally:
            in_flight.pop(id(update), None)
            busy.discard(key)
            state.notifier.notify()

    async def _get_updates(self, params: JSON, files: dict[str, UploadedFile]) -> list[JSON]:
        state = self.state
        if state.webhook["url"]:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = _int_param(params, "offset")
        limit = min(100, max(1, _int_param(params, "limit", 100) or 100))
        timeout = max(0, _int_param(params, "timeout", 0) or 0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            state.allowed_updates = frozenset(allowed) if allowed else DEFAULT_UPDATE_TYPES
        state.poll_generation += 1
        generation = state.poll_generation
        state.notifier.notify()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        updates = state.pending_updates(offset, limit)
        while not updates and not self.closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await state.notifier.wait(remaining)
            if state.poll_generation != generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            updates = state.pending_updates(None, limit)
        return updates

    async def _send_message(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        chat = self._target_chat(params)
        reply_to = self.state.reply_target(chat, params)
        return self.state.bot_send(chat, "text", params, reply_to=reply_to).api()

    def _input_value(self, value: Any, files: dict[str, UploadedFile]) -> Any:
        if isinstance(value, str) and value.startswith("attach://"):
            name = value.removeprefix("attach://")
            if name not in files:
                raise bad_request(f"file {name} not found in the request")
            return files[name]
        return value

    def _media_handler(self, kind: str) -> Handler:
        async def handler(params: JSON, files: dict[str, UploadedFile]) -> JSON:
            return await self._send_one(kind, params, files)

        return handler

    async def _send_one(self, kind: str, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        chat = self._target_chat(params)
        value = files.get(kind, params.get(kind))
        source = self.state.resolve_input(kind, self._input_value(value, files))
        reply_to = self.state.reply_target(chat, params)
        self._check_caption(params)
        stored = await self._materialize(kind, source, params)
        return self.state.bot_send(chat, kind, params, files=stored, reply_to=reply_to).api()

    async def _materialize(
        self, kind: str, source: StoredFile | UploadedFile, params: JSON
    ) -> list[StoredFile]:
        """``state.materialize``, a new photo's recompression in a thread: Telegram does not
        stop answering every other chat while it resizes one photo (~10 ms per size)."""
        if kind == "photo" and isinstance(source, UploadedFile):
            variants = await asyncio.to_thread(
                self.state.photo_variants_of, source.data, check=True
            )
            return self.state.store_variants(variants)
        return self.state.materialize(kind, source, params)

    def _check_caption(self, params: JSON) -> None:
        if params.get("caption") is not None:
            self.state.format_text(
                params["caption"],
                params.get("parse_mode"),
                params.get("caption_entities"),
                caption=True,
            )

    async def _send_media_group(self, params: JSON, files: dict[str, UploadedFile]) -> list[JSON]:
        chat = self._target_chat(params)
        media = params.get("media")
        if not isinstance(media, list) or not media:
            raise bad_request('parameter "media" is required')
        limits = self.state.limits
        if not limits.media_group_min <= len(media) <= limits.media_group_max:
            raise bad_request(_TOO_FEW_MEDIA)
        reply_to = self.state.reply_target(chat, params)
        prepared: list[tuple[str, JSON, list[StoredFile]]] = []
        kinds = set()
        for item in media:
            if not isinstance(item, dict) or item.get("type") not in _GROUP_TYPES:
                raise bad_request("can't parse InputMedia: unsupported media type")
            kind = str(item["type"])
            kinds.add("document" if kind == "document" else "audio" if kind == "audio" else "pv")
            self._check_caption(item)
            source = self.state.resolve_input(kind, self._input_value(item.get("media"), files))
            prepared.append((kind, item, await self._materialize(kind, source, item)))
        if len(kinds) > 1:
            raise bad_request("MEDIA_GROUP_INVALID")
        self.state.take_flood(chat)
        group_id = str(secrets.randbelow(10**17) + 10**17)
        messages: list[StoredMessage] = []
        for index, (kind, item, stored) in enumerate(prepared):
            item_params = {**params, "reply_markup": None}
            messages.append(
                self.state.bot_send(
                    chat,
                    kind,
                    item_params,
                    files=stored,
                    media_group_id=group_id,
                    caption_source=item,
                    count_flood=False,
                    reply_to=reply_to if index == 0 else None,
                )
            )
        return [m.api() for m in messages]

    async def _send_contact(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        chat = self._target_chat(params)
        if not params.get("phone_number") or not params.get("first_name"):
            raise bad_request("phone_number and first_name are required")
        contact = {"phone_number": str(params["phone_number"]), "first_name": params["first_name"]}
        if params.get("last_name"):
            contact["last_name"] = params["last_name"]
        reply_to = self.state.reply_target(chat, params)
        return self.state.bot_send(
            chat, "contact", params, reply_to=reply_to, extra_media={"contact": contact}
        ).api()

    async def _send_chat_action(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        chat = self._target_chat(params)
        action = str(params.get("action") or "")
        valid = {
            "typing",
            "upload_photo",
            "record_video",
            "upload_video",
            "record_voice",
            "upload_voice",
            "upload_document",
            "choose_sticker",
            "find_location",
            "record_video_note",
            "upload_video_note",
        }
        if action not in valid:
            raise bad_request("wrong parameter action in request")
        chat.actions.append({"action": action, "date": self.state.now(), "seq": self.state.seq})
        return True

    async def _get_file(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        file_id = params.get("file_id")
        if not file_id:
            raise bad_request("file_id is empty")
        return self.state.get_file(str(file_id))

    async def _answer_callback_query(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        self.state.answer_callback(params)
        return True

    async def _edit_text(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        return self.state.edit(params, "text").api()

    async def _edit_caption(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        return self.state.edit(params, "caption").api()

    async def _edit_markup(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        return self.state.edit(params, "markup").api()

    async def _delete_message(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        if params.get("chat_id") in (None, ""):
            raise bad_request("chat_id is empty")
        self.state.delete(params["chat_id"], params.get("message_id"))
        return True

    async def _delete_messages(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        if params.get("chat_id") in (None, ""):
            raise bad_request("chat_id is empty")
        ids = params.get("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise bad_request("message_ids must contain 1-100 identifiers")
        for message_id in ids:
            self.state.delete(params["chat_id"], message_id, missing_ok=True)
        return True

    async def _edit_media(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        item = params.get("media")
        if not isinstance(item, dict) or item.get("type") not in _GROUP_TYPES:
            raise bad_request("can't parse InputMedia JSON object")
        kind = str(item["type"])
        source = self.state.resolve_input(kind, self._input_value(item.get("media"), files))
        stored = await self._materialize(kind, source, item)
        return self.state.edit(params, "media", media=(kind, stored, item)).api()

    def _bot_text_setter(self, what: str) -> Handler:
        field, limit = _BOT_TEXTS[what]

        async def handler(params: JSON, files: dict[str, UploadedFile]) -> bool:
            value = str(params.get(field) or "")
            if len(value) > limit:
                raise bad_request(f"{what.upper()}_INVALID")
            language = str(params.get("language_code") or "")
            if value:
                self.state.bot_texts[what, language] = value
            else:
                self.state.bot_texts.pop((what, language), None)
            return True

        return handler

    def _bot_text_getter(self, what: str) -> Handler:
        field, _ = _BOT_TEXTS[what]

        async def handler(params: JSON, files: dict[str, UploadedFile]) -> JSON:
            language = str(params.get("language_code") or "")
            texts = self.state.bot_texts
            value = texts.get((what, language), texts.get((what, ""), ""))
            if what == "name" and not value:
                value = self.state.bot_first_name
            return {field: value}

        return handler

    async def _copy_message(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        return {"message_id": self.state.copy_or_forward(params, forward=False).message_id}

    async def _forward_message(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        return self.state.copy_or_forward(params, forward=True).api()

    async def _set_my_commands(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        self.state.set_commands(
            params.get("commands"), params.get("scope"), str(params.get("language_code") or "")
        )
        return True

    async def _get_my_commands(self, params: JSON, files: dict[str, UploadedFile]) -> list[JSON]:
        return self.state.get_commands(params.get("scope"), str(params.get("language_code") or ""))

    async def _delete_my_commands(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        self.state.set_commands([], params.get("scope"), str(params.get("language_code") or ""))
        return True

    async def _set_chat_menu_button(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        key = str(params.get("chat_id") or "default")
        if key != "default":
            self.state.chat_for_bot(params["chat_id"])
        button = params.get("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in (
            "default",
            "commands",
            "web_app",
        ):
            raise bad_request("can't parse menu button JSON object")
        self.state.menu_buttons[key] = button
        return True

    async def _get_chat_menu_button(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        key = str(params.get("chat_id") or "default")
        button = self.state.menu_buttons.get(key) or self.state.menu_buttons.get("default")
        if button is None or button.get("type") == "default":
            return {"type": "commands"}
        return button

    async def _get_chat_member(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        return self.state.chat_member(params.get("chat_id"), params.get("user_id"))

    async def _get_chat_member_count(self, params: JSON, files: dict[str, UploadedFile]) -> int:
        chat = self.state.chat_for_bot(params.get("chat_id"))
        return len(chat.members) + 1  # the bot

    async def _get_chat(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        chat = self.state.chat_for_bot(params.get("chat_id"))
        return {
            **chat.api(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
