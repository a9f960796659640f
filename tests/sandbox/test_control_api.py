"""The control API over plain HTTP, the client's helpers, and the pure helpers (limits, markup)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
import socket
import struct
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl

import aiohttp
import pytest
from aiohttp import web
from PIL import Image
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.error import BadRequest
from telegram.ext import ContextTypes, MessageHandler, filters

from bot.sandbox.client import SandboxClient, SandboxError
from bot.sandbox.emulator import SANDBOX_TOKEN, BotApiEmulator
from bot.sandbox.formatting import apply_parse_mode, parse_html, parse_markdown
from bot.sandbox.harness import application_builder
from bot.sandbox.limits import ApiError, FloodControl, Limits


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    async with BotApiEmulator(limits=Limits(flood_enabled=False)) as emu:
        yield emu


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def sandbox(emulator: BotApiEmulator) -> AsyncIterator[SandboxClient]:
    async with SandboxClient(emulator.control_url, default_timeout=3) as client:
        yield client


@pytest.fixture
async def bot(emulator: BotApiEmulator) -> AsyncIterator[Bot]:
    async with Bot(
        SANDBOX_TOKEN, base_url=emulator.base_url, base_file_url=emulator.base_file_url
    ) as ptb_bot:
        yield ptb_bot


def jpeg(width: int, height: int, exif: bool = False) -> bytes:
    image = Image.new("RGB", (width, height), "gray")
    out = io.BytesIO()
    if exif:
        data = Image.Exif()
        data[0x010F] = "PhoneMaker"  # Make
        image.save(out, "JPEG", exif=data)
    else:
        image.save(out, "JPEG")
    return out.getvalue()


async def test_index_health_and_user_routes(
    emulator: BotApiEmulator, http: aiohttp.ClientSession
) -> None:
    base = emulator.control_url
    async with http.get(base) as resp:
        routes = (await resp.json())["routes"]
    assert "POST /control/users/{user_id}/tap" in routes
    async with http.post(f"{base}/users", json={"first_name": "Asha"}) as resp:
        assert resp.status == 201
        user = await resp.json()
    assert user["id"] >= 700_000_001 and user["is_bot"] is False
    async with http.get(f"{base}/users/{user['id']}") as resp:
        assert (await resp.json())["first_name"] == "Asha"
    async with http.get(f"{base}/users/1") as resp:
        assert resp.status == 404
        assert "no user 1" in (await resp.json())["error"]
    async with http.post(f"{base}/users", json={"id": -5}) as resp:
        assert resp.status == 400


async def test_multipart_and_base64_photo(
    emulator: BotApiEmulator, http: aiohttp.ClientSession, sandbox: SandboxClient
) -> None:
    user = await sandbox.create_user("Asha")
    form = aiohttp.FormData()
    form.add_field("caption", "wound")
    form.add_field("file", jpeg(2000, 1000, exif=True), filename="w.jpg")
    async with http.post(f"{emulator.control_url}/users/{user.id}/photo", data=form) as resp:
        assert resp.status == 200, await resp.text()
        sent = (await resp.json())["message"]
    attachment = sent["attachments"][0]
    assert (attachment["width"], attachment["height"]) == (1280, 640)
    data = await sandbox.download(attachment["file_id"])
    assert not Image.open(io.BytesIO(data)).getexif()
    body = {"data_b64": base64.b64encode(jpeg(100, 50)).decode()}
    async with http.post(f"{emulator.control_url}/users/{user.id}/photo", json=body) as resp:
        small = (await resp.json())["message"]["attachments"][0]
    assert (small["width"], small["height"]) == (100, 50)
    assert [s["width"] for s in small["sizes"]] == [90, 100]
    async with http.post(
        f"{emulator.control_url}/users/{user.id}/photo", json={"data_b64": "bm90IGFuIGltYWdl"}
    ) as resp:
        assert resp.status == 400
        assert "IMAGE_PROCESS_FAILED" in (await resp.json())["error"]


async def test_voice_duration_from_ogg(sandbox: SandboxClient, bot: Bot) -> None:
    user = await sandbox.create_user("Asha")
    ogg = b"OggS\x00\x04" + struct.pack("<q", 48000 * 3) + b"\x00" * 20
    sent = await sandbox.send_voice(user.id, ogg)
    attachment = sent.attachment
    assert attachment is not None and attachment.duration == 3
    assert attachment.mime_type == "audio/ogg"
    (update,) = await bot.get_updates()
    assert update.message is not None and update.message.voice is not None
    tg_file = await update.message.voice.get_file()
    assert tg_file.file_path is not None and tg_file.file_path.endswith(".oga")
    assert bytes(await tg_file.download_as_bytearray()) == ogg


async def test_wait_returns_when_bot_sends(sandbox: SandboxClient, bot: Bot) -> None:
    user = await sandbox.create_user("Asha", started=True)
    start_seq = (await sandbox.health())["seq"]

    async def send_later() -> None:
        await asyncio.sleep(0.2)
        await bot.send_message(user.id, "late hello")

    task = asyncio.create_task(send_later())
    began = time.monotonic()
    result = await sandbox.wait_events(user.id, start_seq, timeout=5)
    await task
    assert time.monotonic() - began < 2
    (event,) = result["events"]
    assert event["kind"] == "message" and event["message"]["text"] == "late hello"
    assert event["seq"] > start_seq
    empty = await sandbox.wait_events(user.id, event["seq"], timeout=0.2)
    assert empty["events"] == [] and empty["timed_out"]
    everywhere = await sandbox.wait_events(None, start_seq, timeout=0)
    assert [e["message"]["text"] for e in everywhere["events"]] == ["late hello"]
    user_side = await sandbox.wait_events(user.id, 0, timeout=0, who="user")
    assert user_side["events"] == []


async def test_cursor_helpers(sandbox: SandboxClient, bot: Bot) -> None:
    user = await sandbox.create_user("Asha", started=True)
    for text in ("one", "two", "three"):
        await bot.send_message(user.id, text)
    assert (await sandbox.next_reply(user.id)).text == "one"
    found = await sandbox.wait_for(user.id, lambda m: m.text == "three")
    assert found.text == "three"
    await sandbox.expect_no_reply(user.id, within=0.1)
    await bot.send_message(user.id, "four")
    await sandbox.skip_replies(user.id)
    await sandbox.expect_no_reply(user.id, within=0.1)
    with pytest.raises(AssertionError):
        await sandbox.wait_edit(user.id, 1, timeout=0.1)


async def test_reset_keeps_ids_increasing(sandbox: SandboxClient, bot: Bot) -> None:
    user = await sandbox.create_user("Asha")
    first = await sandbox.send_text(user.id, "before")
    updates = await bot.get_updates()
    await sandbox.reset()
    assert await sandbox.users() == []
    again = await sandbox.create_user("Asha", id=user.id)
    second = await sandbox.send_text(again.id, "after")
    assert second.seq > first.seq and second.message_id == 1
    fresh = await bot.get_updates(offset=updates[-1].update_id + 1)
    assert [u.message.text for u in fresh if u.message] == ["after"]


async def test_limits_route(sandbox: SandboxClient) -> None:
    limits = await sandbox.get_limits()
    assert limits["max_text_length"] == 4096 and limits["flood_enabled"] is False
    changed = await sandbox.set_limits(flood_enabled=True, private_burst=5, private_rate=2)
    assert changed["private_burst"] == 5 and changed["private_rate"] == 2.0
    with pytest.raises(SandboxError, match="unknown limit"):
        await sandbox.set_limits(no_such_limit=1)
    with pytest.raises(SandboxError, match="integer"):
        await sandbox.set_limits(private_burst="many")


async def test_groups_contacts_and_mentions(sandbox: SandboxClient, bot: Bot) -> None:
    asha = await sandbox.create_user("Asha")
    rao = await sandbox.create_user("Rao", username="drrao")
    group = await sandbox.create_group("District team", [asha.id, rao.id])
    assert group["id"] < 0 and group["type"] == "supergroup"
    await sandbox.send_command(asha.id, "help", chat_id=group["id"], mention=True)
    await sandbox.share_contact(asha.id, "+911234", first_name="Nurse", last_name="Lata")
    updates = await bot.get_updates()
    command = updates[0].message
    assert command is not None and command.text == "/help@SamparkBot"
    assert command.chat.type == "supergroup" and command.chat.title == "District team"
    contact = updates[1].message
    assert contact is not None and contact.contact is not None
    assert contact.contact.first_name == "Nurse" and contact.contact.user_id is None
    sent = await bot.send_message(group["id"], "hello team")
    assert sent.chat.id == group["id"]
    assert [m.text for m in await sandbox.messages(group["id"])][-1] == "hello team"
    typed = await sandbox.send_text(rao.id, "/start abc")
    assert typed.view["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert (await bot.get_chat("@drrao")).id == rao.id


async def test_tap_rules(sandbox: SandboxClient, bot: Bot, emulator: BotApiEmulator) -> None:
    user = await sandbox.create_user("Asha", started=True)
    markup = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Approve", callback_data="approve:7")],
            [InlineKeyboardButton("Docs", url="https://example.org")],
        ]
    )
    sent = await bot.send_message(user.id, "Request", reply_markup=markup)
    with pytest.raises(KeyError, match="Reject"):
        await sandbox.tap(user.id, sent.message_id, "Reject")
    with pytest.raises(SandboxError, match="no callback_data"):
        await sandbox.tap(user.id, sent.message_id, "Docs")
    async with aiohttp.ClientSession() as http:
        url = f"{emulator.control_url}/users/{user.id}/tap"
        body = {"message_id": sent.message_id, "callback_data": "approve:8"}
        async with http.post(url, json=body) as resp:
            assert resp.status == 409
    forged = await sandbox.tap(user.id, sent.message_id, "approve:999", force=True)
    by_data = await sandbox.tap(user.id, sent.message_id, "approve:7")

    async def answer_later() -> None:
        await asyncio.sleep(0.1)
        await bot.answer_callback_query(by_data.callback_query_id, text="Done")

    task = asyncio.create_task(answer_later())
    answered = await sandbox.callback_answer(by_data.callback_query_id, timeout=3)
    await task
    assert answered.answered and answered.answer_text == "Done"
    updates = await bot.get_updates()
    queries = [u.callback_query for u in updates if u.callback_query]
    assert [q.data for q in queries] == ["approve:999", "approve:7"]
    assert forged.data == "approve:999"
    with pytest.raises(SandboxError, match="no callback query"):
        await sandbox.callback_answer("0")


async def test_file_routes(sandbox: SandboxClient, emulator: BotApiEmulator) -> None:
    user = await sandbox.create_user("Asha")
    sent = await sandbox.send_document(user.id, b"%PDF-1.4", "report.pdf")
    attachment = sent.attachment
    assert attachment is not None and attachment.mime_type == "application/pdf"
    info = await sandbox.file_info(attachment.file_id)
    assert info["file_size"] == 8 and info["file_path"] is None
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{emulator.control_url}/files/{attachment.file_id}/content") as resp,
    ):
        assert resp.headers["Content-Disposition"] == 'attachment; filename="report.pdf"'
        assert await resp.read() == b"%PDF-1.4"
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{emulator.base_file_url}{SANDBOX_TOKEN}/documents/nope/file_1.pdf") as resp,
    ):
        assert resp.status == 404


async def test_stats_and_faults_routes(sandbox: SandboxClient, bot: Bot) -> None:
    await bot.get_me()
    stats = await sandbox.stats()
    assert stats["requests"]["getme"] >= 2 and stats["responses_429"] == 0
    await sandbox.reset_stats()
    assert (await sandbox.stats())["total_requests"] == 0
    fault = await sandbox.inject_fault("flood", method="sendMessage", count=2, retry_after=3)
    assert fault["remaining"] == 2 and fault["method"] == "sendmessage"
    assert len(await sandbox.faults()) == 1
    with pytest.raises(SandboxError, match="kind must be"):
        await sandbox.inject_fault("meteor")


# ---------------------------------------------------------------- pure helpers


def test_flood_control_buckets() -> None:
    now = [0.0]
    flood = FloodControl(Limits(global_burst=5, global_rate=5, private_burst=3), lambda: now[0])
    assert [flood.check(1, True) for _ in range(4)] == [0, 0, 0, 1]
    assert [flood.check(2, True) for _ in range(3)] == [0, 0, 1]  # global bucket (5) is empty
    now[0] += 1.0
    assert flood.check(2, True) == 0
    flood.configure(Limits(flood_enabled=False))
    assert all(flood.check(1, True) == 0 for _ in range(100))


def test_html_entities_use_utf16_offsets() -> None:
    text, entities = parse_html('🩺 <b>Dr</b> <a href="https://x.org">link</a> <code>1&lt;2</code>')
    assert text == "🩺 Dr link 1<2"
    assert entities[0] == {"type": "bold", "offset": 3, "length": 2}
    assert entities[1] == {"type": "text_link", "offset": 6, "length": 4, "url": "https://x.org"}
    assert entities[2] == {"type": "code", "offset": 11, "length": 3}
    pre_text, pre = parse_html('<pre><code class="language-python">x = 1</code></pre>')
    assert pre_text == "x = 1" and pre == [
        {"type": "pre", "offset": 0, "length": 5, "language": "python"}
    ]


def test_markdown_parsing() -> None:
    text, entities = parse_markdown("*bold* _it_ [site](https://a.org) `c\\`d` \\!", v2=True)
    assert text == "bold it site c`d !"
    assert [e["type"] for e in entities] == ["bold", "italic", "text_link", "code"]
    legacy, legacy_entities = parse_markdown("*Done.* (ok)", v2=False)
    assert legacy == "Done. (ok)" and legacy_entities[0]["type"] == "bold"
    with pytest.raises(ApiError, match="Can't find end of the entity"):
        parse_markdown("*open", v2=True)
    with pytest.raises(ApiError, match="unsupported parse_mode"):
        apply_parse_mode("x", "Latex", None)
    assert apply_parse_mode("<b>x</b>", None, None) == ("<b>x</b>", [])


# ---------------------------------------------------------------- newer methods and modes


async def test_user_edit_produces_edited_message(sandbox: SandboxClient, bot: Bot) -> None:
    user = await sandbox.create_user("Asha")
    sent = await sandbox.send_text(user.id, "BP 120/80")
    edited = await sandbox.edit_message(user.id, sent.message_id, text="BP 130/85")
    assert edited.edited and edited.history[0]["text"] == "BP 120/80"
    updates = await bot.get_updates()
    assert updates[-1].edited_message is not None
    assert updates[-1].edited_message.text == "BP 130/85"
    assert updates[-1].edited_message.edit_date is not None


async def test_delete_messages_and_edit_media(sandbox: SandboxClient, bot: Bot) -> None:
    user = await sandbox.create_user("Asha", started=True)
    first = await bot.send_message(user.id, "a")
    second = await bot.send_message(user.id, "b")
    assert await bot.delete_messages(user.id, [first.message_id, second.message_id, 999])
    assert all(m.deleted for m in await sandbox.messages(user.id))
    preview = await bot.send_photo(
        user.id,
        jpeg(64, 64),
        caption="preview 1/2",
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Next", callback_data="next")]]),
    )
    edited = await bot.edit_message_media(
        InputMediaPhoto(jpeg(80, 40), caption="preview 2/2"), user.id, preview.message_id
    )
    assert isinstance(edited, Message) and edited.caption == "preview 2/2"
    assert edited.photo[-1].width == 80
    view = await sandbox.message(user.id, preview.message_id)
    assert view.edited and view.buttons == ()
    assert view.history[0]["caption"] == "preview 1/2"


async def test_bot_name_and_descriptions(bot: Bot) -> None:
    assert (await bot.get_my_name()).name == "Sampark"
    assert await bot.set_my_description("Tele-consultation for health workers")
    assert await bot.set_my_short_description("टेली-परामर्श", language_code="hi")
    assert await bot.set_my_name("संपर्क", language_code="hi")
    assert (await bot.get_my_description()).description.startswith("Tele-consultation")
    assert (await bot.get_my_short_description(language_code="hi")).short_description == (
        "टेली-परामर्श"
    )
    assert (await bot.get_my_name(language_code="hi")).name == "संपर्क"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_webhook_delivery_to_ptb_webhook_server(
    emulator: BotApiEmulator, sandbox: SandboxClient
) -> None:
    """PTB's own webhook server receives the updates, with the secret header checked."""

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"hook: {update.effective_message.text}")

    emulator.allow_loopback_http = True
    app = application_builder(emulator).build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    port = free_port()
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_webhook(
            listen="127.0.0.1",
            port=port,
            url_path="hook",
            webhook_url=f"http://127.0.0.1:{port}/hook",
            secret_token="s3cret-token",
        )
        try:
            user = await sandbox.create_user("Asha")
            await sandbox.send_text(user.id, "ping")
            assert (await sandbox.next_reply(user.id)).text == "hook: ping"
            info = await sandbox.webhook()
            assert info["url"].endswith("/hook") and info["delivered"] == 1
            assert info["pending"] == 0 and info["errors"] == []
        finally:
            await app.updater.stop()
            await app.stop()


