"""``callback_data``: short, language-independent, and parsed defensively (clients can forge it)."""

from __future__ import annotations

from dataclasses import dataclass

MAX_BYTES = 64


@dataclass(frozen=True)
class Callback:
    kind: str
    args: tuple[str, ...]


def make(kind: str, *args: object) -> str:
    data = ":".join([kind, *map(str, args)])
    if not 1 <= len(data.encode()) <= MAX_BYTES:
        raise ValueError(f"callback_data over {MAX_BYTES} bytes: {data!r}")
    if not data.isascii():  # a translated word slipped in: the same tap must work in every language
        raise ValueError(f"callback_data must be ASCII: {data!r}")
    return data


def parse(data: str | None, kind: str, arity: int) -> Callback | None:
    """The callback if ``data`` is ``kind`` with exactly ``arity`` arguments, else None."""
    if not data:
        return None
    head, *args = data.split(":")
    if head != kind or len(args) != arity or not all(args):
        return None
    return Callback(head, tuple(args))


def int_arg(callback: Callback, index: int = 0) -> int | None:
    value = callback.args[index]
    return int(value) if value.isdigit() and len(value) < 19 else None
