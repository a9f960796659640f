"""Async Python client of the emulator's control API, for tests, the demo and scripts.

::

    async with SandboxClient(emulator.control_url) as sandbox:
        asha = await sandbox.create_user("Asha", language_code="hi")
        await sandbox.send_command(asha.id, "start", "INVITE123")
        reply = await sandbox.next_reply(asha.id)
        assert "हिन्दी" in reply.button_texts()
        await sandbox.tap(asha.id, reply.message_id, "हिन्दी")

``next_reply`` hands out each bot message of a chat exactly once, in order (a per-chat
cursor on the emulator's global ``seq``); ``wait_edit`` does the same for edits of one
message; ``wait_for`` consumes bot messages until one matches.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

JSON = dict[str, Any]


class SandboxError(Exception):
    """The control API answered with an error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class SandboxTimeout(AssertionError):
    """Nothing matching arrived in time (an ``AssertionError`` so pytest shows it plainly)."""


@dataclass(frozen=True)
class Button:
    """An inline (or reply keyboard) button."""

    text: str
    callback_data: str | None = None
    url: str | None = None
    web_app: str | None = None
    request_contact: bool = False

    @classmethod
    def from_view(cls, view: Mapping[str, Any]) -> Button:
        """Build from the control API's button view."""
        return cls(
            text=str(view.get("text", "")),
            callback_data=view.get("callback_data"),
            url=view.get("url"),
            web_app=view.get("web_app"),
            request_contact=bool(view.get("request_contact", False)),
        )


@dataclass(frozen=True)
class Attachment:
    """A file attached to a message (for photos: the largest size, all sizes in ``sizes``)."""

    type: str
    file_id: str
    file_unique_id: str
    file_size: int
    file_name: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    duration: int | None = None
    sizes: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def from_view(cls, view: Mapping[str, Any]) -> Attachment:
        """Build from the control API's attachment view."""
        return cls(
            type=view["type"],
            file_id=view["file_id"],
            file_unique_id=view["file_unique_id"],
            file_size=view["file_size"],
            file_name=view.get("file_name"),
            mime_type=view.get("mime_type"),
            width=view.get("width"),
            height=view.get("height"),
            duration=view.get("duration"),
            sizes=tuple(view.get("sizes") or ()),
        )


@dataclass(frozen=True)
class ChatMessage:
    """A message as a user sees it. ``text`` is the text, or the caption of a media message."""

    chat_id: int
    message_id: int
    seq: int
    from_bot: bool
    sender_id: int
    kind: str
    text: str | None
    caption: str | None = None
    raw: str | None = None
    parse_mode: str | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()
    keyboard: tuple[tuple[Button, ...], ...] | None = None
    remove_keyboard: bool = False
    attachments: tuple[Attachment, ...] = ()
    contact: Mapping[str, Any] | None = None
    media_group_id: str | None = None
    protect_content: bool = False
    reply_to_message_id: int | None = None
    edited: bool = False
    deleted: bool = False
    history: tuple[Mapping[str, Any], ...] = ()
    date: int = 0
    view: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_view(cls, view: Mapping[str, Any]) -> ChatMessage:
        """Build from the control API's message view."""
        keyboard = view.get("keyboard")
        return cls(
            chat_id=view["chat_id"],
            message_id=view["message_id"],
            seq=view["seq"],
            from_bot=view["from_bot"],
            sender_id=view["from"]["id"],
            kind=view["kind"],
            text=view["text"] if view.get("text") is not None else view.get("caption"),
            caption=view.get("caption"),
            raw=view.get("raw"),
            parse_mode=view.get("parse_mode"),
            buttons=tuple(
                tuple(Button.from_view(b) for b in row) for row in view.get("buttons") or ()
            ),
            keyboard=(
                tuple(tuple(Button.from_view(b) for b in row) for row in keyboard)
                if keyboard is not None
                else None
            ),
            remove_keyboard=bool(view.get("remove_keyboard")),
            attachments=tuple(Attachment.from_view(a) for a in view.get("attachments") or ()),
            contact=view.get("contact"),
            media_group_id=view.get("media_group_id"),
            protect_content=bool(view.get("protect_content")),
            reply_to_message_id=view.get("reply_to_message_id"),
            edited=bool(view.get("edited")),
            deleted=bool(view.get("deleted")),
            history=tuple(view.get("history") or ()),
            date=view.get("date", 0),
            view=view,
        )

    def button_texts(self) -> list[str]:
        """Texts of all inline buttons, row by row."""
        return [b.text for row in self.buttons for b in row]

    def callback_datas(self) -> list[str]:
        """``callback_data`` of all inline buttons that have one."""
        return [b.callback_data for row in self.buttons for b in row if b.callback_data]

    def keyboard_texts(self) -> list[str]:
        """Texts of the reply keyboard buttons (empty when none)."""
        return [b.text for row in self.keyboard or () for b in row]

    def button(self, text_or_data: str) -> Button:
        """The inline button with this text or ``callback_data`` (``KeyError`` if none)."""
        for row in self.buttons:
            for button in row:
                if text_or_data in (button.text, button.callback_data):
                    return button
        raise KeyError(f"no button {text_or_data!r}; buttons: {self.button_texts()}")

    @property
    def attachment(self) -> Attachment | None:
        """The first attachment, if any."""
        return self.attachments[0] if self.attachments else None


