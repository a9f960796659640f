"""The control API: JSON over HTTP under ``/control`` to act as users and inspect the world.

Reference with request/response shapes: ``docs/sandbox-control-api.md``. Errors are
``{"error": "..."}`` with a 4xx status.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.sandbox.limits import ApiError
from bot.sandbox.state import JSON, ControlError, SandboxState, Stats, UploadedFile, scope_key

if TYPE_CHECKING:
    from bot.sandbox.emulator import BotApiEmulator

RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_WAIT = 120.0


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


def _guard(handler: RouteHandler) -> RouteHandler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ControlError as exc:
            return _json({"error": exc.message}, exc.status)
        except ApiError as exc:
            return _json({"error": exc.description}, 400 if exc.status < 500 else exc.status)
        except (ValueError, TypeError, KeyError) as exc:
            return _json({"error": f"bad request: {exc}"}, 400)

    return wrapped


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ControlError(400, f"{name} must be an integer") from exc


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("1", "true", "yes")


async def read_payload(request: web.Request) -> tuple[JSON, list[UploadedFile]]:
    """JSON body, or multipart/form fields plus uploaded ``file`` parts."""
    if not request.can_read_body:
        return {}, []
    if request.content_type == "application/x-www-form-urlencoded":
        raw = await request.text()
        if raw.lstrip().startswith("{"):  # curl -d '{...}' without a JSON content type
            return _json_object(raw), []
    if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.post()
        data: JSON = {}
        uploads: list[UploadedFile] = []
        for key, value in form.items():
            if isinstance(value, web.FileField):
                uploads.append(UploadedFile(value.file.read(), value.filename, value.content_type))
            else:
                data[key] = value if isinstance(value, str) else value.decode()
        for key in ("chat_id", "duration", "reply_to_message_id", "message_id", "id"):
            if isinstance(data.get(key), str) and data[key]:
                data[key] = _int(data[key], key)
        if isinstance(data.get("items"), str):
            data["items"] = json.loads(data["items"])
        return data, uploads
    return _json_object(await request.text()), []


def _json_object(raw: str) -> JSON:
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ControlError(400, f"body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ControlError(400, "body must be a JSON object")
    return body


def _decode(data: JSON) -> UploadedFile:
    raw = data.get("data_b64")
    if raw is None:
        raise ControlError(400, "data_b64 (base64 bytes) or a multipart 'file' part is required")
    try:
        content = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ControlError(400, "data_b64 is not valid base64") from exc
    return UploadedFile(content, data.get("file_name"), data.get("mime_type"))


def _upload(data: JSON, uploads: list[UploadedFile]) -> UploadedFile:
    upload = uploads[0] if uploads else _decode(data)
    if data.get("file_name"):
        upload.filename = data["file_name"]
    if data.get("mime_type"):
        upload.content_type = data["mime_type"]
    return upload


class ControlApi:
    """Route handlers bound to one emulator."""

    def __init__(self, emulator: BotApiEmulator) -> None:
        self.emulator = emulator

    @property
    def state(self) -> SandboxState:
        """The emulator's state."""
        return self.emulator.state

    def _sent(self, message: Any, update_id: int | None) -> web.Response:
        return _json({"message": message.view(), "update_id": update_id, "seq": message.seq})

    # -------------------------------------------------------------- general

    async def index(self, request: web.Request) -> web.Response:
        routes = sorted(
            {
                f"{r.method} {r.resource.canonical}"
                for r in request.app.router.routes()
                if r.resource is not None and r.resource.canonical.startswith("/control")
            }
        )
        return _json({"routes": routes})

    async def health(self, request: web.Request) -> web.Response:
        return _json({"ok": True, "seq": self.state.seq})

    async def reset(self, request: web.Request) -> web.Response:
        self.state.reset()
        return _json({"ok": True, "seq": self.state.seq})

    async def bot(self, request: web.Request) -> web.Response:
        state = self.state
        return _json(
            {
                **state.get_me(),
                "webhook": state.webhook,
                "allowed_updates": sorted(state.allowed_updates),
                "pending_updates": len(state.updates),
                "seq": state.seq,
            }
        )

    async def get_limits(self, request: web.Request) -> web.Response:
        return _json(self.state.limits.to_json())

    async def set_limits(self, request: web.Request) -> web.Response:
        data, _ = await read_payload(request)
        try:
            limits = self.state.limits.updated(data)
        except ValueError as exc:
            raise ControlError(400, str(exc)) from exc
        self.state.configure(limits)
        return _json(limits.to_json())

    async def stats(self, request: web.Request) -> web.Response:
        return _json(self.state.stats.view())

    async def reset_stats(self, request: web.Request) -> web.Response:
        self.state.stats = Stats()
        return _json(self.state.stats.view())

    async def webhook(self, request: web.Request) -> web.Response:
        state = self.state
        return _json(
            {
                **state.webhook,
                "delivered": state.webhook_delivered,
                "pending": len(state.updates),
                "errors": state.webhook_errors,
            }
        )

    async def updates(self, request: web.Request) -> web.Response:
        return _json({"pending": self.state.updates, "next_update_id": self.state.next_update_id})

    # -------------------------------------------------------------- users and chats

    async def list_users(self, request: web.Request) -> web.Response:
        return _json([u.view() for u in self.state.users.values()])

    async def create_user(self, request: web.Request) -> web.Response:
        data, _ = await read_payload(request)
        return _json(self.state.create_user(data).view(), 201)

    async def get_user(self, request: web.Request) -> web.Response:
        return _json(self.state.user(_int(request.match_info["user_id"], "user_id")).view())

    async def block(self, request: web.Request) -> web.Response:
        user_id = _int(request.match_info["user_id"], "user_id")
        return _json(self.state.set_blocked(user_id, True).view())

    async def unblock(self, request: web.Request) -> web.Response:
        user_id = _int(request.match_info["user_id"], "user_id")
        return _json(self.state.set_blocked(user_id, False).view())

    async def user_commands(self, request: web.Request) -> web.Response:
        user = self.state.user(_int(request.match_info["user_id"], "user_id"))
        return _json(self.state.effective_commands(user))

    async def create_group(self, request: web.Request) -> web.Response:
        data, _ = await read_payload(request)
        return _json(self.state.create_group(data).view(), 201)

    async def list_chats(self, request: web.Request) -> web.Response:
        return _json([c.view() for c in self.state.chats.values()])

    def _chat_id(self, request: web.Request) -> int:
        return _int(request.match_info["chat_id"], "chat_id")

    async def get_chat(self, request: web.Request) -> web.Response:
        chat_id = self._chat_id(request)
        chat = self.state.chats.get(chat_id)
        if chat is None:
            raise ControlError(404, f"no chat {chat_id}")
        return _json(chat.view())

    async def messages(self, request: web.Request) -> web.Response:
        include_deleted = _flag(request.query.get("include_deleted"), True)
        return _json(self.state.chat_messages(self._chat_id(request), include_deleted))

    async def message(self, request: web.Request) -> web.Response:
        chat_id = self._chat_id(request)
        message_id = _int(request.match_info["message_id"], "message_id")
        message = self.state.messages.get(chat_id, {}).get(message_id)
        if message is None:
            raise ControlError(404, f"no message {message_id} in chat {chat_id}")
        return _json(message.view())

    async def _wait_events(self, request: web.Request, chat_id: int | None) -> web.Response:
        query = request.query
        after = _int(query.get("after_seq", "0"), "after_seq")
        timeout = min(MAX_WAIT, max(0.0, float(query.get("timeout", "10"))))
        who = query.get("from", "bot")
        from_bot = {"bot": True, "user": False, "any": None}.get(who)
        if who not in ("bot", "user", "any"):
            raise ControlError(400, "from must be bot, user or any")
        kinds = [k for k in query.get("kinds", "message,edit,delete").split(",") if k]
        state = self.state
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            chats = [chat_id] if chat_id is not None else list(state.events)
            events = sorted(
                (e for c in chats for e in state.chat_events(c, after, from_bot, kinds)),
                key=lambda e: e["seq"],
            )
            remaining = deadline - loop.time()
            if events or remaining <= 0 or self.emulator.closing:
                return _json({"events": events, "last_seq": state.seq, "timed_out": not events})
            await state.notifier.wait(remaining)

    async def wait_chat(self, request: web.Request) -> web.Response:
        return await self._wait_events(request, self._chat_id(request))

    async def wait_all(self, request: web.Request) -> web.Response:
        return await self._wait_events(request, None)

    # -------------------------------------------------------------- acting as a user

    def _user_id(self, request: web.Request) -> int:
        return _int(request.match_info["user_id"], "user_id")

    async def send_text(self, request: web.Request) -> web.Response:
        data, _ = await read_payload(request)
        text = data.get("text")
        if not isinstance(text, str) or not text:
            raise ControlError(400, "text is required")
        message, update_id = self.state.user_message(
            self._user_id(request),
            "text",
            chat_id=data.get("chat_id"),
            text=text,
            entities=data.get("entities"),
            reply_to_message_id=data.get("reply_to_message_id"),
        )
        return self._sent(message, update_id)

    async def send_command(self, request: web.Request) -> web.Response:
        data, _ = await read_payload(request)
        command = str(data.get("command", "")).lstrip("/")
        if not command:
            raise ControlError(400, "command is required")
        if data.get("mention"):
            command = f"{command}@{self.state.bot_username}"
        head = f"/{command}"
        args = data.get("args") or []
        if isinstance(args, str):
            args = [args] if args else []
        text = " ".join([head, *map(str, args)])
        entity = {"type": "bot_command", "offset": 0, "length": len(head.encode("utf-16-le")) // 2}
        message, update_id = self.state.user_message(
            self._user_id(request),
            "text",
            chat_id=data.get("chat_id"),
            text=text,
            entities=[entity],
        )
        return self._sent(message, update_id)

    async def send_photo(self, request: web.Request) -> web.Response:
        data, uploads = await read_payload(request)
        upload = _upload(data, uploads)
        files = self.state.store_photo(upload.data, check=False)
        message, update_id = self.state.user_message(
            self._user_id(request),
            "photo",
            chat_id=data.get("chat_id"),
            caption=data.get("caption") or None,
            files=files,
            reply_to_message_id=data.get("reply_to_message_id"),
        )
        return self._sent(message, update_id)

    async def _send_file(self, request: web.Request, kind: str) -> web.Response:
        data, uploads = await read_payload(request)
        upload = _upload(data, uploads)
        if kind == "document" and not upload.filename:
            raise ControlError(400, "file_name is required for a document")
        files = self.state.materialize(kind, upload, data) if upload.data else []
        if not files:
            raise ControlError(400, "file is empty")
        message, update_id = self.state.user_message(
            self._user_id(request),
            kind,
            chat_id=data.get("chat_id"),
            caption=data.get("caption") or None,
            files=files,
            reply_to_message_id=data.get("reply_to_message_id"),
        )
        return self._sent(message, update_id)

    async def send_document(self, request: web.Request) -> web.Response:
        return await self._send_file(request, "document")

    async def send_voice(self, request: web.Request) -> web.Response:
        return await self._send_file(request, "voice")

    async def send_audio(self, request: web.Request) -> web.Response:
        return await self._send_file(request, "audio")

    async def send_album(self, request: web.Request) -> web.Response:
        data, uploads = await read_payload(request)
        items: list[tuple[str, UploadedFile]] = []
        if uploads:
            types = str(data.get("types", "")).split(",") if data.get("types") else []
            for index, upload in enumerate(uploads):
                kind = types[index] if index < len(types) else data.get("type", "photo")
                items.append((kind, upload))
        else:
            for item in data.get("items") or []:
                items.append((item.get("type", "photo"), _decode(item)))
        if len(items) < 2:
            raise ControlError(400, "an album needs at least 2 items")
        state = self.state
        group_id = str(secrets.randbelow(10**17) + 10**17)
        user_id = self._user_id(request)
        results = []
        for index, (kind, upload) in enumerate(items):
            if kind == "photo":
                files = state.store_photo(upload.data, check=False)
            elif kind in ("document", "video", "audio"):
                if not upload.filename:
                    upload.filename = f"file{index + 1}"
                files = state.materialize(kind, upload, {})
            else:
                raise ControlError(400, f"unsupported album item type {kind!r}")
            results.append(
                state.user_message(
                    user_id,
                    kind,
                    chat_id=data.get("chat_id"),
                    caption=(data.get("caption") or None) if index == 0 else None,
                    files=files,
                    media_group_id=group_id,
                )
            )
        return _json(
            {
                "media_group_id": group_id,
                "messages": [m.view() for m, _ in results],
                "update_ids": [u for _, u in results],
            }
        )

    async def send_contact(self, request: web.Request) -> web.Response:
        data, _ = await read_payload(request)
        message, update_id = self.state.share_contact(self._user_id(request), data)
        return self._sent(message, update_id)

    async def press(self, request: web.Request) -> web.Response:
        data, _ = await read_payload(request)
        message, update_id = self.state.press(self._user_id(request), data)
        return self._sent(message, update_id)

    async def open_link(self, request: web.Request) -> web.Response:
        data, _ = await read_payload(request)
        link = data.get("link", data.get("payload"))
        if not isinstance(link, str):
            raise ControlError(400, "link (t.me URL) or payload is required")
        message, update_id = self.state.open_link(self._user_id(request), link)
        return self._sent(message, update_id)

    async def web_app_init_data(self, request: web.Request) -> web.Response:
        query = request.query
        auth_date = query.get("auth_date")
        init_data = self.state.web_app_init_data(
            self._user_id(request),
            start_param=query.get("start_param"),
            auth_date=_int(auth_date, "auth_date") if auth_date else None,
        )
        return _json({"init_data": init_data})

    async def edit(self, request: web.Request) -> web.Response:
        data, _ = await read_payload(request)
        message, update_id = self.state.user_edit(self._user_id(request), data)
        return self._sent(message, update_id)

    async def tap(self, request: web.Request) -> web.Response:
        data, _ = await read_payload(request)
        record = self.state.tap(self._user_id(request), data)
        return _json(record.view())

    async def callback(self, request: web.Request) -> web.Response:
        query_id = request.match_info["query_id"]
        state = self.state
        record = state.callbacks.get(query_id)
        if record is None:
            raise ControlError(404, f"no callback query {query_id}")
        timeout = min(MAX_WAIT, max(0.0, float(request.query.get("wait", "0"))))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not record.answered and not self.emulator.closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await state.notifier.wait(remaining)
        return _json(record.view())

    # -------------------------------------------------------------- files and commands

    async def file_info(self, request: web.Request) -> web.Response:
        stored = self.state.files.get(request.match_info["file_id"])
        if stored is None:
            raise ControlError(404, "no such file")
        return _json(stored.view())

    async def file_content(self, request: web.Request) -> web.Response:
        stored = self.state.files.get(request.match_info["file_id"])
        if stored is None:
            raise ControlError(404, "no such file")
        headers = {}
        if stored.file_name:
            headers["Content-Disposition"] = f'attachment; filename="{stored.file_name}"'
        return web.Response(
            body=stored.data,
            content_type=stored.mime_type or "application/octet-stream",
            headers=headers,
        )

    async def commands(self, request: web.Request) -> web.Response:
        query = request.query
        if "scope" not in query and "language_code" not in query:
            return _json(self.state.commands_view())
        raw_scope = query.get("scope", "default")
        scope = json.loads(raw_scope) if raw_scope.startswith("{") else {"type": raw_scope}
        language = query.get("language_code", "")
        return _json(
            {
                "scope": scope_key(scope),
                "language_code": language,
                "commands": self.state.get_commands(scope, language),
            }
        )

    async def menu_buttons(self, request: web.Request) -> web.Response:
        return _json(self.state.menu_buttons)

    # -------------------------------------------------------------- faults

    async def list_faults(self, request: web.Request) -> web.Response:
        return _json([f.view() for f in self.state.faults])

    async def add_fault(self, request: web.Request) -> web.Response:
        data, _ = await read_payload(request)
        return _json(self.state.add_fault(data).view(), 201)

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.state.faults.clear()
        return _json({"ok": True})


def add_control_routes(app: web.Application, emulator: BotApiEmulator) -> None:
    """Register every ``/control`` route on ``app``."""
    api = ControlApi(emulator)
    routes: list[tuple[str, str, RouteHandler]] = [
        ("GET", "/control", api.index),
        ("GET", "/control/health", api.health),
        ("POST", "/control/reset", api.reset),
        ("GET", "/control/bot", api.bot),
        ("GET", "/control/limits", api.get_limits),
        ("PATCH", "/control/limits", api.set_limits),
        ("POST", "/control/limits", api.set_limits),
        ("GET", "/control/stats", api.stats),
        ("POST", "/control/stats/reset", api.reset_stats),
        ("GET", "/control/updates", api.updates),
        ("GET", "/control/webhook", api.webhook),
        ("GET", "/control/users", api.list_users),
        ("POST", "/control/users", api.create_user),
        ("GET", "/control/users/{user_id}", api.get_user),
        ("POST", "/control/users/{user_id}/block", api.block),
        ("POST", "/control/users/{user_id}/unblock", api.unblock),
        ("GET", "/control/users/{user_id}/commands", api.user_commands),
        ("POST", "/control/users/{user_id}/text", api.send_text),
        ("POST", "/control/users/{user_id}/command", api.send_command),
        ("POST", "/control/users/{user_id}/photo", api.send_photo),
        ("POST", "/control/users/{user_id}/document", api.send_document),
        ("POST", "/control/users/{user_id}/voice", api.send_voice),
        ("POST", "/control/users/{user_id}/audio", api.send_audio),
        ("POST", "/control/users/{user_id}/album", api.send_album),
        ("POST", "/control/users/{user_id}/contact", api.send_contact),
        ("POST", "/control/users/{user_id}/press", api.press),
        ("POST", "/control/users/{user_id}/tap", api.tap),
        ("POST", "/control/users/{user_id}/edit", api.edit),
        ("POST", "/control/users/{user_id}/open_link", api.open_link),
        ("GET", "/control/users/{user_id}/web_app_init_data", api.web_app_init_data),
        ("POST", "/control/groups", api.create_group),
        ("GET", "/control/chats", api.list_chats),
        ("GET", "/control/chats/{chat_id}", api.get_chat),
        ("GET", "/control/chats/{chat_id}/messages", api.messages),
        ("GET", "/control/chats/{chat_id}/messages/{message_id}", api.message),
        ("GET", "/control/chats/{chat_id}/wait", api.wait_chat),
        ("GET", "/control/events", api.wait_all),
        ("GET", "/control/callbacks/{query_id}", api.callback),
        ("GET", "/control/files/{file_id}", api.file_info),
        ("GET", "/control/files/{file_id}/content", api.file_content),
        ("GET", "/control/commands", api.commands),
        ("GET", "/control/menu_buttons", api.menu_buttons),
        ("GET", "/control/faults", api.list_faults),
        ("POST", "/control/faults", api.add_fault),
        ("DELETE", "/control/faults", api.clear_faults),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, _guard(handler))
