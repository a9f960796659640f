"""In-memory world of the emulator: users, chats, messages, files, updates, faults, stats.

All Telegram semantics live here; the HTTP layers (:mod:`bot.sandbox.emulator` for the Bot
API, :mod:`bot.sandbox.control` for the control API) only translate requests. Every
message, edit and deletion gets a global, strictly increasing ``seq``; waiters (long-poll
``getUpdates``, ``/control/chats/{id}/wait``) sleep on a :class:`Notifier`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import mimetypes
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from bot.sandbox.formatting import apply_parse_mode
from bot.sandbox.limits import ApiError, FloodControl, Limits, bad_request
from bot.sandbox.media import (
    PhotoVariant,
    check_photo,
    image_size,
    ogg_duration,
    open_image,
    photo_variants,
)

JSON = dict[str, Any]

FIRST_USER_ID = 700_000_001
FIRST_UPDATE_ID = 100_000

#: Update types Telegram delivers when ``allowed_updates`` is empty.
DEFAULT_UPDATE_TYPES = frozenset(
    {"message", "edited_message", "callback_query", "my_chat_member", "inline_query"}
)

_FILE_ID_PREFIX = MappingProxyType(
    {
        "photo": "AgACAgIAAxk",
        "document": "BQACAgIAAxk",
        "voice": "AwACAgIAAxk",
        "audio": "CQACAgIAAxk",
        "video": "BAACAgIAAxk",
    }
)
_FILE_DIRS = MappingProxyType(
    {
        "photo": "photos",
        "document": "documents",
        "voice": "voice",
        "audio": "music",
        "video": "videos",
    }
)
_COMMAND_RE = re.compile(r"^/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]{3,32})?")
_ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_pin_messages",
)
_DEEP_LINK_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_BOT_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_MESSAGE_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


class ControlError(Exception):
    """A control API error: ``{"error": message}`` with the given HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Notifier:
    """Wakes every waiter when something changes; waiters re-check their own condition."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        """Wake all current waiters."""
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait(self, seconds: float) -> None:
        """Sleep until the next ``notify`` or for ``seconds``."""
        if seconds <= 0:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            async with asyncio.timeout(seconds):
                await waiter
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)


@dataclass
class UploadedFile:
    """A file as it arrived (multipart part or base64 in the control API)."""

    data: bytes
    filename: str | None = None
    content_type: str | None = None


@dataclass
class StoredFile:
    """A file Telegram holds, addressed by ``file_id``."""

    file_id: str
    file_unique_id: str
    kind: str
    data: bytes
    file_name: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    duration: int | None = None
    file_path: str | None = None
    photo_set: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.data)

    def api(self) -> JSON:
        """The Bot API object (PhotoSize, Document, Voice, Audio or Video)."""
        obj: JSON = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
        }
        if self.kind in ("photo", "video"):
            obj["width"] = self.width or 0
            obj["height"] = self.height or 0
        if self.kind in ("voice", "audio", "video"):
            obj["duration"] = self.duration or 0
        if self.kind in ("document", "audio", "video") and self.file_name:
            obj["file_name"] = self.file_name
        if self.kind != "photo" and self.mime_type:
            obj["mime_type"] = self.mime_type
        return obj

    def view(self) -> JSON:
        """Control API description of the file."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "kind": self.kind,
            "file_name": self.file_name,
            "mime_type": self.mime_type,
            "file_size": self.size,
            "width": self.width,
            "height": self.height,
            "duration": self.duration,
            "file_path": self.file_path,
        }


@dataclass
class SandboxUser:
    """A Telegram user played by the control API."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_premium: bool = False
    blocked_bot: bool = False
    started: bool = False
    phone_number: str | None = None

    def api(self) -> JSON:
        """The Bot API ``User`` object."""
        obj: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            value = getattr(self, key)
            if value is not None:
                obj[key] = value
        if self.is_premium:
            obj["is_premium"] = True
        return obj

    def view(self) -> JSON:
        """Control API description of the user."""
        return {
            **self.api(),
            "blocked_bot": self.blocked_bot,
            "started": self.started,
            "phone_number": self.phone_number,
        }


@dataclass
class SandboxChat:
    """A private chat or a group."""

    id: int
    type: str
    title: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    members: set[int] = field(default_factory=set)
    admins: set[int] = field(default_factory=set)
    last_message_id: int = 0
    keyboard: JSON | None = None
    actions: list[JSON] = field(default_factory=list)

    def api(self) -> JSON:
        """The Bot API ``Chat`` object."""
        obj: JSON = {"id": self.id, "type": self.type}
        for key in ("title", "first_name", "last_name", "username"):
            value = getattr(self, key)
            if value is not None:
                obj[key] = value
        return obj

    def view(self) -> JSON:
        """Control API description of the chat (with the reply keyboard shown to users)."""
        return {
            **self.api(),
            "members": sorted(self.members),
            "admins": sorted(self.admins),
            "keyboard": self.keyboard,
            "actions": list(self.actions),
        }


@dataclass
class StoredMessage:
    """A message in a chat, with its edit history."""

    chat: SandboxChat
    message_id: int
    seq: int
    from_bot: bool
    sender: JSON
    date: int
    kind: str
    text: str | None = None
    entities: list[JSON] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[JSON] = field(default_factory=list)
    raw: str | None = None
    parse_mode: str | None = None
    media: JSON = field(default_factory=dict)
    files: list[StoredFile] = field(default_factory=list)
    reply_markup: JSON | None = None
    media_group_id: str | None = None
    protect_content: bool = False
    disable_notification: bool = False
    reply_to: StoredMessage | None = None
    forward_origin: JSON | None = None
    edit_date: int | None = None
    history: list[JSON] = field(default_factory=list)
    deleted: bool = False
    last_seq: int = 0

    def api(self, nested: bool = True) -> JSON:
        """The Bot API ``Message`` object."""
        obj: JSON = {
            "message_id": self.message_id,
            "from": self.sender,
            "chat": self.chat.api(),
            "date": self.date,
        }
        if self.edit_date is not None:
            obj["edit_date"] = self.edit_date
        if self.text is not None:
            obj["text"] = self.text
            if self.entities:
                obj["entities"] = self.entities
        obj.update(self.media)
        if self.caption is not None:
            obj["caption"] = self.caption
            if self.caption_entities:
                obj["caption_entities"] = self.caption_entities
        if self.media_group_id:
            obj["media_group_id"] = self.media_group_id
        if self.protect_content:
            obj["has_protected_content"] = True
        if self.forward_origin:
            obj["forward_origin"] = self.forward_origin
        if self.reply_to is not None and nested:
            obj["reply_to_message"] = self.reply_to.api(nested=False)
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            obj["reply_markup"] = self.reply_markup
        return obj

    def view(self) -> JSON:
        """Control API description: everything a test wants to assert on."""
        markup = self.reply_markup or {}
        buttons = [
            [_button_view(button) for button in row] for row in markup.get("inline_keyboard", [])
        ]
        keyboard = None
        if "keyboard" in markup:
            keyboard = [
                [_button_view(b if isinstance(b, dict) else {"text": b}) for b in row]
                for row in markup["keyboard"]
            ]
        return {
            "seq": self.seq,
            "last_seq": self.last_seq,
            "chat_id": self.chat.id,
            "message_id": self.message_id,
            "from_bot": self.from_bot,
            "from": self.sender,
            "date": self.date,
            "kind": self.kind,
            "text": self.text,
            "caption": self.caption,
            "entities": self.entities,
            "caption_entities": self.caption_entities,
            "raw": self.raw,
            "parse_mode": self.parse_mode,
            "reply_markup": self.reply_markup,
            "buttons": buttons,
            "keyboard": keyboard,
            "remove_keyboard": bool(markup.get("remove_keyboard")),
            "attachments": [_attachment_view(self.kind, self.files)] if self.files else [],
            "contact": self.media.get("contact"),
            "media_group_id": self.media_group_id,
            "protect_content": self.protect_content,
            "reply_to_message_id": self.reply_to.message_id if self.reply_to else None,
            "forward_origin": self.forward_origin,
            "edited": self.edit_date is not None,
            "edit_date": self.edit_date,
            "history": list(self.history),
            "deleted": self.deleted,
        }


def _button_view(button: JSON) -> JSON:
    view: JSON = {"text": button.get("text", "")}
    for key in ("callback_data", "url", "request_contact", "switch_inline_query"):
        if key in button:
            view[key] = button[key]
    if "web_app" in button:
        view["web_app"] = button["web_app"].get("url")
    return view


def _attachment_view(kind: str, files: list[StoredFile]) -> JSON:
    main = files[-1]
    view = {"type": kind, **main.view()}
    if kind == "photo":
        view["sizes"] = [f.api() for f in files]
    return view


@dataclass
class CallbackRecord:
    """A callback query produced by a tap, and the bot's answer."""

    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    created: float
    update_id: int
    answered: bool = False
    answer: JSON | None = None

    def view(self) -> JSON:
        """Control API description."""
        return {
            "callback_query_id": self.id,
            "user_id": self.user_id,
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "data": self.data,
            "update_id": self.update_id,
            "answered": self.answered,
            "answer": self.answer,
        }