@dataclass(frozen=True)
class SandboxUser:
    """A user played through the control API."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    blocked_bot: bool = False
    started: bool = False
    phone_number: str | None = None

    @classmethod
    def from_view(cls, view: Mapping[str, Any]) -> SandboxUser:
        """Build from the control API's user view."""
        return cls(
            id=view["id"],
            first_name=view["first_name"],
            last_name=view.get("last_name"),
            username=view.get("username"),
            language_code=view.get("language_code"),
            blocked_bot=bool(view.get("blocked_bot")),
            started=bool(view.get("started")),
            phone_number=view.get("phone_number"),
        )


@dataclass(frozen=True)
class CallbackResult:
    """A tap's callback query and, once the bot answered, its answer."""

    callback_query_id: str
    chat_id: int
    message_id: int
    data: str
    answered: bool
    answer_text: str | None = None
    show_alert: bool = False
    url: str | None = None

    @classmethod
    def from_view(cls, view: Mapping[str, Any]) -> CallbackResult:
        """Build from the control API's callback view."""
        answer = view.get("answer") or {}
        return cls(
            callback_query_id=view["callback_query_id"],
            chat_id=view["chat_id"],
            message_id=view["message_id"],
            data=view["data"],
            answered=bool(view.get("answered")),
            answer_text=answer.get("text"),
            show_alert=bool(answer.get("show_alert")),
            url=answer.get("url"),
        )