async def test_webhook_errors_are_recorded_and_retried(
    emulator: BotApiEmulator, sandbox: SandboxClient, bot: Bot
) -> None:
    emulator.webhook_retry_delay = 0.05
    received: list[dict[str, object]] = []
    fail = [2]

    async def hook(request: web.Request) -> web.Response:
        assert request.headers["X-Telegram-Bot-Api-Secret-Token"] == "abc"
        if fail[0]:
            fail[0] -= 1
            return web.Response(status=500)
        received.append(await request.json())
        return web.Response(text="ok")

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    runner = web.AppRunner(receiver)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        with pytest.raises(BadRequest, match=r"(?i)https url"):
            await bot.set_webhook("http://example.org/hook")
        with pytest.raises(BadRequest, match=r"(?i)https url"):  # like Telegram, by default
            await bot.set_webhook(f"http://127.0.0.1:{port}/hook")
        emulator.allow_loopback_http = True
        assert await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="abc")
        user = await sandbox.create_user("Asha")
        await sandbox.send_text(user.id, "one")
        await sandbox.send_text(user.id, "two")
        for _ in range(100):
            if len(received) == 2:
                break
            await asyncio.sleep(0.02)
        assert [r["message"]["text"] for r in received] == ["one", "two"]  # type: ignore[index]
        info = await bot.get_webhook_info()
        assert info.pending_update_count == 0
        assert (
            info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
        )
    finally:
        await bot.delete_webhook()
        await runner.cleanup()