@dataclass
class Fault:
    """An injected failure for the next ``remaining`` matching Bot API calls."""

    id: int
    kind: str
    method: str | None
    chat_id: int | None
    remaining: int
    retry_after: int = 5
    status: int = 500
    description: str | None = None
    delay: float = 0.0

    def matches(self, method: str, chat_id: int | None) -> bool:
        """Whether this fault applies to a call of ``method`` for ``chat_id``."""
        if self.remaining <= 0:
            return False
        if self.method is None:
            if method == "getupdates":
                return False
        elif self.method != method:
            return False
        return self.chat_id is None or self.chat_id == chat_id

    def error(self) -> ApiError | None:
        """The error to answer with (``None`` for a pure delay)."""
        if self.kind == "flood":
            return ApiError(
                429,
                self.description or f"Too Many Requests: retry after {self.retry_after}",
                {"retry_after": self.retry_after},
            )
        if self.kind == "blocked":
            return ApiError(403, self.description or "Forbidden: bot was blocked by the user")
        if self.kind == "error":
            phrase = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
            return ApiError(self.status, self.description or phrase.get(self.status, "Error"))
        return None

    def view(self) -> JSON:
        """Control API description."""
        return {
            "id": self.id,
            "kind": self.kind,
            "method": self.method,
            "chat_id": self.chat_id,
            "remaining": self.remaining,
            "retry_after": self.retry_after,
            "status": self.status,
            "description": self.description,
            "delay": self.delay,
        }


@dataclass
class Stats:
    """Request counters."""

    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    flood_429: int = 0
    injected: int = 0

    def record(self, method: str, status: int) -> None:
        """Count one Bot API response."""
        self.requests[method] += 1
        self.statuses[str(status)] += 1
        if status != 200:
            self.errors[f"{method}:{status}"] += 1

    def view(self) -> JSON:
        """Control API description."""
        return {
            "requests": dict(self.requests),
            "total_requests": sum(self.requests.values()),
            "statuses": dict(self.statuses),
            "errors": dict(self.errors),
            "responses_429": self.statuses.get("429", 0),
            "flood_429": self.flood_429,
            "injected_faults": self.injected,
        }


def _random_id(length: int = 24) -> str:
    return secrets.token_urlsafe(length)[:length]


def scope_key(scope: JSON | None) -> str:
    """Canonical key of a ``BotCommandScope``."""
    scope = scope or {"type": "default"}
    kind = scope.get("type", "default")
    parts = [kind]
    if "chat_id" in scope:
        parts.append(f"chat_id={scope['chat_id']}")
    if "user_id" in scope:
        parts.append(f"user_id={scope['user_id']}")
    return ";".join(parts)


def _validate_inline_keyboard(markup: JSON, limits: Limits, private: bool) -> None:
    rows = markup.get("inline_keyboard")
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(
            "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
        )
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise bad_request("can't parse inline keyboard button: Text must be a String")
            actions = set(button) - {"text"}
            if not actions:
                raise bad_request("text buttons are unallowed in the inline keyboard")
            if "callback_data" in button:
                data = button["callback_data"]
                size = len(str(data).encode())
                if not isinstance(data, str) or not 1 <= size <= limits.max_callback_data_bytes:
                    raise bad_request("BUTTON_DATA_INVALID")
            if "url" in button:
                url = str(button["url"])
                if not re.match(r"^(https?|tg)://\S+$", url):
                    raise bad_request(
                        f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL"
                    )
            if "web_app" in button:
                if not private:
                    raise bad_request("BUTTON_TYPE_INVALID")
                url = str((button["web_app"] or {}).get("url", ""))
                if not url.startswith("https://"):
                    raise bad_request("BUTTON_URL_INVALID")


