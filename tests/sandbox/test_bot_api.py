"""Fidelity of the Bot API emulator: unmodified PTB ``Bot`` calls and their results/errors."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from PIL import Image
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaDocument,
    InputMediaPhoto,
    KeyboardButton,
    MenuButtonCommands,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    TelegramObject,
    Update,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import (
    BadRequest,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)

from bot.sandbox.client import SandboxClient, SandboxUser
from bot.sandbox.emulator import SANDBOX_TOKEN, BotApiEmulator
from bot.sandbox.limits import Limits


def png(width: int, height: int, color: str = "red") -> bytes:
    """A PNG image of the given size."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


class FakeClock:
    """A settable clock for the emulator (dates, flood buckets, callback expiry)."""

    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def emulator(clock: FakeClock) -> AsyncIterator[BotApiEmulator]:
    emu = BotApiEmulator(limits=Limits(flood_enabled=False), clock=clock)
    await emu.start()
    yield emu
    await emu.stop()


@pytest.fixture
async def bot(emulator: BotApiEmulator) -> AsyncIterator[Bot]:
    async with Bot(
        SANDBOX_TOKEN, base_url=emulator.base_url, base_file_url=emulator.base_file_url
    ) as ptb_bot:
        yield ptb_bot


@pytest.fixture
async def sandbox(emulator: BotApiEmulator) -> AsyncIterator[SandboxClient]:
    async with SandboxClient(emulator.control_url, default_timeout=3) as client:
        yield client


@pytest.fixture
async def user(sandbox: SandboxClient) -> SandboxUser:
    """A user who has started the bot."""
    return await sandbox.create_user("Asha", last_name="Devi", language_code="hi", started=True)


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d)] for t, d in pairs])


# ---------------------------------------------------------------- identity and tokens