async def test_webhook_pushes_chats_in_parallel_and_each_chat_in_order(
    emulator: BotApiEmulator, sandbox: SandboxClient, bot: Bot
) -> None:
    """Like Telegram: several connections at once, but a chat's next update waits."""
    first_arrived, release = asyncio.Event(), asyncio.Event()
    received: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        text = (await request.json())["message"]["text"]
        received.append(text)
        if text == "asha-1":
            first_arrived.set()
            await release.wait()  # Asha's first update is still being handled
        return web.Response(text="ok")

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    runner = web.AppRunner(receiver)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        emulator.allow_loopback_http = True
        assert await bot.set_webhook(f"http://127.0.0.1:{port}/hook", max_connections=5)
        assert (await bot.get_webhook_info()).max_connections == 5
        asha, ravi = await sandbox.create_user("Asha"), await sandbox.create_user("Ravi")
        await sandbox.send_text(asha.id, "asha-1")
        await asyncio.wait_for(first_arrived.wait(), 5)
        await sandbox.send_text(asha.id, "asha-2")
        await sandbox.send_text(ravi.id, "ravi-1")
        for _ in range(100):
            if "ravi-1" in received:
                break
            await asyncio.sleep(0.02)
        assert received == ["asha-1", "ravi-1"]  # Ravi is not held up; Asha's second waits
        release.set()
        for _ in range(100):
            if len(received) == 3:
                break
            await asyncio.sleep(0.02)
        assert received == ["asha-1", "ravi-1", "asha-2"]
        assert (await sandbox.webhook())["pending"] == 0
    finally:
        release.set()
        await bot.delete_webhook()
        await runner.cleanup()