class SandboxState:
    """Everything the emulator knows; one instance per emulator, no globals."""

    def __init__(
        self,
        *,
        token: str,
        bot_id: int,
        bot_username: str = "SamparkBot",
        bot_first_name: str = "Sampark",
        limits: Limits | None = None,
        clock: Callable[[], float],
    ) -> None:
        self.token = token
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.limits = limits or Limits()
        self.clock = clock
        self.flood = FloodControl(self.limits, clock)
        self.notifier = Notifier()
        self.seq = 0
        self.next_update_id = FIRST_UPDATE_ID
        self.poll_generation = 0
        self._init_world()

    def _init_world(self) -> None:
        self.users: dict[int, SandboxUser] = {}
        self.chats: dict[int, SandboxChat] = {}
        self.messages: dict[int, dict[int, StoredMessage]] = {}
        self.events: dict[int, list[JSON]] = {}
        self.files: dict[str, StoredFile] = {}
        self.files_by_path: dict[str, StoredFile] = {}
        self.updates: list[JSON] = []
        self.allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
        self.callbacks: dict[str, CallbackRecord] = {}
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.menu_buttons: dict[str, JSON] = {}
        self.webhook: JSON = {"url": "", "secret_token": None, "allowed_updates": None}
        self.webhook_errors: list[JSON] = []
        self.webhook_delivered = 0
        self.bot_texts: dict[tuple[str, str], str] = {}
        self.faults: list[Fault] = []
        self.stats = Stats()
        self.next_user_id = FIRST_USER_ID
        self.next_fault_id = 1
        self.file_counter = 0
        self.dropped_updates = 0

    def reset(self) -> None:
        """Forget every user, chat, message, file, fault and counter (ids keep increasing)."""
        self._init_world()
        self.flood.configure(self.limits)
        self.notifier.notify()

    def configure(self, limits: Limits) -> None:
        """Apply new limits (flood buckets restart)."""
        self.limits = limits
        self.flood.configure(limits)

    # ----------------------------------------------------------------- helpers

    def now(self) -> int:
        """Current Unix time as Telegram dates it."""
        return int(self.clock())

    def next_seq(self) -> int:
        """Allocate the next global sequence number."""
        self.seq += 1
        return self.seq

    def bot_user(self) -> JSON:
        """The bot's ``User`` object."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def get_me(self) -> JSON:
        """Result of ``getMe``."""
        return {
            **self.bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _record_event(self, kind: str, message: StoredMessage) -> None:
        seq = self.next_seq()
        message.last_seq = seq
        self.events.setdefault(message.chat.id, []).append(
            {
                "seq": seq,
                "kind": kind,
                "chat_id": message.chat.id,
                "message_id": message.message_id,
                "from_bot": message.from_bot,
                "message": message.view(),
            }
        )
        self.notifier.notify()

    def enqueue_update(self, kind: str, payload: JSON) -> int:
        """Queue an update for ``getUpdates``; return its ``update_id``."""
        update_id = self.next_update_id
        self.next_update_id += 1
        if kind not in self.allowed_updates:
            self.dropped_updates += 1
            return update_id
        self.updates.append({"update_id": update_id, kind: payload})
        self.notifier.notify()
        return update_id

    # ----------------------------------------------------------------- users and chats

    def create_user(self, data: JSON) -> SandboxUser:
        """Create (or update) a user from control API fields."""
        user_id = data.get("id")
        if user_id is None:
            while self.next_user_id in self.users:
                self.next_user_id += 1
            user_id = self.next_user_id
            self.next_user_id += 1
        if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id <= 0:
            raise ControlError(400, "id must be a positive integer")
        existing = self.users.get(user_id)
        if existing is not None:  # an update: omitted fields keep their values
            data = {**existing.view(), **{k: v for k, v in data.items() if v is not None}}
        first_name = data.get("first_name") or f"User{user_id}"
        user = SandboxUser(
            id=user_id,
            first_name=str(first_name),
            last_name=data.get("last_name"),
            username=data.get("username"),
            language_code=data.get("language_code"),
            is_premium=bool(data.get("is_premium", False)),
            blocked_bot=existing.blocked_bot if existing else False,
            started=bool(data.get("started", False)) or bool(existing and existing.started),
            phone_number=str(data.get("phone_number") or f"+9198{user_id % 10**8:08d}"),
        )
        self.users[user_id] = user
        if user.started:
            self.private_chat(user)
        chat = self.chats.get(user_id)
        if chat is not None:
            chat.first_name, chat.last_name, chat.username = (
                user.first_name,
                user.last_name,
                user.username,
            )
        return user

    def user(self, user_id: int) -> SandboxUser:
        """A user or a control 404."""
        user = self.users.get(user_id)
        if user is None:
            raise ControlError(404, f"no user {user_id}")
        return user

    def private_chat(self, user: SandboxUser) -> SandboxChat:
        """The private chat between the bot and ``user`` (created on first use)."""
        chat = self.chats.get(user.id)
        if chat is None:
            chat = SandboxChat(
                id=user.id,
                type="private",
                first_name=user.first_name,
                last_name=user.last_name,
                username=user.username,
                members={user.id},
            )
            self.chats[user.id] = chat
            self.messages[user.id] = {}
        return chat

    def create_group(self, data: JSON) -> SandboxChat:
        """Create a group or supergroup with the given members."""
        kind = data.get("type", "supergroup")
        if kind not in ("group", "supergroup"):
            raise ControlError(400, "type must be group or supergroup")
        chat_id = data.get("id")
        if chat_id is None:
            base = -1_001_000_000_000 if kind == "supergroup" else -4_000_000_000
            chat_id = base - len(self.chats)
            while chat_id in self.chats:
                chat_id -= 1
        if not isinstance(chat_id, int) or chat_id >= 0:
            raise ControlError(400, "group id must be a negative integer")
        admins = {int(m) for m in data.get("admins", [])}
        members = {int(m) for m in data.get("members", [])} | admins
        for member in members:
            self.user(member)
        chat = SandboxChat(
            id=chat_id,
            type=kind,
            title=str(data.get("title") or "Group"),
            members=members,
            admins=admins,
        )
        self.chats[chat_id] = chat
        self.messages[chat_id] = {}
        return chat

    def chat_for_bot(self, chat_id: Any) -> SandboxChat:
        """Resolve a Bot API ``chat_id`` (int or ``@username``) or raise ``chat not found``."""
        chat: SandboxChat | None = None
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            name = chat_id[1:].lower()
            chat = next(
                (c for c in self.chats.values() if (c.username or "").lower() == name), None
            )
        else:
            try:
                chat = self.chats.get(int(chat_id))
            except (TypeError, ValueError):
                chat = None
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def check_can_send(self, chat: SandboxChat) -> None:
        """Raise 403 when the bot may not write to ``chat``."""
        if chat.type != "private":
            return
        user = self.users.get(chat.id)
        if user is None:
            raise bad_request("chat not found")
        if user.blocked_bot:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if not user.started:
            raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")

    def set_blocked(self, user_id: int, blocked: bool) -> SandboxUser:
        """Block or unblock the bot as ``user`` (emits a ``my_chat_member`` update)."""
        user = self.user(user_id)
        if user.blocked_bot == blocked:
            return user
        user.blocked_bot = blocked
        chat = self.private_chat(user)
        member = {"user": self.bot_user(), "status": "member"}
        kicked = {"user": self.bot_user(), "status": "kicked", "until_date": 0}
        self.enqueue_update(
            "my_chat_member",
            {
                "chat": chat.api(),
                "from": user.api(),
                "date": self.now(),
                "old_chat_member": member if blocked else kicked,
                "new_chat_member": kicked if blocked else member,
            },
        )
        return user

    # ----------------------------------------------------------------- files

    def store_file(
        self,
        kind: str,
        data: bytes,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        width: int | None = None,
        height: int | None = None,
        duration: int | None = None,
    ) -> StoredFile:
        """Store bytes under a new ``file_id``."""
        stored = StoredFile(
            file_id=_FILE_ID_PREFIX.get(kind, "BQACAgIAAxk") + _random_id(40),
            file_unique_id="AgAD" + _random_id(12),
            kind=kind,
            data=data,
            file_name=file_name,
            mime_type=mime_type,
            width=width,
            height=height,
            duration=duration,
        )
        self.files[stored.file_id] = stored
        return stored

    def store_photo(self, data: bytes, *, check: bool) -> list[StoredFile]:
        """Recompress a photo into JPEG variants (smallest first) and store each."""
        return self.store_variants(self.photo_variants_of(data, check=check))

    def photo_variants_of(self, data: bytes, *, check: bool) -> list[PhotoVariant]:
        """A photo's JPEG variants; CPU work only, touching no state (safe in a thread)."""
        image = check_photo(data, self.limits) if check else open_image(data)
        return photo_variants(image, self.limits.photo_long_side)

    def store_variants(self, variants: list[PhotoVariant]) -> list[StoredFile]:
        """Store one photo's variants (from ``photo_variants_of``) as one photo set."""
        stored = [
            self.store_file("photo", v.data, mime_type="image/jpeg", width=v.width, height=v.height)
            for v in variants
        ]
        ids = tuple(f.file_id for f in stored)
        for item in stored:
            item.photo_set = ids
        return stored

    def get_file(self, file_id: str) -> JSON:
        """Result of ``getFile``: assigns a download path that cannot exist locally."""
        stored = self.files.get(file_id)
        if stored is None:
            raise bad_request("wrong file_id or the file is temporarily unavailable")
        if stored.size > self.limits.max_download_bytes:
            raise bad_request("file is too big")
        if stored.file_path is None:
            self.file_counter += 1
            suffix = PurePosixPath(stored.file_name or "").suffix
            if not suffix:
                suffix = mimetypes.guess_extension(stored.mime_type or "") or ""
                if stored.kind == "voice":
                    suffix = ".oga"
            stored.file_path = (
                f"{_FILE_DIRS.get(stored.kind, 'documents')}/{_random_id(16)}/"
                f"file_{self.file_counter}{suffix}"
            )
            self.files_by_path[stored.file_path] = stored
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.file_path,
        }

    def resolve_input(self, kind: str, value: Any) -> StoredFile | UploadedFile:
        """A reused ``file_id`` (checked for type) or an upload."""
        if isinstance(value, UploadedFile):
            return value
        if not isinstance(value, str) or not value:
            raise bad_request(f"there is no {kind} in the request")
        if value.startswith(("http://", "https://")):
            raise bad_request("failed to get HTTP URL content")
        stored = self.files.get(value)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if stored.kind != kind and not (kind == "document" and stored.kind != "photo"):
            raise bad_request(
                f"can't use file of type {stored.kind.capitalize()} as {kind.capitalize()}"
            )
        return stored

    def materialize(
        self, kind: str, source: StoredFile | UploadedFile, params: JSON
    ) -> list[StoredFile]:
        """Turn an input file of ``kind`` into stored files (photos: every size)."""
        if isinstance(source, StoredFile):
            if kind == "photo":
                return [self.files[file_id] for file_id in source.photo_set or (source.file_id,)]
            return [source]
        if kind == "photo":
            return self.store_photo(source.data, check=True)
        if not source.data:
            raise bad_request("file must be non-empty")
        if len(source.data) > self.limits.max_upload_bytes:
            raise ApiError(413, "Request Entity Too Large")
        file_name = source.filename or f"{kind}"
        mime = source.content_type
        if not mime or mime == "application/octet-stream":
            mime = mimetypes.guess_type(file_name)[0] or mime or "application/octet-stream"
        duration = _int_or_none(params.get("duration"))
        if kind == "voice":
            mime = "audio/ogg" if mime in (None, "application/octet-stream") else mime
            duration = duration if duration is not None else ogg_duration(source.data) or 0
            return [self.store_file("voice", source.data, mime_type=mime, duration=duration)]
        width = _int_or_none(params.get("width"))
        height = _int_or_none(params.get("height"))
        return [
            self.store_file(
                kind,
                source.data,
                file_name=file_name,
                mime_type=mime,
                width=width,
                height=height,
                duration=duration,
            )
        ]

    # ----------------------------------------------------------------- messages

    def _new_message(
        self,
        chat: SandboxChat,
        *,
        from_bot: bool,
        sender: JSON,
        kind: str,
        **content: Any,
    ) -> StoredMessage:
        chat.last_message_id += 1
        message = StoredMessage(
            chat=chat,
            message_id=chat.last_message_id,
            seq=0,
            from_bot=from_bot,
            sender=sender,
            date=self.now(),
            kind=kind,
            **content,
        )
        self.messages.setdefault(chat.id, {})[message.message_id] = message
        message.seq = self.seq + 1
        self._record_event("message", message)
        return message

    def find_message(self, chat_id: int, message_id: Any) -> StoredMessage | None:
        """A live (not deleted) message or ``None``."""
        try:
            message = self.messages.get(int(chat_id), {}).get(int(message_id))
        except (TypeError, ValueError):
            return None
        if message is None or message.deleted:
            return None
        return message

    def check_markup(self, markup: JSON | None, chat: SandboxChat) -> None:
        """Validate a ``reply_markup`` object."""
        if markup is None:
            return
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            _validate_inline_keyboard(markup, self.limits, chat.type == "private")
        elif "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise bad_request("can't parse reply keyboard markup JSON object")
        elif not (markup.get("remove_keyboard") or markup.get("force_reply")):
            raise bad_request("can't parse reply keyboard markup JSON object")

    def format_text(
        self, text: Any, parse_mode: str | None, entities: list[JSON] | None, caption: bool
    ) -> tuple[str, list[JSON]]:
        """Apply ``parse_mode`` and the length limits to a text or caption."""
        raw = "" if text is None else str(text)
        plain, parsed = apply_parse_mode(raw, parse_mode, entities)
        if caption:
            if len(plain) > self.limits.max_caption_length:
                raise bad_request("message caption is too long")
        else:
            if not plain.strip():
                raise bad_request("message text is empty")
            if len(plain) > self.limits.max_text_length:
                raise bad_request("message is too long")
        return plain, parsed

    def reply_target(self, chat: SandboxChat, params: JSON) -> StoredMessage | None:
        """The message a send replies to (``reply_parameters`` or ``reply_to_message_id``)."""
        reply = params.get("reply_parameters") or {}
        message_id = reply.get("message_id") if isinstance(reply, dict) else None
        allow = bool(isinstance(reply, dict) and reply.get("allow_sending_without_reply"))
        if message_id is None and params.get("reply_to_message_id") is not None:
            message_id = params["reply_to_message_id"]
            allow = bool(params.get("allow_sending_without_reply"))
        if message_id is None:
            return None
        target_chat = reply.get("chat_id", chat.id) if isinstance(reply, dict) else chat.id
        target = self.find_message(int(target_chat), message_id)
        if target is None and not allow:
            raise bad_request("message to be replied not found")
        return target

    def take_flood(self, chat: SandboxChat) -> None:
        """Consume one send from the flood limits or raise 429."""
        retry_after = self.flood.check(chat.id, chat.type == "private")
        if retry_after:
            self.stats.flood_429 += 1
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
            )

    def _apply_keyboard(self, chat: SandboxChat, markup: JSON | None) -> None:
        if not markup:
            return
        if "keyboard" in markup:
            chat.keyboard = markup
        elif markup.get("remove_keyboard"):
            chat.keyboard = None

    def bot_send(
        self,
        chat: SandboxChat,
        kind: str,
        params: JSON,
        *,
        files: list[StoredFile] | None = None,
        media_group_id: str | None = None,
        caption_source: JSON | None = None,
        count_flood: bool = True,
        reply_to: StoredMessage | None = None,
        forward_origin: JSON | None = None,
        extra_media: JSON | None = None,
    ) -> StoredMessage:
        """Create a bot message of ``kind`` in ``chat`` from validated Bot API params."""
        content: JSON = {}
        parse_mode = params.get("parse_mode")
        source = caption_source if caption_source is not None else params
        if kind == "text":
            text, entities = self.format_text(
                params.get("text"), parse_mode, params.get("entities"), caption=False
            )
            content.update(text=text, entities=entities, raw=params.get("text"))
        elif source.get("caption") is not None:
            mode = source.get("parse_mode", parse_mode)
            caption, entities = self.format_text(
                source.get("caption"), mode, source.get("caption_entities"), caption=True
            )
            if caption:
                content.update(
                    caption=caption, caption_entities=entities, raw=source.get("caption")
                )
            parse_mode = mode
        markup = params.get("reply_markup")
        self.check_markup(markup, chat)
        if count_flood:
            self.take_flood(chat)
        media: JSON = dict(extra_media or {})
        if files:
            media = _media_field(kind, files)
        message = self._new_message(
            chat,
            from_bot=True,
            sender=self.bot_user(),
            kind=kind,
            parse_mode=parse_mode,
            media=media,
            files=list(files or []),
            reply_markup=markup,
            media_group_id=media_group_id,
            protect_content=bool(params.get("protect_content")),
            disable_notification=bool(params.get("disable_notification")),
            reply_to=reply_to,
            forward_origin=forward_origin,
            **content,
        )
        self._apply_keyboard(chat, markup)
        return message

    def edit(
        self,
        params: JSON,
        what: str,
        media: tuple[str, list[StoredFile], JSON] | None = None,
    ) -> StoredMessage:
        """``editMessageText`` / ``…Caption`` / ``…ReplyMarkup`` / ``…Media`` (``what``)."""
        if params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        if params.get("chat_id") is None:
            raise bad_request("chat_id is empty")
        chat = self.chat_for_bot(params["chat_id"])
        if params.get("message_id") is None:
            raise bad_request("message identifier is not specified")
        message = self.find_message(chat.id, params["message_id"])
        if message is None:
            raise bad_request("message to edit not found")
        if not message.from_bot:
            raise bad_request("message can't be edited")
        markup = params.get("reply_markup")
        if markup is not None and "inline_keyboard" not in markup:
            raise bad_request("inline keyboard expected")
        self.check_markup(markup, chat)
        new: JSON = {"reply_markup": markup}
        mode = params.get("parse_mode")
        if what == "text":
            if message.text is None:
                raise bad_request("there is no text in the message to edit")
            text, entities = self.format_text(
                params.get("text"), mode, params.get("entities"), caption=False
            )
            new.update(text=text, entities=entities, raw=params.get("text"), parse_mode=mode)
        elif what in ("caption", "media"):
            source = params
            if what == "media":
                if message.text is not None or not message.files:
                    raise bad_request("there is no media in the message to edit")
                assert media is not None
                kind, files, source = media
                mode = source.get("parse_mode")
                new.update(kind=kind, files=files, media=_media_field(kind, files))
            elif message.text is not None:
                raise bad_request("there is no caption in the message to edit")
            caption, entities = self.format_text(
                source.get("caption") or "", mode, source.get("caption_entities"), caption=True
            )
            new.update(
                caption=caption or None,
                caption_entities=entities,
                raw=source.get("caption"),
                parse_mode=mode,
            )

        def key(values: JSON) -> tuple[Any, ...]:
            return (
                values["text"],
                json.dumps(values["entities"], sort_keys=True),
                values["caption"],
                json.dumps(values["caption_entities"], sort_keys=True),
                json.dumps(values["reply_markup"], sort_keys=True),
                tuple(f.file_id for f in values["files"]),
            )

        names = ("text", "entities", "caption", "caption_entities", "reply_markup", "files")
        current = {name: getattr(message, name) for name in names}
        if key({**current, **{k: v for k, v in new.items() if k in names}}) == key(current):
            raise bad_request(_MESSAGE_NOT_MODIFIED)
        message.history.append(
            {
                "seq": message.last_seq,
                "kind": message.kind,
                "text": message.text,
                "caption": message.caption,
                "reply_markup": message.reply_markup,
                "file_ids": [f.file_id for f in message.files],
                "edit_date": message.edit_date,
            }
        )
        for name, value in new.items():
            setattr(message, name, value)
        message.edit_date = max(self.now(), message.date)
        self._record_event("edit", message)
        return message

    def user_edit(self, user_id: int, data: JSON) -> tuple[StoredMessage, int]:
        """A user edits their own message: queues an ``edited_message`` update."""
        user = self.user(user_id)
        chat_id = int(data.get("chat_id", user.id))
        message = self.find_message(chat_id, data.get("message_id"))
        if message is None or message.from_bot or message.sender.get("id") != user.id:
            raise ControlError(404, f"user {user_id} has no message {data.get('message_id')}")
        message.history.append(
            {
                "seq": message.last_seq,
                "kind": message.kind,
                "text": message.text,
                "caption": message.caption,
                "reply_markup": message.reply_markup,
                "edit_date": message.edit_date,
            }
        )
        if message.text is not None:
            text = data.get("text")
            if not isinstance(text, str) or not text:
                raise ControlError(400, "text is required to edit a text message")
            message.text = text
            match = _COMMAND_RE.match(text)
            message.entities = (
                [{"type": "bot_command", "offset": 0, "length": utf16(match.group(0))}]
                if match
                else []
            )
        else:
            message.caption = data.get("caption") or None
            message.caption_entities = []
        message.edit_date = max(self.now(), message.date)
        self._record_event("edit", message)
        update_id = self.enqueue_update("edited_message", message.api())
        return message, update_id

    def delete(self, chat_id: Any, message_id: Any, missing_ok: bool = False) -> None:
        """``deleteMessage`` (``missing_ok`` for ``deleteMessages``)."""
        chat = self.chat_for_bot(chat_id)
        message = self.find_message(chat.id, message_id)
        if message is None:
            if missing_ok:
                return
            raise bad_request("message to delete not found")
        message.deleted = True
        self._record_event("delete", message)

    def copy_or_forward(self, params: JSON, forward: bool) -> StoredMessage:
        """``copyMessage`` / ``forwardMessage``."""
        chat = self.chat_for_bot(params.get("chat_id"))
        source_chat = self.chat_for_bot(params.get("from_chat_id"))
        self.check_can_send(chat)
        source = self.find_message(source_chat.id, params.get("message_id"))
        verb = "forward" if forward else "copy"
        if source is None:
            raise bad_request(f"message to {verb} not found")
        if source.protect_content:
            raise bad_request("message has protected content and can't be forwarded")
        if source.kind == "text":
            copy_params: JSON = {
                **params,
                "text": source.text,
                "entities": source.entities or None,
                "parse_mode": None,
            }
        else:
            caption_given = "caption" in params and not forward
            copy_params = {
                **params,
                "caption": params.get("caption") if caption_given else source.caption,
                "caption_entities": (
                    params.get("caption_entities") if caption_given else source.caption_entities
                )
                or None,
                "parse_mode": params.get("parse_mode") if caption_given else None,
            }
        if forward:
            copy_params["reply_markup"] = None
        elif "reply_markup" not in params:
            copy_params["reply_markup"] = source.reply_markup
        reply_to = None if forward else self.reply_target(chat, params)
        origin = (
            {"type": "user", "sender_user": source.sender, "date": source.date} if forward else None
        )
        return self.bot_send(
            chat,
            source.kind,
            copy_params,
            files=source.files,
            reply_to=reply_to,
            forward_origin=origin,
            extra_media=source.media if source.kind == "contact" else None,
        )

    # ----------------------------------------------------------------- user side

    def user_chat(self, user: SandboxUser, chat_id: Any) -> SandboxChat:
        """The chat a user writes in (default: the private chat with the bot)."""
        if chat_id is None or int(chat_id) == user.id:
            chat = self.private_chat(user)
            if user.blocked_bot:
                self.set_blocked(user.id, False)
            user.started = True
            return chat
        group = self.chats.get(int(chat_id))
        if group is None:
            raise ControlError(404, f"no chat {chat_id}")
        if group.type == "private":
            raise ControlError(400, "a user can only write in their own private chat")
        group.members.add(user.id)
        return group

    def user_message(
        self,
        user_id: int,
        kind: str,
        *,
        chat_id: Any = None,
        text: str | None = None,
        entities: list[JSON] | None = None,
        caption: str | None = None,
        files: list[StoredFile] | None = None,
        media: JSON | None = None,
        media_group_id: str | None = None,
        reply_to_message_id: int | None = None,
    ) -> tuple[StoredMessage, int | None]:
        """A message written by a user; queues the ``message`` update (unless privacy hides it)."""
        user = self.user(user_id)
        chat = self.user_chat(user, chat_id)
        reply_to = None
        if reply_to_message_id is not None:
            reply_to = self.find_message(chat.id, reply_to_message_id)
            if reply_to is None:
                raise ControlError(404, f"no message {reply_to_message_id} in chat {chat.id}")
        if text is not None and entities is None:
            match = _COMMAND_RE.match(text)
            entities = (
                [{"type": "bot_command", "offset": 0, "length": utf16(match.group(0))}]
                if match
                else []
            )
        message = self._new_message(
            chat,
            from_bot=False,
            sender=user.api(),
            kind=kind,
            text=text,
            entities=entities or [],
            caption=caption,
            media=media if media is not None else _media_field(kind, files or []),
            files=list(files or []),
            media_group_id=media_group_id,
            reply_to=reply_to,
        )
        if chat.keyboard and chat.keyboard.get("one_time_keyboard"):
            chat.keyboard = None
        self.flood.credit(chat.id, chat.type == "private")
        if not self._bot_sees(message):
            return message, None
        update_id = self.enqueue_update("message", message.api())
        return message, update_id

    def _bot_sees(self, message: StoredMessage) -> bool:
        """Group privacy mode: only commands, replies to the bot and mentions reach it."""
        if message.chat.type == "private" or not self.limits.group_privacy:
            return True
        body = message.text or message.caption or ""
        mention = f"@{self.bot_username}".lower()
        if body.startswith("/"):
            command = body.split(maxsplit=1)[0].lower()
            return "@" not in command or command.endswith(mention)
        if message.reply_to is not None and message.reply_to.from_bot:
            return True
        return mention in body.lower()

    def share_contact(self, user_id: int, data: JSON) -> tuple[StoredMessage, int | None]:
        """The user shares a contact: their own unless ``first_name`` is given."""
        user = self.user(user_id)
        own = "first_name" not in data
        phone = data.get("phone_number") or (user.phone_number if own else None)
        if not phone:
            raise ControlError(400, "phone_number is required")
        contact: JSON = {
            "phone_number": str(phone),
            "first_name": user.first_name if own else str(data["first_name"]),
        }
        last_name = user.last_name if own else data.get("last_name")
        if last_name:
            contact["last_name"] = last_name
        contact_user = data.get("user_id", user.id if own else None)
        if contact_user is not None:
            contact["user_id"] = int(contact_user)
        return self.user_message(
            user.id, "contact", chat_id=data.get("chat_id"), media={"contact": contact}
        )

    def press(self, user_id: int, data: JSON) -> tuple[StoredMessage, int | None]:
        """The user presses a button of the reply keyboard shown in the chat."""
        user = self.user(user_id)
        chat_id = int(data.get("chat_id", user.id))
        chat = self.chats.get(chat_id)
        label = data.get("text")
        if chat is None or chat.keyboard is None:
            raise ControlError(409, f"no reply keyboard is shown in chat {chat_id}")
        buttons = [
            b if isinstance(b, dict) else {"text": b}
            for row in chat.keyboard.get("keyboard", [])
            for b in row
        ]
        button = next((b for b in buttons if b.get("text") == label), None)
        if button is None:
            shown = [b.get("text") for b in buttons]
            raise ControlError(409, f"no keyboard button {label!r}; buttons: {shown}")
        if button.get("request_contact"):
            return self.share_contact(user.id, {"chat_id": chat_id})
        if any(key.startswith("request_") or key == "web_app" for key in button):
            raise ControlError(400, f"button {label!r} needs a client feature the sandbox lacks")
        return self.user_message(user.id, "text", chat_id=chat_id, text=str(label))

    def tap(self, user_id: int, data: JSON) -> CallbackRecord:
        """A user taps an inline button: queues a ``callback_query`` update."""
        user = self.user(user_id)
        chat_id = int(data.get("chat_id", user.id))
        message = self.find_message(chat_id, data.get("message_id"))
        if message is None:
            raise ControlError(404, f"no message {data.get('message_id')} in chat {chat_id}")
        callback_data = data.get("callback_data")
        label = data.get("text")
        if not data.get("force"):
            rows = (message.reply_markup or {}).get("inline_keyboard", [])
            buttons = [b for row in rows for b in row]
            button = next(
                (
                    b
                    for b in buttons
                    if (callback_data is not None and b.get("callback_data") == callback_data)
                    or (label is not None and b.get("text") == label)
                ),
                None,
            )
            if button is None:
                shown = [(b.get("text"), b.get("callback_data")) for b in buttons]
                raise ControlError(
                    409, f"message {message.message_id} has no such button; buttons: {shown}"
                )
            if "callback_data" not in button:
                raise ControlError(409, f"button {button.get('text')!r} has no callback_data")
            callback_data = button["callback_data"]
        if callback_data is None:
            raise ControlError(400, "callback_data or text is required")
        if user.blocked_bot:
            self.set_blocked(user.id, False)
        query_id = str(secrets.randbelow(10**18) + 10**18)
        payload = {
            "id": query_id,
            "from": user.api(),
            "message": message.api(),
            "chat_instance": str(abs(hash((self.bot_id, chat_id))) % 10**18),
            "data": str(callback_data),
        }
        chat = self.chats.get(chat_id)
        if chat is not None:
            self.flood.credit(chat.id, chat.type == "private")
        update_id = self.enqueue_update("callback_query", payload)
        record = CallbackRecord(
            id=query_id,
            user_id=user.id,
            chat_id=chat_id,
            message_id=message.message_id,
            data=str(callback_data),
            created=self.clock(),
            update_id=update_id,
        )
        self.callbacks[query_id] = record
        return record

    def answer_callback(self, params: JSON) -> None:
        """``answerCallbackQuery``."""
        record = self.callbacks.get(str(params.get("callback_query_id", "")))
        too_old = bad_request(
            "query is too old and response timeout expired or query ID is invalid"
        )
        if record is None or record.answered:
            raise too_old
        if self.clock() - record.created > self.limits.callback_answer_timeout:
            raise too_old
        text = params.get("text")
        if text is not None and len(str(text)) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        record.answered = True
        record.answer = {
            "text": text,
            "show_alert": bool(params.get("show_alert")),
            "url": params.get("url"),
            "cache_time": _int_or_none(params.get("cache_time")) or 0,
            "seq": self.next_seq(),
        }
        self.notifier.notify()

    # ----------------------------------------------------------------- updates

    def pending_updates(self, offset: int | None, limit: int) -> list[JSON]:
        """Confirm updates below ``offset`` and return up to ``limit`` of the rest."""
        if offset is not None:
            if offset < 0:
                self.updates = (
                    self.updates[offset:] if -offset < len(self.updates) else self.updates
                )
            else:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
        return self.updates[:limit]

    # ----------------------------------------------------------------- commands

    def set_commands(self, commands: Any, scope: JSON | None, language: str) -> None:
        """``setMyCommands`` with validation."""
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        if len(commands) > self.limits.max_commands:
            raise bad_request("BOT_COMMANDS_TOO_MUCH")
        clean: list[JSON] = []
        for command in commands:
            if not isinstance(command, dict):
                raise bad_request("can't parse BotCommand")
            name = str(command.get("command", "")).lstrip("/").lower()
            description = str(command.get("description", ""))
            if not _BOT_COMMAND_RE.match(name):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": name, "description": description})
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise bad_request("LANG_CODE_INVALID")
        key = (scope_key(scope), language)
        if clean:
            self.commands[key] = clean
        else:
            self.commands.pop(key, None)

    def get_commands(self, scope: JSON | None, language: str) -> list[JSON]:
        """``getMyCommands``: exactly the list set for this scope and language."""
        return list(self.commands.get((scope_key(scope), language), []))

    def effective_commands(self, user: SandboxUser) -> JSON:
        """The command menu ``user`` sees in the private chat, with the scope it came from."""
        language = user.language_code or ""
        language = language.split("-")[0]
        candidates = [
            (f"chat;chat_id={user.id}", language),
            (f"chat;chat_id={user.id}", ""),
            ("all_private_chats", language),
            ("all_private_chats", ""),
            ("default", language),
            ("default", ""),
        ]
        for scope, lang in candidates:
            if (scope, lang) in self.commands:
                return {
                    "scope": scope,
                    "language_code": lang,
                    "commands": self.commands[scope, lang],
                }
        return {"scope": None, "language_code": None, "commands": []}

    def commands_view(self) -> list[JSON]:
        """Every stored command list."""
        return [
            {"scope": scope, "language_code": lang, "commands": commands}
            for (scope, lang), commands in sorted(self.commands.items())
        ]

    # ----------------------------------------------------------------- faults

    def add_fault(self, data: JSON) -> Fault:
        """Register an injected fault from control API fields."""
        kind = data.get("kind")
        if kind not in ("flood", "blocked", "error", "delay"):
            raise ControlError(400, "kind must be one of flood, blocked, error, delay")
        method = data.get("method")
        chat_id = data.get("chat_id")
        fault = Fault(
            id=self.next_fault_id,
            kind=kind,
            method=method.lower() if isinstance(method, str) else None,
            chat_id=int(chat_id) if chat_id is not None else None,
            remaining=int(data.get("count", 1)),
            retry_after=int(data.get("retry_after", 5)),
            status=int(data.get("status", 500)),
            description=data.get("description"),
            delay=float(data.get("delay", 0.0)),
        )
        if fault.kind == "error" and not 400 <= fault.status <= 599:
            raise ControlError(400, "status must be 4xx or 5xx")
        self.next_fault_id += 1
        self.faults.append(fault)
        return fault

    def take_fault(self, method: str, chat_id: int | None) -> Fault | None:
        """The first fault that matches this call (its count is consumed)."""
        for fault in self.faults:
            if fault.matches(method, chat_id):
                fault.remaining -= 1
                self.stats.injected += 1
                self.faults = [f for f in self.faults if f.remaining > 0]
                return fault
        return None

    def chat_member(self, chat_id: Any, user_id: Any) -> JSON:
        """``getChatMember``: administrator, member or left."""
        chat = self.chat_for_bot(chat_id)
        try:
            uid = int(user_id)
        except (TypeError, ValueError) as exc:
            raise bad_request("invalid user_id specified") from exc
        if uid == self.bot_id:
            return {"status": "member", "user": self.bot_user()}
        user = self.users.get(uid)
        if user is None:
            raise bad_request("PARTICIPANT_ID_INVALID")
        if uid in chat.admins:
            rights = dict.fromkeys(_ADMIN_RIGHTS, True)
            return {
                "status": "administrator",
                "user": user.api(),
                **rights,
                "can_be_edited": False,
                "is_anonymous": False,
            }
        if uid in chat.members:
            return {"status": "member", "user": user.api()}
        return {"status": "left", "user": user.api()}

    # ----------------------------------------------------------------- links and Mini Apps

    def open_link(self, user_id: int, link: str) -> tuple[StoredMessage, int | None]:
        """The user opens ``t.me/<bot>?start=<payload>`` (or passes the bare payload).

        Like the Telegram app: a valid payload (1-64 of ``A-Za-z0-9_-``) sends
        ``/start <payload>``; an invalid or missing one sends a bare ``/start``.
        """
        payload = link
        if "://" in link or link.startswith("t.me/"):
            parts = urlsplit(link if "://" in link else f"https://{link}")
            bot_name = parts.path.strip("/")
            if bot_name and bot_name.lower() != self.bot_username.lower():
                raise ControlError(400, f"link is for @{bot_name}, not @{self.bot_username}")
            payload = dict(parse_qsl(parts.query)).get("start", "")
        text = f"/start {payload}" if _DEEP_LINK_RE.match(payload) else "/start"
        return self.user_message(user_id, "text", text=text)

    def web_app_init_data(
        self, user_id: int, *, start_param: str | None = None, auth_date: int | None = None
    ) -> str:
        """Signed Mini App ``initData`` for ``user`` (HMAC with the bot token, as Telegram)."""
        user = self.user(user_id)
        fields = {
            "query_id": "AA" + _random_id(20),
            "user": json.dumps(user.api(), ensure_ascii=False, separators=(",", ":")),
            "auth_date": str(auth_date if auth_date is not None else self.now()),
        }
        if start_param:
            fields["start_param"] = start_param
        check = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
        secret = hmac.new(b"WebAppData", self.token.encode(), hashlib.sha256).digest()
        fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
        return urlencode(fields)

    # ----------------------------------------------------------------- views

    def chat_messages(self, chat_id: int, include_deleted: bool = True) -> list[JSON]:
        """All messages of a chat in order."""
        if chat_id not in self.chats:
            raise ControlError(404, f"no chat {chat_id}")
        return [
            m.view()
            for m in self.messages.get(chat_id, {}).values()
            if include_deleted or not m.deleted
        ]

    def chat_events(
        self, chat_id: int, after_seq: int, from_bot: bool | None, kinds: Iterable[str]
    ) -> list[JSON]:
        """Events of a chat after ``after_seq`` (optionally only the bot's, only some kinds)."""
        wanted = set(kinds)
        return [
            e
            for e in self.events.get(chat_id, [])
            if e["seq"] > after_seq
            and (from_bot is None or e["from_bot"] == from_bot)
            and e["kind"] in wanted
        ]


def utf16(text: str) -> int:
    """Length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise bad_request(f"invalid integer {value!r}") from exc


def _media_field(kind: str, files: list[StoredFile]) -> JSON:
    if not files:
        return {}
    if kind == "photo":
        return {"photo": [f.api() for f in files]}
    return {kind: files[0].api()}


def guess_photo_size(data: bytes) -> tuple[int, int] | None:
    """Dimensions of image bytes (re-exported for the control layer)."""
    return image_size(data)
