"""Mini App initData: agrees with the emulator's signer; forged, tampered, stale refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.sandbox.state import SandboxState
from bot.security.webapp_auth import InitDataError, WebAppUser, sign, verify_init_data

TOKEN = "123456:AAE-test-token_for-sampark"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def emulator(now: datetime = NOW) -> SandboxState:
    state = SandboxState(token=TOKEN, bot_id=123456, clock=lambda: now.timestamp())
    state.create_user({"id": 4242, "first_name": "Asha", "language_code": "hi", "username": "asha"})
    return state


def signed(fields: dict[str, str], token: str = TOKEN) -> str:
    return urlencode({**fields, "hash": sign(fields, token)})


def fields_at(auth_date: datetime, **extra: str) -> dict[str, str]:
    user = {"id": 4242, "first_name": "Asha", "language_code": "hi"}
    return {
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "user": json.dumps(user, separators=(",", ":"), ensure_ascii=False),
        "auth_date": str(int(auth_date.timestamp())),
        **extra,
    }


def test_accepts_what_the_emulator_signs() -> None:
    raw = emulator().web_app_init_data(4242, start_param="case-K7M")
    user = verify_init_data(raw, TOKEN, now=NOW)
    assert user == WebAppUser(
        id=4242,
        first_name="Asha",
        language_code="hi",
        auth_date=NOW,
        username="asha",
        start_param="case-K7M",
    )


def test_emulator_signature_equals_ours() -> None:
    raw = emulator().web_app_init_data(4242)
    fields = dict(parse_qsl(raw))
    assert sign(fields, TOKEN) == fields["hash"]


def test_unicode_names_and_percent_encoding() -> None:
    user = {"id": 7, "first_name": "आशा & Co=1\nx", "language_code": "hi"}
    fields = {"user": json.dumps(user, ensure_ascii=False), "auth_date": str(int(NOW.timestamp()))}
    raw = urlencode({**fields, "hash": sign(fields, TOKEN)}, quote_via=quote)
    assert verify_init_data(raw, TOKEN, now=NOW).first_name == "आशा & Co=1\nx"


def test_another_bots_token_is_refused() -> None:
    raw = emulator().web_app_init_data(4242)
    with pytest.raises(InitDataError) as err:
        verify_init_data(raw, "654321:other", now=NOW)
    assert err.value.reason == "bad_signature"


@pytest.mark.parametrize(
    ("age", "reason"),
    [
        (timedelta(hours=1, seconds=1), "stale"),
        (timedelta(days=3), "stale"),
        (-timedelta(minutes=5), "from_future"),
    ],
)
def test_freshness(age: timedelta, reason: str) -> None:
    raw = signed(fields_at(NOW - age))
    with pytest.raises(InitDataError) as err:
        verify_init_data(raw, TOKEN, now=NOW)
    assert err.value.reason == reason


def test_fresh_enough_and_custom_max_age() -> None:
    raw = emulator().web_app_init_data(
        4242, auth_date=int((NOW - timedelta(minutes=59)).timestamp())
    )
    assert verify_init_data(raw, TOKEN, now=NOW).id == 4242
    with pytest.raises(InitDataError, match="stale"):
        verify_init_data(raw, TOKEN, now=NOW, max_age=timedelta(minutes=5))
    assert verify_init_data(signed(fields_at(NOW + timedelta(seconds=30))), TOKEN, now=NOW)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "malformed"),
        ("x" * 9000, "malformed"),
        ("user=1&auth_date", "malformed"),
        ("auth_date=1&user=%7B%7D", "missing_hash"),
        ("auth_date=1&hash=", "missing_hash"),
        ("auth_date=1&auth_date=2&hash=ab", "duplicate_field"),
        ("auth_date=1&hash=00", "bad_signature"),
        ("auth_date=1&hash=%C3%A9", "bad_signature"),
    ],
)
def test_malformed(raw: str, reason: str) -> None:
    with pytest.raises(InitDataError) as err:
        verify_init_data(raw, TOKEN, now=NOW)
    assert err.value.reason == reason


def test_duplicate_field_with_a_valid_signature_is_refused() -> None:
    fields = fields_at(NOW)
    raw = signed(fields) + "&user=" + quote(json.dumps({"id": 1, "first_name": "Mallory"}))
    with pytest.raises(InitDataError, match="duplicate_field"):
        verify_init_data(raw, TOKEN, now=NOW)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"auth_date": "soon", "user": "{}"}, "bad_auth_date"),
        ({"auth_date": str(int(NOW.timestamp()))}, "no_user"),
        ({"auth_date": str(int(NOW.timestamp())), "user": "[1]"}, "no_user"),
        ({"auth_date": str(int(NOW.timestamp())), "user": '{"id": "7"}'}, "no_user"),
        ({"auth_date": str(int(NOW.timestamp())), "user": '{"id": true}'}, "no_user"),
        ({"auth_date": str(int(NOW.timestamp())), "user": "not json"}, "no_user"),
    ],
)
def test_signed_but_unusable(fields: dict[str, str], reason: str) -> None:
    with pytest.raises(InitDataError) as err:
        verify_init_data(signed(fields), TOKEN, now=NOW)
    assert err.value.reason == reason


def test_no_bot_token_and_naive_now() -> None:
    raw = signed(fields_at(NOW))
    with pytest.raises(InitDataError, match="no_bot_token"):
        verify_init_data(raw, "", now=NOW)
    with pytest.raises(ValueError, match="naive"):
        verify_init_data(raw, TOKEN, now=NOW.replace(tzinfo=None))


field_names = st.sampled_from(["query_id", "user", "auth_date", "hash"])


@settings(max_examples=300, deadline=None)
@given(
    name=field_names,
    position=st.integers(min_value=0, max_value=200),
    char=st.characters(codec="utf-8", exclude_characters="&=#"),
)
def test_any_tampered_value_is_refused(name: str, position: int, char: str) -> None:
    fields = fields_at(NOW)
    fields["hash"] = sign(fields, TOKEN)
    value = fields[name]
    index = position % (len(value) + 1)
    tampered = value[:index] + char + value[index + 1 :]
    if tampered == value:
        return
    fields[name] = tampered
    with pytest.raises(InitDataError):
        verify_init_data(urlencode(fields), TOKEN, now=NOW)


@settings(max_examples=200, deadline=None)
@given(
    key=st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=12),
    value=st.text(max_size=30),
)
def test_added_field_is_refused_and_signed_extras_accepted(key: str, value: str) -> None:
    fields = fields_at(NOW)
    if key in fields or key == "hash":
        return
    raw = signed(fields) + "&" + urlencode({key: value})
    with pytest.raises(InitDataError, match="bad_signature"):
        verify_init_data(raw, TOKEN, now=NOW)
    # The same field, signed, is fine: the data-check string covers every field.
    assert verify_init_data(signed({**fields, key: value}), TOKEN, now=NOW).id == 4242


@settings(max_examples=100, deadline=None)
@given(token=st.text(min_size=1, max_size=60))
def test_signature_binds_the_token(token: str) -> None:
    raw = signed(fields_at(NOW), token)
    assert verify_init_data(raw, token, now=NOW).id == 4242
    if token != TOKEN:
        with pytest.raises(InitDataError, match="bad_signature"):
            verify_init_data(raw, TOKEN, now=NOW)