class SandboxClient:
    """Typed wrapper of every control route, plus per-chat reply cursors."""

    def __init__(
        self,
        control_url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        default_timeout: float = 10.0,
    ) -> None:
        self.control_url = control_url.rstrip("/")
        self.default_timeout = default_timeout
        self._session = session
        self._owns_session = session is None
        self._reply_cursor: dict[int, int] = {}
        self._edit_cursor: dict[tuple[int, int], int] = {}

    async def __aenter__(self) -> SandboxClient:
        self._ensure_session()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session (if this client created it)."""
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10)
            )
            self._owns_session = True
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: aiohttp.FormData | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """Call a control route and return its decoded JSON (raise ``SandboxError``)."""
        session = self._ensure_session()
        url = f"{self.control_url}{path}"
        async with session.request(method, url, json=json_body, data=data, params=params) as resp:
            if resp.content_type == "application/json":
                body = await resp.json()
            else:
                body = await resp.read()
            if resp.status >= 400:
                message = body.get("error") if isinstance(body, dict) else str(body)
                raise SandboxError(resp.status, str(message))
            return body

    # ------------------------------------------------------------ general

    async def health(self) -> JSON:
        """``GET /health``."""
        result: JSON = await self.request("GET", "/health")
        return result

    async def reset(self) -> None:
        """Forget everything in the emulator and this client's cursors."""
        await self.request("POST", "/reset")
        self._reply_cursor.clear()
        self._edit_cursor.clear()

    async def bot_info(self) -> JSON:
        """The bot identity, webhook and update queue state."""
        result: JSON = await self.request("GET", "/bot")
        return result

    async def get_limits(self) -> JSON:
        """Current limits (see :class:`bot.sandbox.limits.Limits`)."""
        result: JSON = await self.request("GET", "/limits")
        return result

    async def set_limits(self, **changes: Any) -> JSON:
        """Change some limits, e.g. ``set_limits(flood_enabled=False, private_burst=5)``."""
        result: JSON = await self.request("PATCH", "/limits", json_body=changes)
        return result

    async def stats(self) -> JSON:
        """Request counters: ``requests``, ``statuses``, ``errors``, ``responses_429``..."""
        result: JSON = await self.request("GET", "/stats")
        return result

    async def reset_stats(self) -> None:
        """Zero the request counters."""
        await self.request("POST", "/stats/reset")

    async def webhook(self) -> JSON:
        """Webhook URL, delivered count, pending count and recent delivery errors."""
        result: JSON = await self.request("GET", "/webhook")
        return result

    async def pending_updates(self) -> list[JSON]:
        """Updates queued for ``getUpdates`` and not confirmed yet."""
        result: JSON = await self.request("GET", "/updates")
        pending: list[JSON] = result["pending"]
        return pending

    # ------------------------------------------------------------ users, chats

    async def create_user(
        self,
        first_name: str = "Test",
        *,
        id: int | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
        phone_number: str | None = None,
        started: bool = False,
    ) -> SandboxUser:
        """Create a user (``started=True``: the bot may write first).

        Posting an existing ``id`` updates that user; omitted fields keep their values.
        """
        body: JSON = {"first_name": first_name, "started": started}
        for key, value in (
            ("id", id),
            ("last_name", last_name),
            ("username", username),
            ("language_code", language_code),
            ("phone_number", phone_number),
        ):
            if value is not None:
                body[key] = value
        return SandboxUser.from_view(await self.request("POST", "/users", json_body=body))

    async def get_user(self, user_id: int) -> SandboxUser:
        """One user."""
        return SandboxUser.from_view(await self.request("GET", f"/users/{user_id}"))

    async def users(self) -> list[SandboxUser]:
        """All users."""
        return [SandboxUser.from_view(u) for u in await self.request("GET", "/users")]

    async def block(self, user_id: int) -> SandboxUser:
        """The user blocks the bot (sends become 403)."""
        return SandboxUser.from_view(await self.request("POST", f"/users/{user_id}/block"))

    async def unblock(self, user_id: int) -> SandboxUser:
        """The user unblocks the bot."""
        return SandboxUser.from_view(await self.request("POST", f"/users/{user_id}/unblock"))

    async def create_group(
        self,
        title: str,
        members: Sequence[int],
        *,
        admins: Sequence[int] = (),
        type: str = "supergroup",
        id: int | None = None,
    ) -> JSON:
        """Create a group chat with these members (``admins`` are members too)."""
        body: JSON = {
            "title": title,
            "members": list(members),
            "admins": list(admins),
            "type": type,
        }
        if id is not None:
            body["id"] = id
        result: JSON = await self.request("POST", "/groups", json_body=body)
        return result

    async def chat(self, chat_id: int) -> JSON:
        """Chat info, including the reply keyboard shown and the chat actions sent."""
        result: JSON = await self.request("GET", f"/chats/{chat_id}")
        return result

    async def messages(self, chat_id: int, *, include_deleted: bool = True) -> list[ChatMessage]:
        """Every message in the chat, both directions, in order (current state)."""
        query = {"include_deleted": "1" if include_deleted else "0"}
        views = await self.request("GET", f"/chats/{chat_id}/messages", params=query)
        return [ChatMessage.from_view(v) for v in views]

    async def message(self, chat_id: int, message_id: int) -> ChatMessage:
        """Current state of one message."""
        return ChatMessage.from_view(
            await self.request("GET", f"/chats/{chat_id}/messages/{message_id}")
        )

    # ------------------------------------------------------------ acting as a user

    @staticmethod
    def _form(
        data: bytes, file_name: str | None, mime_type: str | None, fields: JSON
    ) -> aiohttp.FormData:
        form = aiohttp.FormData()
        for key, value in fields.items():
            if value is not None:
                form.add_field(key, str(value))
        form.add_field(
            "file",
            data,
            filename=file_name or "file",
            content_type=mime_type or "application/octet-stream",
        )
        return form

    async def send_text(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        reply_to: int | None = None,
    ) -> ChatMessage:
        """The user sends text (``/cmd ...`` gets a ``bot_command`` entity)."""
        body: JSON = {"text": text, "chat_id": chat_id, "reply_to_message_id": reply_to}
        body = {k: v for k, v in body.items() if v is not None}
        result = await self.request("POST", f"/users/{user_id}/text", json_body=body)
        return ChatMessage.from_view(result["message"])

    async def send_command(
        self,
        user_id: int,
        command: str,
        *args: str,
        chat_id: int | None = None,
        mention: bool = False,
    ) -> ChatMessage:
        """The user sends ``/command args...`` (``mention``: ``/command@BotName``)."""
        body: JSON = {"command": command, "args": list(args), "mention": mention}
        if chat_id is not None:
            body["chat_id"] = chat_id
        result = await self.request("POST", f"/users/{user_id}/command", json_body=body)
        return ChatMessage.from_view(result["message"])

    async def send_photo(
        self,
        user_id: int,
        data: bytes,
        *,
        caption: str | None = None,
        chat_id: int | None = None,
        file_name: str = "photo.jpg",
    ) -> ChatMessage:
        """The user sends a photo; Telegram-style JPEG variants (≤1280 px) are stored."""
        form = self._form(data, file_name, "image/jpeg", {"caption": caption, "chat_id": chat_id})
        result = await self.request("POST", f"/users/{user_id}/photo", data=form)
        return ChatMessage.from_view(result["message"])

    async def send_document(
        self,
        user_id: int,
        data: bytes,
        file_name: str,
        *,
        mime_type: str | None = None,
        caption: str | None = None,
        chat_id: int | None = None,
    ) -> ChatMessage:
        """The user sends a file as a document (bytes kept exactly)."""
        form = self._form(data, file_name, mime_type, {"caption": caption, "chat_id": chat_id})
        result = await self.request("POST", f"/users/{user_id}/document", data=form)
        return ChatMessage.from_view(result["message"])

    async def send_voice(
        self,
        user_id: int,
        data: bytes,
        *,
        duration: int | None = None,
        chat_id: int | None = None,
    ) -> ChatMessage:
        """The user sends a voice note (Ogg Opus; duration read from the stream if omitted)."""
        form = self._form(
            data, "voice.ogg", "audio/ogg", {"duration": duration, "chat_id": chat_id}
        )
        result = await self.request("POST", f"/users/{user_id}/voice", data=form)
        return ChatMessage.from_view(result["message"])

    async def send_album(
        self,
        user_id: int,
        items: Sequence[bytes | tuple[str, bytes, str | None]],
        *,
        caption: str | None = None,
        chat_id: int | None = None,
    ) -> list[ChatMessage]:
        """The user sends an album: each item is photo bytes or ``(kind, bytes, file_name)``."""
        body_items = []
        for item in items:
            if isinstance(item, bytes):
                kind, data, file_name = "photo", item, None
            else:
                kind, data, file_name = item
            body_items.append(
                {
                    "type": kind,
                    "data_b64": base64.b64encode(data).decode(),
                    "file_name": file_name,
                }
            )
        body: JSON = {"items": body_items, "caption": caption}
        if chat_id is not None:
            body["chat_id"] = chat_id
        result = await self.request("POST", f"/users/{user_id}/album", json_body=body)
        return [ChatMessage.from_view(v) for v in result["messages"]]

    async def share_contact(
        self,
        user_id: int,
        phone_number: str | None = None,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        chat_id: int | None = None,
    ) -> ChatMessage:
        """Share a contact: the user's own (default phone) unless ``first_name`` is given."""
        body: JSON = {}
        if phone_number is not None:
            body["phone_number"] = phone_number
        if first_name is not None:
            body["first_name"] = first_name
            if last_name is not None:
                body["last_name"] = last_name
        if chat_id is not None:
            body["chat_id"] = chat_id
        result = await self.request("POST", f"/users/{user_id}/contact", json_body=body)
        return ChatMessage.from_view(result["message"])

    async def press(self, user_id: int, text: str, *, chat_id: int | None = None) -> ChatMessage:
        """Press a reply-keyboard button (a ``request_contact`` one shares the user's phone)."""
        body: JSON = {"text": text}
        if chat_id is not None:
            body["chat_id"] = chat_id
        result = await self.request("POST", f"/users/{user_id}/press", json_body=body)
        return ChatMessage.from_view(result["message"])

    async def open_link(self, user_id: int, link: str) -> ChatMessage:
        """The user opens a ``t.me/<bot>?start=<payload>`` link (or a bare payload).

        A valid payload sends ``/start <payload>``, an invalid one a bare ``/start``.
        """
        result = await self.request("POST", f"/users/{user_id}/open_link", json_body={"link": link})
        return ChatMessage.from_view(result["message"])

    async def web_app_init_data(
        self, user_id: int, *, start_param: str | None = None, auth_date: int | None = None
    ) -> str:
        """Mini App ``initData`` for the user, signed with the bot's token."""
        query: dict[str, str] = {}
        if start_param is not None:
            query["start_param"] = start_param
        if auth_date is not None:
            query["auth_date"] = str(auth_date)
        result = await self.request("GET", f"/users/{user_id}/web_app_init_data", params=query)
        init_data: str = result["init_data"]
        return init_data

    async def edit_message(
        self,
        user_id: int,
        message_id: int,
        *,
        text: str | None = None,
        caption: str | None = None,
        chat_id: int | None = None,
    ) -> ChatMessage:
        """The user edits their own message (queues an ``edited_message`` update)."""
        body: JSON = {"message_id": message_id, "text": text, "caption": caption}
        if chat_id is not None:
            body["chat_id"] = chat_id
        result = await self.request("POST", f"/users/{user_id}/edit", json_body=body)
        return ChatMessage.from_view(result["message"])

    async def tap(
        self,
        chat_id: int,
        message_id: int,
        text_or_data: str,
        *,
        user_id: int | None = None,
        force: bool = False,
    ) -> CallbackResult:
        """Tap the inline button with this text or ``callback_data``.

        ``user_id`` defaults to ``chat_id`` (private chat). ``force=True`` sends
        ``text_or_data`` as callback data even if no such button exists (stale/forged data).
        """
        body: JSON = {"chat_id": chat_id, "message_id": message_id, "force": force}
        if force:
            body["callback_data"] = text_or_data
        else:
            message = await self.message(chat_id, message_id)
            button = message.button(text_or_data)
            if button.callback_data is None:
                raise SandboxError(409, f"button {button.text!r} has no callback_data")
            body["callback_data"] = button.callback_data
        who = user_id if user_id is not None else chat_id
        return CallbackResult.from_view(
            await self.request("POST", f"/users/{who}/tap", json_body=body)
        )

    async def callback_answer(
        self,
        callback_query_id: str,
        timeout: float = 0.0,  # noqa: ASYNC109 - long-poll on the server
    ) -> CallbackResult:
        """The callback query and the bot's answer, waiting up to ``timeout`` for the answer."""
        view = await self.request(
            "GET", f"/callbacks/{callback_query_id}", params={"wait": str(timeout)}
        )
        return CallbackResult.from_view(view)

    # ------------------------------------------------------------ waiting

    async def wait_events(
        self,
        chat_id: int | None,
        after_seq: int = 0,
        timeout: float = 0.0,  # noqa: ASYNC109 - long-poll on the server
        *,
        who: str = "bot",
        kinds: Sequence[str] = ("message", "edit", "delete"),
    ) -> JSON:
        """Raw long-poll: events (message/edit/delete) after ``after_seq`` (all chats if None)."""
        path = f"/chats/{chat_id}/wait" if chat_id is not None else "/events"
        query = {
            "after_seq": str(after_seq),
            "timeout": str(timeout),
            "from": who,
            "kinds": ",".join(kinds),
        }
        result: JSON = await self.request("GET", path, params=query)
        return result

    async def _describe(self, chat_id: int) -> str:
        try:
            messages = await self.messages(chat_id)
        except SandboxError:
            return "(chat does not exist yet)"
        lines = [
            f"  #{m.message_id} seq={m.seq} {'bot' if m.from_bot else 'user'}: {m.text!r}"
            f"{' buttons=' + str(m.button_texts()) if m.buttons else ''}"
            for m in messages[-8:]
        ]
        return "\n".join(lines) or "  (no messages)"

    async def _next_event(
        self,
        chat_id: int,
        after_seq: int,
        deadline: float,
        kinds: Sequence[str],
    ) -> list[JSON]:
        loop = asyncio.get_running_loop()
        remaining = max(0.0, deadline - loop.time())
        result = await self.wait_events(chat_id, after_seq, remaining, kinds=kinds)
        events: list[JSON] = result["events"]
        return events

    async def next_reply(
        self,
        chat_id: int,
        timeout: float | None = None,  # noqa: ASYNC109 - long-poll on the server
    ) -> ChatMessage:
        """The next bot message in the chat not returned before (as it was when sent)."""
        limit = self.default_timeout if timeout is None else timeout
        deadline = asyncio.get_running_loop().time() + limit
        cursor = self._reply_cursor.get(chat_id, 0)
        events = await self._next_event(chat_id, cursor, deadline, ("message",))
        if not events:
            raise SandboxTimeout(
                f"no bot reply in chat {chat_id} within {limit}s; recent messages:\n"
                + await self._describe(chat_id)
            )
        event = events[0]
        self._reply_cursor[chat_id] = event["seq"]
        return ChatMessage.from_view(event["message"])

    async def replies(
        self,
        chat_id: int,
        count: int,
        timeout: float | None = None,  # noqa: ASYNC109 - long-poll on the server
    ) -> list[ChatMessage]:
        """The next ``count`` bot messages (see :meth:`next_reply`)."""
        return [await self.next_reply(chat_id, timeout) for _ in range(count)]

    async def wait_for(
        self,
        chat_id: int,
        predicate: Callable[[ChatMessage], bool],
        timeout: float | None = None,  # noqa: ASYNC109 - long-poll on the server
    ) -> ChatMessage:
        """Consume bot messages (and look at edits) until one satisfies ``predicate``."""
        limit = self.default_timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        scanned = self._reply_cursor.get(chat_id, 0)
        seen: list[str] = []
        while True:
            events = await self._next_event(chat_id, scanned, deadline, ("message", "edit"))
            if not events:
                raise SandboxTimeout(
                    f"no bot message in chat {chat_id} matched within {limit}s; skipped: "
                    f"{seen}; recent messages:\n" + await self._describe(chat_id)
                )
            for event in events:
                scanned = event["seq"]
                message = ChatMessage.from_view(event["message"])
                if event["kind"] == "message":
                    self._reply_cursor[chat_id] = event["seq"]
                if predicate(message):
                    return message
                seen.append(repr(message.text))

    async def wait_edit(
        self,
        chat_id: int,
        message_id: int,
        timeout: float | None = None,  # noqa: ASYNC109 - long-poll on the server
    ) -> ChatMessage:
        """The next edit of this bot message not returned before (the message after it)."""
        limit = self.default_timeout if timeout is None else timeout
        deadline = asyncio.get_running_loop().time() + limit
        key = (chat_id, message_id)
        cursor = self._edit_cursor.get(key, 0)
        while True:
            events = await self._next_event(chat_id, cursor, deadline, ("edit",))
            if not events:
                raise SandboxTimeout(
                    f"message {message_id} in chat {chat_id} was not edited within {limit}s; "
                    "recent messages:\n" + await self._describe(chat_id)
                )
            for event in events:
                cursor = event["seq"]
                if event["message_id"] == message_id:
                    self._edit_cursor[key] = cursor
                    return ChatMessage.from_view(event["message"])
            self._edit_cursor[key] = cursor

    async def expect_no_reply(self, chat_id: int, within: float = 0.3) -> None:
        """Assert that the bot sends nothing new to the chat within ``within`` seconds."""
        cursor = self._reply_cursor.get(chat_id, 0)
        result = await self.wait_events(chat_id, cursor, within, kinds=("message",))
        if result["events"]:
            texts = [e["message"]["text"] or e["message"]["caption"] for e in result["events"]]
            raise AssertionError(f"unexpected bot message(s) in chat {chat_id}: {texts}")

    async def skip_replies(self, chat_id: int) -> None:
        """Move the chat's cursor past everything sent so far."""
        seq = (await self.health())["seq"]
        self._reply_cursor[chat_id] = seq

    # ------------------------------------------------------------ files and commands

    async def file_info(self, file_id: str) -> JSON:
        """Metadata of a stored file."""
        result: JSON = await self.request("GET", f"/files/{file_id}")
        return result

    async def download(self, file_id: str) -> bytes:
        """The bytes of any stored file (bot- or user-sent)."""
        data: bytes = await self.request("GET", f"/files/{file_id}/content")
        return data

    async def commands(
        self, scope: Mapping[str, Any] | str = "default", language_code: str = ""
    ) -> list[JSON]:
        """What ``setMyCommands`` stored for exactly this scope and language."""
        raw_scope = scope if isinstance(scope, str) else json.dumps(dict(scope))
        result = await self.request(
            "GET", "/commands", params={"scope": raw_scope, "language_code": language_code}
        )
        commands: list[JSON] = result["commands"]
        return commands

    async def all_commands(self) -> list[JSON]:
        """Every stored command list with its scope and language."""
        result: list[JSON] = await self.request("GET", "/commands")
        return result

    async def effective_commands(self, user_id: int) -> JSON:
        """The menu the user sees (Telegram's scope/language fallback applied)."""
        result: JSON = await self.request("GET", f"/users/{user_id}/commands")
        return result

    async def menu_buttons(self) -> JSON:
        """Menu buttons set with ``setChatMenuButton`` (key: chat id or ``default``)."""
        result: JSON = await self.request("GET", "/menu_buttons")
        return result

    # ------------------------------------------------------------ faults

    async def inject_fault(
        self,
        kind: str,
        *,
        method: str | None = None,
        chat_id: int | None = None,
        count: int = 1,
        retry_after: int = 5,
        status: int = 500,
        delay: float = 0.0,
        description: str | None = None,
    ) -> JSON:
        """Make the next ``count`` matching calls fail.

        ``kind``: ``flood`` (429 + retry_after), ``blocked`` (403), ``error`` (``status``,
        e.g. 500/502) or ``delay`` (answer normally after ``delay`` seconds). ``method``
        None matches every method except ``getUpdates``.
        """
        body: JSON = {
            "kind": kind,
            "method": method,
            "chat_id": chat_id,
            "count": count,
            "retry_after": retry_after,
            "status": status,
            "delay": delay,
            "description": description,
        }
        result: JSON = await self.request("POST", "/faults", json_body=body)
        return result

    async def faults(self) -> list[JSON]:
        """Faults still armed."""
        result: list[JSON] = await self.request("GET", "/faults")
        return result

    async def clear_faults(self) -> None:
        """Disarm every fault."""
        await self.request("DELETE", "/faults")