async def test_get_me_parses(bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == 123456789
    assert me.is_bot
    assert me.username == "SamparkBot"
    assert bot.username == "SamparkBot"


async def test_bad_token_and_unknown_method(emulator: BotApiEmulator) -> None:
    with pytest.raises(InvalidToken, match="rejected"):
        async with Bot("123:short", base_url=emulator.base_url):
            pass
    async with Bot(SANDBOX_TOKEN, base_url=emulator.base_url) as ptb_bot:
        with pytest.raises(EndPointNotFound):
            await ptb_bot.do_api_request("noSuchMethod")
    async with aiohttp.ClientSession() as session:
        for url in (
            f"{emulator.base_url}{SANDBOX_TOKEN}/noSuchMethod",
            f"{emulator.base_url}1:x/getMe",
        ):
            async with session.post(url) as resp:
                assert resp.status == 404
                assert await resp.json() == {
                    "ok": False,
                    "error_code": 404,
                    "description": "Not Found",
                }


async def test_fixed_token_rejects_others_with_401() -> None:
    async with BotApiEmulator(token=SANDBOX_TOKEN) as emu:
        other = "42:" + "x" * 35
        with pytest.raises(InvalidToken, match="rejected"):
            async with Bot(other, base_url=emu.base_url):
                pass


async def test_webhook_methods(bot: Bot) -> None:
    assert await bot.set_webhook("https://example.org/hook", secret_token="s3cret")
    info = await bot.get_webhook_info()
    assert info.url == "https://example.org/hook"
    with pytest.raises(Exception, match="webhook is active"):
        await bot.get_updates()
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert (await bot.get_webhook_info()).url == ""
    assert await bot.log_out()
    assert await bot.close()


# ---------------------------------------------------------------- getUpdates


async def test_get_updates_offset_confirms(
    bot: Bot, sandbox: SandboxClient, user: SandboxUser
) -> None:
    await sandbox.send_text(user.id, "one")
    await sandbox.send_text(user.id, "two")
    first = await bot.get_updates()
    assert [u.message.text for u in first if u.message] == ["one", "two"]
    again = await bot.get_updates()
    assert [u.update_id for u in again] == [u.update_id for u in first]
    limited = await bot.get_updates(limit=1)
    assert len(limited) == 1
    after = await bot.get_updates(offset=first[-1].update_id + 1)
    assert after == ()
    await sandbox.send_text(user.id, "three")
    third = await bot.get_updates(offset=first[-1].update_id + 1)
    assert [u.message.text for u in third if u.message] == ["three"]
    assert await sandbox.pending_updates() != []


async def test_long_poll_returns_as_soon_as_update_arrives(
    bot: Bot, sandbox: SandboxClient, user: SandboxUser
) -> None:
    async def later() -> None:
        await asyncio.sleep(0.2)
        await sandbox.send_text(user.id, "hello")

    task = asyncio.create_task(later())
    started = time.monotonic()
    updates = await bot.get_updates(timeout=5)
    elapsed = time.monotonic() - started
    await task
    assert [u.message.text for u in updates if u.message] == ["hello"]
    assert 0.15 < elapsed < 2


async def test_long_poll_times_out_empty(bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert 0.9 < time.monotonic() - started < 3


async def test_allowed_updates_filters_new_updates(
    bot: Bot, sandbox: SandboxClient, user: SandboxUser
) -> None:
    await bot.get_updates(allowed_updates=["callback_query"])
    await sandbox.send_text(user.id, "ignored")
    assert await bot.get_updates() == ()
    await bot.get_updates(allowed_updates=[])
    await sandbox.send_text(user.id, "seen")
    assert [u.message.text for u in await bot.get_updates() if u.message] == ["seen"]


async def test_updates_parse_as_ptb_objects(
    bot: Bot, sandbox: SandboxClient, user: SandboxUser
) -> None:
    await sandbox.send_command(user.id, "start", "INV-42")
    await sandbox.share_contact(user.id, "+919800000000")
    updates = await bot.get_updates()
    command = updates[0].message
    assert command is not None
    assert command.text == "/start INV-42"
    assert command.parse_entities(["bot_command"])
    assert command.from_user is not None and command.from_user.language_code == "hi"
    contact = updates[1].message
    assert contact is not None and contact.contact is not None
    assert contact.contact.phone_number == "+919800000000"
    assert contact.contact.user_id == user.id


# ---------------------------------------------------------------- sending


async def test_send_message_round_trip(bot: Bot, sandbox: SandboxClient, user: SandboxUser) -> None:
    sent = await bot.send_message(
        user.id,
        "<b>Namaste</b> &lt;Asha&gt;",
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard(("हिन्दी", "lang:hi"), ("English", "lang:en")),
        protect_content=True,
    )
    assert isinstance(sent, Message)
    assert sent.text == "Namaste <Asha>"
    assert sent.entities[0].type == "bold"
    assert sent.has_protected_content
    assert sent.reply_markup is not None
    reply = await sandbox.next_reply(user.id)
    assert reply.text == "Namaste <Asha>"
    assert reply.raw == "<b>Namaste</b> &lt;Asha&gt;"
    assert reply.parse_mode == "HTML"
    assert reply.button_texts() == ["हिन्दी", "English"]
    assert reply.callback_datas() == ["lang:hi", "lang:en"]
    assert reply.protect_content


async def test_reply_keyboard_and_remove(
    bot: Bot, sandbox: SandboxClient, user: SandboxUser
) -> None:
    markup = ReplyKeyboardMarkup(
        [[KeyboardButton("Share phone", request_contact=True)], ["Cancel"]],
        one_time_keyboard=True,
    )
    sent = await bot.send_message(user.id, "Phone?", reply_markup=markup)
    assert sent.reply_markup is None  # Telegram returns only inline keyboards
    reply = await sandbox.next_reply(user.id)
    assert reply.keyboard_texts() == ["Share phone", "Cancel"]
    assert reply.keyboard is not None and reply.keyboard[0][0].request_contact
    assert (await sandbox.chat(user.id))["keyboard"] is not None
    await bot.send_message(user.id, "ok", reply_markup=ReplyKeyboardRemove())
    assert (await sandbox.next_reply(user.id)).remove_keyboard
    assert (await sandbox.chat(user.id))["keyboard"] is None


async def test_reply_to_message(bot: Bot, sandbox: SandboxClient, user: SandboxUser) -> None:
    incoming = await sandbox.send_text(user.id, "question")
    sent = await bot.send_message(user.id, "answer", reply_to_message_id=incoming.message_id)
    assert sent.reply_to_message is not None
    assert sent.reply_to_message.text == "question"
    with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
        await bot.send_message(user.id, "x", reply_to_message_id=999)


async def test_send_photo_recompresses(bot: Bot, sandbox: SandboxClient, user: SandboxUser) -> None:
    sent = await bot.send_photo(user.id, png(3000, 2000), caption="x-ray")
    sizes = sent.photo
    assert [max(p.width, p.height) for p in sizes] == [90, 320, 800, 1280]
    assert sent.caption == "x-ray"
    reply = await sandbox.next_reply(user.id)
    assert reply.kind == "photo"
    assert reply.text == "x-ray"
    attachment = reply.attachment
    assert attachment is not None
    assert (attachment.width, attachment.height) == (1280, 853)
    data = await sandbox.download(attachment.file_id)
    assert Image.open(io.BytesIO(data)).format == "JPEG"
    resent = await bot.send_photo(user.id, sizes[-1].file_id)
    assert [p.file_id for p in resent.photo] == [p.file_id for p in sizes]


async def test_send_document_voice_audio(
    bot: Bot, sandbox: SandboxClient, user: SandboxUser
) -> None:
    doc = await bot.send_document(user.id, b"DICM-bytes", filename="scan.dcm", caption="study")
    assert doc.document is not None
    assert doc.document.file_name == "scan.dcm"
    assert doc.document.file_size == 10
    voice = await bot.send_voice(user.id, b"OggS-not-really", duration=3)
    assert voice.voice is not None and voice.voice.duration == 3
    audio = await bot.send_audio(user.id, b"ID3-audio", filename="a.mp3", duration=7)
    assert audio.audio is not None and audio.audio.duration == 7
    replies = await sandbox.replies(user.id, 3)
    assert [r.kind for r in replies] == ["document", "voice", "audio"]
    first = replies[0].attachment
    assert first is not None and first.file_name == "scan.dcm"
    assert await sandbox.download(first.file_id) == b"DICM-bytes"
    reused = await bot.send_document(user.id, doc.document.file_id)
    assert reused.document is not None
    assert reused.document.file_id == doc.document.file_id
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
        await bot.send_document(user.id, "no-such-file-id")
    with pytest.raises(BadRequest, match=r"(?i)can't use file of type Document as Photo"):
        await bot.send_photo(user.id, doc.document.file_id)


async def test_send_media_group(bot: Bot, sandbox: SandboxClient, user: SandboxUser) -> None:
    messages = await bot.send_media_group(
        user.id,
        [InputMediaPhoto(png(400, 300), caption="both"), InputMediaPhoto(png(300, 400, "blue"))],
    )
    assert len(messages) == 2
    assert messages[0].media_group_id == messages[1].media_group_id is not None
    assert messages[0].caption == "both" and messages[1].caption is None
    docs = await bot.send_media_group(
        user.id,
        [
            InputMediaDocument(b"a", filename="a.txt"),
            InputMediaDocument(b"b", filename="b.txt"),
        ],
    )
    assert [d.document.file_name for d in docs if d.document] == ["a.txt", "b.txt"]
    reused = await bot.send_media_group(
        user.id, [InputMediaPhoto(messages[0].photo[-1].file_id), InputMediaPhoto(png(50, 50))]
    )
    assert reused[0].photo[-1].file_id == messages[0].photo[-1].file_id
    replies = await sandbox.replies(user.id, 6)
    assert {r.media_group_id for r in replies[:2]} == {messages[0].media_group_id}
    assert [r.kind for r in replies] == ["photo"] * 2 + ["document"] * 2 + ["photo"] * 2
    with pytest.raises(BadRequest, match=r"2-10"):
        await bot.send_media_group(user.id, [InputMediaPhoto(png(10, 10))])
    with pytest.raises(BadRequest, match=r"2-10"):
        await bot.send_media_group(user.id, [InputMediaPhoto(png(10, 10))] * 11)


async def test_chat_action_and_get_chat(
    bot: Bot, sandbox: SandboxClient, user: SandboxUser
) -> None:
    assert await bot.send_chat_action(user.id, ChatAction.TYPING)
    assert (await sandbox.chat(user.id))["actions"][0]["action"] == "typing"
    chat = await bot.get_chat(user.id)
    assert chat.id == user.id and chat.first_name == "Asha" and chat.type == "private"
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.get_chat(424242)


# ---------------------------------------------------------------- files


async def test_user_document_download_via_get_file(
    bot: Bot, sandbox: SandboxClient, user: SandboxUser
) -> None:
    payload = bytes(range(256)) * 400
    await sandbox.send_document(user.id, payload, "study.dcm", mime_type="application/dicom")
    (update,) = await bot.get_updates()
    assert update.message is not None and update.message.document is not None
    document = update.message.document
    assert document.file_name == "study.dcm"
    assert document.mime_type == "application/dicom"
    tg_file = await document.get_file()
    assert tg_file.file_path is not None
    assert "/documents/" in tg_file.file_path and tg_file.file_path.endswith(".dcm")
    assert bytes(await tg_file.download_as_bytearray()) == payload
    buffer = io.BytesIO()
    await tg_file.download_to_memory(buffer)
    assert buffer.getvalue() == payload


async def test_get_file_too_big(
    bot: Bot, emulator: BotApiEmulator, sandbox: SandboxClient, user: SandboxUser
) -> None:
    await sandbox.set_limits(max_download_bytes=1000)
    message = await sandbox.send_document(user.id, b"x" * 1001, "big.bin")
    attachment = message.attachment
    assert attachment is not None
    with pytest.raises(BadRequest, match=r"(?i)file is too big"):
        await bot.get_file(attachment.file_id)
    with pytest.raises(BadRequest, match=r"(?i)wrong file_id"):
        await bot.get_file("nope")


async def test_upload_over_50_mb_is_413(bot: Bot, user: SandboxUser) -> None:
    with pytest.raises(NetworkError, match="Request Entity Too Large") as info:
        await bot.send_document(user.id, b"\0" * (50 * 1024 * 1024 + 1), filename="huge.bin")
    assert not isinstance(info.value, BadRequest)


# ---------------------------------------------------------------- limits


async def test_text_limits(bot: Bot, user: SandboxUser) -> None:
    assert await bot.send_message(user.id, "x" * 4096)
    with pytest.raises(BadRequest, match=r"(?i)^message is too long$"):
        await bot.send_message(user.id, "x" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)^message text is empty$"):
        await bot.send_message(user.id, "   ")
    with pytest.raises(BadRequest, match=r"(?i)^message caption is too long$"):
        await bot.send_photo(user.id, png(10, 10), caption="c" * 1025)


async def test_callback_data_is_limited_in_bytes(bot: Bot, user: SandboxUser) -> None:
    assert await bot.send_message(user.id, "ok", reply_markup=keyboard(("a", "x" * 64)))
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(user.id, "no", reply_markup=keyboard(("a", "अ" * 22)))  # 66 bytes


async def test_photo_dimension_limits(bot: Bot, user: SandboxUser) -> None:
    with pytest.raises(BadRequest, match=r"(?i)PHOTO_INVALID_DIMENSIONS"):
        await bot.send_photo(user.id, png(2100, 100))  # aspect 21
    with pytest.raises(BadRequest, match=r"(?i)PHOTO_INVALID_DIMENSIONS"):
        await bot.send_photo(user.id, png(6000, 4001))  # sum 10001
    with pytest.raises(BadRequest, match=r"(?i)IMAGE_PROCESS_FAILED"):
        await bot.send_photo(user.id, b"not an image")


async def test_parse_mode_errors(bot: Bot, user: SandboxUser) -> None:
    with pytest.raises(
        BadRequest, match=r"(?i)can't parse entities: unsupported start tag .patient."
    ):
        await bot.send_message(user.id, "Name: <patient>", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"(?i)can't find end tag"):
        await bot.send_message(user.id, "<b>open", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"(?i)character '\.' is reserved"):
        await bot.send_message(user.id, "Done.", parse_mode=ParseMode.MARKDOWN_V2)
    ok = await bot.send_message(user.id, "*Done*\\.", parse_mode=ParseMode.MARKDOWN_V2)
    assert ok.text == "Done." and ok.entities[0].type == "bold"


async def test_unknown_chat_blocked_and_not_started(
    bot: Bot, sandbox: SandboxClient, user: SandboxUser
) -> None:
    with pytest.raises(BadRequest, match=r"(?i)^chat not found$"):
        await bot.send_message(987654, "hi")
    stranger = await sandbox.create_user("Ravi")
    await sandbox.send_text(stranger.id, "hi")  # creates the chat and starts the bot
    await sandbox.block(stranger.id)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(stranger.id, "hello?")
    updates = await bot.get_updates()
    assert updates[-1].my_chat_member is not None
    assert updates[-1].my_chat_member.new_chat_member.status == "kicked"
    await sandbox.unblock(stranger.id)
    assert await bot.send_message(stranger.id, "welcome back")


async def test_flood_limits_and_counters(
    clock: FakeClock, bot: Bot, sandbox: SandboxClient, user: SandboxUser
) -> None:
    await sandbox.set_limits(flood_enabled=True, private_burst=3, private_rate=1.0)
    for index in range(3):
        await bot.send_message(user.id, f"burst {index}")
    with pytest.raises(RetryAfter, match="Retry in 1 seconds"):
        await bot.send_message(user.id, "one too many")
    sent = await sandbox.messages(user.id)
    await bot.edit_message_text("edits are not limited", user.id, sent[-1].message_id)
    clock.advance(1.0)
    assert await bot.send_message(user.id, "after a second")
    await sandbox.send_text(user.id, "a user message earns the bot one reply")
    assert await bot.send_message(user.id, "reply")
    with pytest.raises(RetryAfter):
        await bot.send_message(user.id, "but not two")
    stats = await sandbox.stats()
    assert stats["responses_429"] == 2
    assert stats["flood_429"] == 2
    assert stats["errors"] == {"sendmessage:429": 2}
    await sandbox.set_limits(flood_enabled=False)
    for index in range(10):
        await bot.send_message(user.id, f"free {index}")


async def test_group_flood_limit_per_minute(
    bot: Bot, sandbox: SandboxClient, user: SandboxUser
) -> None:
    await sandbox.set_limits(flood_enabled=True, group_burst=20, group_per_minute=20)
    group = await sandbox.create_group("Ward 7", [user.id])
    for index in range(20):
        await bot.send_message(group["id"], f"g{index}")
    with pytest.raises(RetryAfter, match="Retry in 3 seconds"):
        await bot.send_message(group["id"], "too much")


# ---------------------------------------------------------------- edits, deletes, copies


async def test_edit_message_text_and_markup(
    bot: Bot, sandbox: SandboxClient, user: SandboxUser
) -> None:
    sent = await bot.send_message(user.id, "Choose", reply_markup=keyboard(("A", "a")))
    await sandbox.next_reply(user.id)
    edited = await bot.edit_message_text(
        "Chosen A", user.id, sent.message_id, reply_markup=keyboard(("Undo", "undo"))
    )
    assert isinstance(edited, Message) and edited.edit_date is not None
    after = await sandbox.wait_edit(user.id, sent.message_id)
    assert after.text == "Chosen A" and after.edited
    assert after.button_texts() == ["Undo"]
    assert after.history[0]["text"] == "Choose"
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text(
            "Chosen A", user.id, sent.message_id, reply_markup=keyboard(("Undo", "undo"))
        )
    await bot.edit_message_reply_markup(user.id, sent.message_id, reply_markup=None)
    cleared = await sandbox.wait_edit(user.id, sent.message_id)
    assert cleared.buttons == ()
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_reply_markup(user.id, sent.message_id)
    with pytest.raises(BadRequest, match=r"(?i)^message to edit not found$"):
        await bot.edit_message_text("x", user.id, 9999)
    incoming = await sandbox.send_text(user.id, "mine")
    with pytest.raises(BadRequest, match=r"(?i)message can't be edited"):
        await bot.edit_message_text("x", user.id, incoming.message_id)


async def test_edit_text_without_markup_removes_keyboard(
    bot: Bot, sandbox: SandboxClient, user: SandboxUser
) -> None:
    sent = await bot.send_message(user.id, "Pick", reply_markup=keyboard(("A", "a")))
    await bot.edit_message_text("Picked", user.id, sent.message_id)
    assert (await sandbox.message(user.id, sent.message_id)).buttons == ()


async def test_edit_caption(bot: Bot, sandbox: SandboxClient, user: SandboxUser) -> None:
    sent = await bot.send_document(user.id, b"report", filename="r.pdf", caption="draft")
    edited = await bot.edit_message_caption(user.id, sent.message_id, caption="final")
    assert isinstance(edited, Message) and edited.caption == "final"
    assert (await sandbox.message(user.id, sent.message_id)).text == "final"
    text_message = await bot.send_message(user.id, "plain")
    with pytest.raises(BadRequest, match=r"(?i)there is no caption"):
        await bot.edit_message_caption(user.id, text_message.message_id, caption="x")
    with pytest.raises(BadRequest, match=r"(?i)there is no text"):
        await bot.edit_message_text("x", user.id, sent.message_id)


async def test_delete_message(bot: Bot, sandbox: SandboxClient, user: SandboxUser) -> None:
    sent = await bot.send_message(user.id, "temporary")
    assert await bot.delete_message(user.id, sent.message_id)
    assert (await sandbox.message(user.id, sent.message_id)).deleted
    assert await sandbox.messages(user.id, include_deleted=False) == []
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(user.id, sent.message_id)


async def test_copy_and_forward_respect_protect_content(
    bot: Bot, sandbox: SandboxClient, user: SandboxUser
) -> None:
    other = await sandbox.create_user("Dr. Rao", started=True)
    incoming = await sandbox.send_document(user.id, b"ecg", "ecg.pdf", caption="ECG")
    copied = await bot.copy_message(other.id, user.id, incoming.message_id, caption="from Asha")
    copy = await sandbox.message(other.id, copied.message_id)
    assert copy.from_bot and copy.caption == "from Asha" and copy.kind == "document"
    forwarded = await bot.forward_message(other.id, user.id, incoming.message_id)
    assert forwarded.forward_origin is not None
    assert forwarded.forward_origin.sender_user.id == user.id  # type: ignore[attr-defined]
    secret = await bot.send_message(user.id, "clinical", protect_content=True)
    with pytest.raises(BadRequest, match=r"(?i)protected content"):
        await bot.forward_message(other.id, user.id, secret.message_id)
    with pytest.raises(BadRequest, match=r"(?i)protected content"):
        await bot.copy_message(other.id, user.id, secret.message_id)


# ---------------------------------------------------------------- callbacks


async def test_callback_query_answer(bot: Bot, sandbox: SandboxClient, user: SandboxUser) -> None:
    sent = await bot.send_message(user.id, "Lang?", reply_markup=keyboard(("हिन्दी", "lang:hi")))
    tapped = await sandbox.tap(user.id, sent.message_id, "हिन्दी")
    (update,) = await bot.get_updates()
    assert isinstance(update, Update)
    query = update.callback_query
    assert isinstance(query, CallbackQuery)
    assert query.data == "lang:hi" and query.id == tapped.callback_query_id
    assert query.message is not None and query.message.message_id == sent.message_id
    assert await query.answer("saved", show_alert=True)
    result = await sandbox.callback_answer(tapped.callback_query_id)
    assert result.answered and result.answer_text == "saved" and result.show_alert
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await query.answer()
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query("12345")


async def test_callback_query_expires(
    clock: FakeClock, bot: Bot, sandbox: SandboxClient, user: SandboxUser
) -> None:
    sent = await bot.send_message(user.id, "Lang?", reply_markup=keyboard(("A", "a")))
    tapped = await sandbox.tap(user.id, sent.message_id, "a")
    clock.advance(16)
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(tapped.callback_query_id)


# ---------------------------------------------------------------- commands and menu


async def test_commands_per_scope_and_language(
    bot: Bot, sandbox: SandboxClient, user: SandboxUser
) -> None:
    await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("help", "Help")])
    await bot.set_my_commands(
        [BotCommand("start", "शुरू करें")], scope=BotCommandScopeAllPrivateChats(), language_code="hi"
    )
    await bot.set_my_commands(
        [BotCommand("approve", "Approve")], scope=BotCommandScopeChat(user.id)
    )
    default = await bot.get_my_commands()
    assert [c.command for c in default] == ["start", "help"]
    hindi = await bot.get_my_commands(scope=BotCommandScopeAllPrivateChats(), language_code="hi")
    assert hindi[0].description == "शुरू करें"
    assert await bot.get_my_commands(language_code="hi") == ()
    stored = await sandbox.commands({"type": "all_private_chats"}, "hi")
    assert stored == [{"command": "start", "description": "शुरू करें"}]
    effective = await sandbox.effective_commands(user.id)
    assert effective["scope"] == f"chat;chat_id={user.id}"
    await bot.delete_my_commands(scope=BotCommandScopeChat(user.id))
    effective = await sandbox.effective_commands(user.id)
    assert (effective["scope"], effective["language_code"]) == ("all_private_chats", "hi")
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Bad-Command", "x")])
    assert await bot.set_chat_menu_button(user.id, MenuButtonCommands())
    assert (await sandbox.menu_buttons())[str(user.id)] == {"type": "commands"}
    assert isinstance(await bot.get_chat_menu_button(user.id), MenuButtonCommands)


