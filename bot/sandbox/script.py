"""People acting through the control API, with a transcript of what they said and saw.

Shared by ``sampark demo`` and the end-to-end tests so both read like a conversation::

    asha = await Person.join(client, transcript, "Asha (health worker)", language_code="hi")
    await asha.send("/start", code)
    picker = await asha.expect("भाषा")
    await asha.tap(picker, "हिन्दी")
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from bot.sandbox.client import CallbackResult, ChatMessage, SandboxClient

TIMEOUT = 10.0


class UnexpectedReply(AssertionError):
    """A step did not get the reply the script expected."""


@dataclass
class Entry:
    """One line of the transcript."""

    chat: str
    direction: str  # "to_bot", "from_bot", "tap", "note", "edit"
    text: str
    buttons: list[list[str]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    protect_content: bool = False


@dataclass
class Transcript:
    entries: list[Entry] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.entries.append(Entry("—", "note", text))

    def add_message(self, chat: str, message: ChatMessage, direction: str) -> None:
        self.entries.append(
            Entry(
                chat,
                direction,
                message.text or "",
                [[b.text for b in row] for row in message.buttons],
                [
                    {"type": a.type, "file_name": a.file_name, "bytes": a.file_size}
                    for a in message.attachments
                ],
                message.protect_content,
            )
        )

    def render(self) -> str:
        """A readable conversation."""
        lines: list[str] = []
        arrows = {"to_bot": "→ bot", "from_bot": "bot →", "edit": "bot ✎", "tap": "taps"}
        for entry in self.entries:
            if entry.direction == "note":
                lines.append(f"\n## {entry.text}")
                continue
            head = f"[{entry.chat}] {arrows[entry.direction]}: "
            body = entry.text.replace("\n", "\n" + " " * len(head))
            lines.append(head + body)
            for row in entry.buttons:
                lines.append(" " * len(head) + "  ".join(f"[{label}]" for label in row))
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps([asdict(e) for e in self.entries], ensure_ascii=False, indent=2)


class Person:
    """A Telegram user driven through the emulator's control API."""

    def __init__(
        self, client: SandboxClient, transcript: Transcript, label: str, user_id: int
    ) -> None:
        self.client = client
        self.transcript = transcript
        self.label = label
        self.id = user_id

    @classmethod
    async def join(
        cls,
        client: SandboxClient,
        transcript: Transcript,
        label: str,
        *,
        first_name: str | None = None,
        language_code: str | None = None,
    ) -> Person:
        user = await client.create_user(first_name or label.split()[0], language_code=language_code)
        return cls(client, transcript, label, user.id)

    async def send(self, text: str, *args: str) -> ChatMessage:
        """Send text; ``/command`` with ``args`` becomes a proper command."""
        if text.startswith("/"):
            message = await self.client.send_command(self.id, text.lstrip("/"), *args)
        else:
            message = await self.client.send_text(self.id, text)
        self.transcript.add_message(self.label, message, "to_bot")
        return message

    async def expect(self, *fragments: str, timeout: float = TIMEOUT) -> ChatMessage:  # noqa: ASYNC109
        """The bot's next message here; it must contain every fragment."""
        try:
            message = await self.client.next_reply(self.id, timeout)
        except AssertionError as exc:
            raise UnexpectedReply(f"{self.label}: expected {fragments!r}: {exc}") from None
        self.transcript.add_message(self.label, message, "from_bot")
        missing = [f for f in fragments if f not in (message.text or "")]
        if missing:
            raise UnexpectedReply(
                f"{self.label}: expected {missing!r} in the bot's message:\n{message.text}"
            )
        return message

    async def expect_edit(self, message: ChatMessage, *fragments: str) -> ChatMessage:
        """The next edit of ``message``; it must contain every fragment."""
        edited = await self.client.wait_edit(self.id, message.message_id, TIMEOUT)
        self.transcript.add_message(self.label, edited, "edit")
        missing = [f for f in fragments if f not in (edited.text or "")]
        if missing:
            raise UnexpectedReply(f"{self.label}: expected {missing!r} in edit:\n{edited.text}")
        return edited

    async def tap(
        self, message: ChatMessage, button: str, *, forged: bool = False
    ) -> CallbackResult:
        """Tap a button by its label or data (``forged``: send data no button carries)."""
        tapped = await self.client.tap(self.id, message.message_id, button, force=forged)
        self.transcript.entries.append(Entry(self.label, "tap", f"[{button}]"))
        return tapped

    async def alert(self, tapped: CallbackResult, *fragments: str) -> str:
        """The pop-up answer to a tap; it must contain every fragment."""
        answer = await self.client.callback_answer(tapped.callback_query_id, TIMEOUT)
        text = answer.answer_text or ""
        if not answer.answered or any(f not in text for f in fragments):
            raise UnexpectedReply(f"{self.label}: expected alert {fragments!r}, got {text!r}")
        self.transcript.entries.append(Entry(self.label, "from_bot", f"(pop-up) {text}"))
        return text

    async def silence(self, within: float = 0.3) -> None:
        """The bot sends nothing more here."""
        await self.client.expect_no_reply(self.id, within)