def test_markdown_blockquote() -> None:
    text, entities = parse_markdown(">quoted\n>second\nafter\\.", v2=True)
    assert text == "quoted\nsecond\nafter."
    assert entities == [{"type": "blockquote", "offset": 0, "length": 13}]
    with pytest.raises(ApiError, match="'>' is reserved"):
        parse_markdown("a > b", v2=True)


async def test_curl_style_json_without_content_type(
    emulator: BotApiEmulator, http: aiohttp.ClientSession
) -> None:
    """``curl -d '{...}'`` sends form-urlencoded; the control API still reads it as JSON."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    async with http.post(
        f"{emulator.control_url}/users", data='{"first_name": "Ravi"}', headers=headers
    ) as resp:
        assert resp.status == 201
        assert (await resp.json())["first_name"] == "Ravi"
    async with http.post(f"{emulator.control_url}/users", data={"first_name": "Lata"}) as resp:
        assert (await resp.json())["first_name"] == "Lata"


async def test_user_update_merges_and_bad_params_are_400(
    sandbox: SandboxClient, bot: Bot, emulator: BotApiEmulator
) -> None:
    user = await sandbox.create_user("Asha", last_name="Devi", username="asha")
    updated = await sandbox.create_user("Asha", id=user.id, language_code="en")
    assert (updated.last_name, updated.username, updated.language_code) == ("Devi", "asha", "en")
    await sandbox.send_text(user.id, "hi")
    url = f"{emulator.base_url}{SANDBOX_TOKEN}/sendMessage"
    body = {"chat_id": user.id, "text": "x", "reply_parameters": {"message_id": 1, "chat_id": "@x"}}
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as resp:
        assert resp.status == 400
        assert (await resp.json())["description"].startswith("Bad Request: invalid request")


async def test_deep_links(sandbox: SandboxClient, bot: Bot) -> None:
    user = await sandbox.create_user("Asha")
    sent = await sandbox.open_link(user.id, "https://t.me/SamparkBot?start=INV_42-x")
    assert sent.text == "/start INV_42-x"
    assert (await sandbox.open_link(user.id, "t.me/SamparkBot?start=bad+payload!")).text == "/start"
    assert (await sandbox.open_link(user.id, "A" * 65)).text == "/start"
    assert (await sandbox.open_link(user.id, "CODE1")).text == "/start CODE1"
    with pytest.raises(SandboxError, match="OtherBot"):
        await sandbox.open_link(user.id, "https://t.me/OtherBot?start=x")
    updates = await bot.get_updates()
    first = updates[0].message
    assert first is not None and first.entities[0].type == "bot_command"
    assert first.entities[0].length == len("/start")


async def test_web_app_init_data_is_signed_like_telegram(sandbox: SandboxClient) -> None:
    user = await sandbox.create_user("Asha", language_code="hi")
    init_data = await sandbox.web_app_init_data(
        user.id, start_param="case7", auth_date=1_790_000_000
    )
    fields = dict(parse_qsl(init_data))
    received = fields.pop("hash")
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", SANDBOX_TOKEN.encode(), hashlib.sha256).digest()
    assert hmac.compare_digest(
        hmac.new(secret, check.encode(), hashlib.sha256).hexdigest(), received
    )
    assert json.loads(fields["user"])["id"] == user.id
    assert fields["start_param"] == "case7" and fields["auth_date"] == "1790000000"


async def test_reply_keyboard_press_and_contact_button(sandbox: SandboxClient, bot: Bot) -> None:
    user = await sandbox.create_user("Asha", phone_number="+919876543210", started=True)
    with pytest.raises(SandboxError, match="no reply keyboard"):
        await sandbox.press(user.id, "Yes")
    markup = ReplyKeyboardMarkup(
        [[KeyboardButton("Share phone", request_contact=True)], ["Skip"]], one_time_keyboard=True
    )
    await bot.send_message(user.id, "Your phone?", reply_markup=markup)
    with pytest.raises(SandboxError, match="no keyboard button 'Maybe'"):
        await sandbox.press(user.id, "Maybe")
    shared = await sandbox.press(user.id, "Share phone")
    assert shared.kind == "contact" and shared.contact is not None
    assert shared.contact["phone_number"] == "+919876543210"
    assert shared.contact["user_id"] == user.id
    assert (await sandbox.chat(user.id))["keyboard"] is None  # one-time keyboard is gone
    await bot.send_message(user.id, "Again?", reply_markup=ReplyKeyboardMarkup([["Skip"]]))
    assert (await sandbox.press(user.id, "Skip")).text == "Skip"
    updates = await bot.get_updates()
    assert updates[0].message is not None and updates[0].message.contact is not None
    assert updates[1].message is not None and updates[1].message.text == "Skip"


async def test_group_privacy_mode(sandbox: SandboxClient, bot: Bot) -> None:
    asha = await sandbox.create_user("Asha")
    group = await sandbox.create_group("Ward", [asha.id])
    chat = group["id"]
    posted = await bot.send_message(chat, "Case 7 needs review")
    await sandbox.send_text(asha.id, "chatting among ourselves", chat_id=chat)
    await sandbox.send_text(asha.id, "/status", chat_id=chat)
    await sandbox.send_text(asha.id, "/status@OtherBot", chat_id=chat)
    await sandbox.send_text(asha.id, "hey @SamparkBot", chat_id=chat)
    await sandbox.send_text(asha.id, "on it", chat_id=chat, reply_to=posted.message_id)
    texts = [u.message.text for u in await bot.get_updates() if u.message]
    assert texts == ["/status", "hey @SamparkBot", "on it"]
    assert len(await sandbox.messages(chat)) == 6  # everything is still in the chat
    await sandbox.set_limits(group_privacy=False)
    await sandbox.send_text(asha.id, "now the bot reads all", chat_id=chat)
    texts = [u.message.text for u in await bot.get_updates() if u.message]
    assert texts[-1] == "now the bot reads all"


async def test_chat_members(sandbox: SandboxClient, bot: Bot) -> None:
    coordinator = await sandbox.create_user("Ravi")
    worker = await sandbox.create_user("Asha")
    outsider = await sandbox.create_user("Vikram")
    group = await sandbox.create_group("Dharwad", [worker.id], admins=[coordinator.id])
    admin = await bot.get_chat_member(group["id"], coordinator.id)
    assert admin.status == "administrator" and admin.api_kwargs == {}
    assert (await bot.get_chat_member(group["id"], worker.id)).status == "member"
    assert (await bot.get_chat_member(group["id"], outsider.id)).status == "left"
    assert await bot.get_chat_member_count(group["id"]) == 3
    with pytest.raises(BadRequest, match=r"(?i)participant_id_invalid"):
        await bot.get_chat_member(group["id"], 5)