# ---------------------------------------------------------------- fault injection


async def test_injected_faults(bot: Bot, sandbox: SandboxClient, user: SandboxUser) -> None:
    await sandbox.inject_fault("flood", method="sendMessage", retry_after=7)
    with pytest.raises(RetryAfter, match="Retry in 7 seconds"):
        await bot.send_message(user.id, "x")
    await sandbox.inject_fault("blocked", chat_id=user.id)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(user.id, "x")
    await sandbox.inject_fault("error", status=502, count=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.send_chat_action(user.id, ChatAction.TYPING)
    await sandbox.inject_fault("error", status=500, method="getMe")
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.get_me()
    await sandbox.inject_fault("delay", delay=0.3, method="sendMessage")
    started = time.monotonic()
    assert await bot.send_message(user.id, "slow but fine")
    assert time.monotonic() - started >= 0.3
    assert await sandbox.faults() == []
    stats = await sandbox.stats()
    assert stats["injected_faults"] == 6
    assert stats["responses_429"] == 1
    await sandbox.inject_fault("flood", method="sendMessage", count=5)
    await sandbox.clear_faults()
    assert await bot.send_message(user.id, "cleared")


# ---------------------------------------------------------------- strict field names


def unknown_fields(obj: object, path: str = "") -> list[str]:
    """Paths of fields PTB did not recognise (they land in ``api_kwargs``)."""
    found: list[str] = []
    if isinstance(obj, TelegramObject):
        found += [f"{path}.{key}" for key in obj.api_kwargs]
        for name, value in obj._get_attrs(recursive=False).items():
            found += unknown_fields(value, f"{path}.{name}")
    elif isinstance(obj, tuple | list):
        for index, item in enumerate(obj):
            found += unknown_fields(item, f"{path}[{index}]")
    return found


def test_unknown_fields_helper_detects_typos() -> None:
    chat = {"id": 1, "type": "private", "bogus": 1}
    message = Message.de_json({"message_id": 1, "date": 0, "chat": chat, "colour": 2}, None)
    assert sorted(unknown_fields(message)) == [".chat.bogus", ".colour"]


async def test_results_use_only_fields_ptb_knows(
    bot: Bot, sandbox: SandboxClient, user: SandboxUser
) -> None:
    incoming = await sandbox.send_text(user.id, "q")
    await sandbox.send_document(user.id, b"doc", "a.pdf", caption="c")
    await sandbox.send_voice(user.id, b"OggS-voice", duration=2)
    await sandbox.share_contact(user.id, "+91")
    await sandbox.send_album(user.id, [png(20, 20), png(30, 20)], caption="album")
    text = await bot.send_message(
        user.id,
        "<b>x</b>",
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard(("a", "b")),
        protect_content=True,
        reply_to_message_id=incoming.message_id,
    )
    results: list[object] = [
        await bot.get_me(),
        text,
        await bot.send_photo(user.id, png(50, 40), caption="p"),
        await bot.send_document(user.id, b"d", filename="d.txt"),
        await bot.send_voice(user.id, b"v", duration=1),
        await bot.send_audio(user.id, b"a", filename="a.mp3"),
        await bot.send_contact(user.id, phone_number="+1", first_name="X"),
        await bot.edit_message_text("y", user.id, text.message_id),
        await bot.forward_message(user.id, user.id, incoming.message_id),
        await bot.copy_message(user.id, user.id, incoming.message_id),
        await bot.get_chat(user.id),
        await bot.get_webhook_info(),
        *await bot.send_media_group(user.id, [InputMediaPhoto(png(9, 9))] * 2),
    ]
    sent = await sandbox.messages(user.id)
    tap_target = next(m for m in sent if m.buttons == () and m.from_bot)
    await bot.edit_message_reply_markup(
        user.id, tap_target.message_id, reply_markup=keyboard(("t", "t"))
    )
    await sandbox.tap(user.id, tap_target.message_id, "t")
    await sandbox.block(user.id)
    results += list(await bot.get_updates())
    document = results[3]
    assert isinstance(document, Message) and document.document is not None
    results.append(await bot.get_file(document.document.file_id))
    problems = [p for index, r in enumerate(results) for p in unknown_fields(r, f"[{index}]")]
    assert problems == []
