"""A full, unmodified PTB ``Application`` polling the emulator, driven through the control API."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest
from PIL import Image
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.sandbox.client import SandboxClient, SandboxTimeout
from bot.sandbox.emulator import BotApiEmulator
from bot.sandbox.harness import application_builder, polling

LANGUAGES = InlineKeyboardMarkup(
    [
        [InlineKeyboardButton("हिन्दी", callback_data="lang:hi")],
        [InlineKeyboardButton("English", callback_data="lang:en")],
    ]
)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    code = context.args[0] if context.args else "-"
    await update.effective_message.reply_text(
        f"Welcome! Invite: {code}. Choose a language:", reply_markup=LANGUAGES
    )


async def choose(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer("Saved")
    language = query.data.split(":", 1)[1]
    await query.edit_message_text(f"Language: {language}")


async def document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    assert message is not None and message.document is not None
    tg_file = await message.document.get_file()
    data = bytes(await tg_file.download_as_bytearray())
    await message.reply_document(
        data[::-1], filename="reversed.bin", caption=f"{len(data)} bytes", protect_content=True
    )


async def photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    assert message is not None and message.photo
    largest = message.photo[-1]
    await message.reply_text(f"photo {largest.width}x{largest.height}")


async def album(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    assert message is not None
    seen = context.bot_data.setdefault("album", [])
    seen.append((message.media_group_id, message.caption))


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None and update.effective_message.text is not None
    await update.effective_message.reply_text(update.effective_message.text.upper())


def build(emulator: BotApiEmulator) -> Application:  # type: ignore[type-arg]
    app = application_builder(emulator).build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(choose, pattern=r"^lang:"))
    app.add_handler(MessageHandler(filters.Document.ALL, document))
    app.add_handler(MessageHandler(filters.PHOTO & ~filters.UpdateType.EDITED, photo), group=1)
    app.add_handler(MessageHandler(filters.ATTACHMENT, album), group=2)
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    return app


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    async with BotApiEmulator() as emu:
        yield emu


@pytest.fixture
async def running(emulator: BotApiEmulator) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    async with polling(build(emulator)) as app:
        yield app


@pytest.fixture
async def sandbox(emulator: BotApiEmulator) -> AsyncIterator[SandboxClient]:
    async with SandboxClient(emulator.control_url, default_timeout=5) as client:
        yield client


@pytest.mark.usefixtures("running")
async def test_onboarding_conversation(sandbox: SandboxClient) -> None:
    asha = await sandbox.create_user("Asha", language_code="hi")
    await sandbox.send_command(asha.id, "start", "INV42")
    reply = await sandbox.next_reply(asha.id)
    assert reply.text == "Welcome! Invite: INV42. Choose a language:"
    assert "हिन्दी" in reply.button_texts()
    tapped = await sandbox.tap(asha.id, reply.message_id, "हिन्दी")
    edited = await sandbox.wait_edit(asha.id, reply.message_id)
    assert edited.text == "Language: hi"
    assert edited.buttons == ()
    answer = await sandbox.callback_answer(tapped.callback_query_id, timeout=5)
    assert answer.answered and answer.answer_text == "Saved"
    await sandbox.send_text(asha.id, "namaste")
    assert (await sandbox.next_reply(asha.id)).text == "NAMASTE"
    await sandbox.expect_no_reply(asha.id, within=0.2)
    history = await sandbox.messages(asha.id)
    assert [(m.from_bot, m.text) for m in history] == [
        (False, "/start INV42"),
        (True, "Language: hi"),
        (False, "namaste"),
        (True, "NAMASTE"),
    ]
    stats = await sandbox.stats()
    assert stats["responses_429"] == 0
    assert stats["requests"]["answercallbackquery"] == 1


@pytest.mark.usefixtures("running")
async def test_document_round_trip_through_the_bot(sandbox: SandboxClient) -> None:
    user = await sandbox.create_user("Ravi")
    payload = b"DICM" + bytes(range(200)) * 50
    await sandbox.send_document(user.id, payload, "scan.dcm")
    reply = await sandbox.wait_for(user.id, lambda m: m.kind == "document")
    assert reply.text == f"{len(payload)} bytes"
    assert reply.protect_content
    attachment = reply.attachment
    assert attachment is not None and attachment.file_name == "reversed.bin"
    assert await sandbox.download(attachment.file_id) == payload[::-1]


@pytest.mark.usefixtures("running")
async def test_user_photo_is_compressed_like_telegram(sandbox: SandboxClient) -> None:
    user = await sandbox.create_user("Meena")
    buffer = io.BytesIO()
    Image.new("RGB", (4000, 3000), "white").save(buffer, "PNG")
    sent = await sandbox.send_photo(user.id, buffer.getvalue(), caption="chest x-ray")
    attachment = sent.attachment
    assert attachment is not None
    assert (attachment.width, attachment.height) == (1280, 960)
    assert [max(s["width"], s["height"]) for s in attachment.sizes] == [90, 320, 800, 1280]
    reply = await sandbox.next_reply(user.id)
    assert reply.text == "photo 1280x960"


async def test_album_arrives_as_updates_sharing_media_group_id(
    running: Application,  # type: ignore[type-arg]
    sandbox: SandboxClient,
) -> None:
    user = await sandbox.create_user("Sunil")
    images = []
    for color in ("red", "green", "blue"):
        buffer = io.BytesIO()
        Image.new("RGB", (64, 48), color).save(buffer, "JPEG")
        images.append(buffer.getvalue())
    sent = await sandbox.send_album(user.id, images, caption="three views")
    group_ids = {m.media_group_id for m in sent}
    assert len(group_ids) == 1 and None not in group_ids
    await sandbox.replies(user.id, 3)  # the photo handler answers each one
    seen = running.bot_data["album"]
    assert [caption for _, caption in seen] == ["three views", None, None]
    assert {group for group, _ in seen} == group_ids


@pytest.mark.usefixtures("running")
async def test_next_reply_times_out_with_context(sandbox: SandboxClient) -> None:
    user = await sandbox.create_user("Quiet")
    await sandbox.send_command(user.id, "unknown")
    with pytest.raises(SandboxTimeout, match="/unknown"):
        await sandbox.next_reply(user.id, timeout=0.3)


async def test_bot_survives_injected_faults(
    emulator: BotApiEmulator, sandbox: SandboxClient
) -> None:
    """A 502 on getUpdates is retried by PTB's updater; the conversation still works."""
    await sandbox.inject_fault("error", method="getUpdates", status=502, count=1)
    async with polling(build(emulator)):
        user = await sandbox.create_user("Resilient")
        await sandbox.send_text(user.id, "still there?")
        assert (await sandbox.next_reply(user.id, timeout=10)).text == "STILL THERE?"
    assert (await sandbox.stats())["errors"].get("getupdates:502") == 1
