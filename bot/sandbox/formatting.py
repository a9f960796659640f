"""``parse_mode`` handling: turn HTML / MarkdownV2 / Markdown into plain text plus entities.

Telegram strips the markup and returns ``text`` + ``entities`` (offsets in UTF-16 code
units), and rejects malformed markup with ``Bad Request: can't parse entities: ...``. This
module does the same for the common cases, so a bot that forgets to escape user input fails
here as it would in production.
"""

from __future__ import annotations

from html.parser import HTMLParser
from types import MappingProxyType
from typing import Any

from bot.sandbox.limits import ApiError, bad_request

_HTML_TAGS = MappingProxyType(
    {
        "b": "bold",
        "strong": "bold",
        "i": "italic",
        "em": "italic",
        "u": "underline",
        "ins": "underline",
        "s": "strikethrough",
        "strike": "strikethrough",
        "del": "strikethrough",
        "tg-spoiler": "spoiler",
        "span": "spoiler",
        "code": "code",
        "pre": "pre",
        "a": "text_link",
        "blockquote": "blockquote",
        "tg-emoji": "custom_emoji",
    }
)

_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (Telegram's entity unit)."""
    return len(text.encode("utf-16-le")) // 2


def _entity_error(text: str) -> ApiError:
    return bad_request(f"can't parse entities: {text}")


class _HtmlToEntities(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.parts: list[str] = []
        self.pos16 = 0
        self.stack: list[tuple[str, int, dict[str, str | None]]] = []
        self.entities: list[dict[str, Any]] = []
        self._line_starts = [0]
        for index, char in enumerate(source):
            if char == "\n":
                self._line_starts.append(index + 1)

    def _byte_offset(self) -> int:
        line, col = self.getpos()
        index = self._line_starts[line - 1] + col
        return len(self.source[:index].encode())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HTML_TAGS:
            raise _entity_error(
                f'Unsupported start tag "{tag}" at byte offset {self._byte_offset()}'
            )
        self.stack.append((tag, self.pos16, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise _entity_error(f'Unsupported start tag "{tag}" at byte offset {self._byte_offset()}')

    def handle_endtag(self, tag: str) -> None:
        if not self.stack:
            raise _entity_error(f"Unexpected end tag at byte offset {self._byte_offset()}")
        open_tag, start, attrs = self.stack.pop()
        if open_tag != tag:
            raise _entity_error(
                f"Unmatched end tag at byte offset {self._byte_offset()}, "
                f'expected "</{open_tag}>", found "</{tag}>"'
            )
        length = self.pos16 - start
        if length <= 0:
            return
        kind = _HTML_TAGS[tag]
        entity: dict[str, Any] = {"type": kind, "offset": start, "length": length}
        if kind == "text_link":
            href = attrs.get("href") or ""
            if href.startswith("tg://user?id="):
                entity = {
                    "type": "text_mention",
                    "offset": start,
                    "length": length,
                    "user": {"id": int(href.split("=", 1)[1]), "is_bot": False, "first_name": ""},
                }
            else:
                entity["url"] = href
        elif kind == "custom_emoji":
            entity["custom_emoji_id"] = attrs.get("emoji-id") or ""
        elif kind == "pre":
            for inner in self.entities:
                if inner["type"] == "code" and inner["offset"] == start:
                    language = (inner.pop("_class", None) or "").removeprefix("language-")
                    self.entities.remove(inner)
                    if language:
                        entity["language"] = language
                    break
        elif kind == "code" and attrs.get("class"):
            entity["_class"] = attrs["class"]
        self.entities.append(entity)

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        self.pos16 += utf16_len(data)


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entities of an HTML-formatted message."""
    parser = _HtmlToEntities(source)
    parser.feed(source)
    parser.close()
    if parser.stack:
        tag = parser.stack[-1][0]
        raise _entity_error(f'Can\'t find end tag corresponding to start tag "{tag}"')
    for entity in parser.entities:
        entity.pop("_class", None)
    entities = sorted(parser.entities, key=lambda e: (e["offset"], -e["length"]))
    return "".join(parser.parts), entities


def parse_markdown(source: str, v2: bool) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entities of a MarkdownV2 (``v2``) or legacy Markdown message."""
    out: list[str] = []
    pos16 = 0
    entities: list[dict[str, Any]] = []
    stack: list[tuple[str, int, int]] = []  # marker, utf16 start, byte offset
    i = 0
    n = len(source)

    def byte_at(index: int) -> int:
        return len(source[:index].encode())

    def emit(text: str) -> None:
        nonlocal pos16
        out.append(text)
        pos16 += utf16_len(text)

    def toggle(marker: str, kind: str) -> None:
        if stack and stack[-1][0] == marker:
            _, start, _ = stack.pop()
            if pos16 > start:
                entities.append({"type": kind, "offset": start, "length": pos16 - start})
        else:
            stack.append((marker, pos16, byte_at(i)))

    quote_start: int | None = None

    def close_quote() -> None:
        nonlocal quote_start
        if quote_start is not None and pos16 > quote_start:
            entities.append(
                {"type": "blockquote", "offset": quote_start, "length": pos16 - quote_start}
            )
        quote_start = None

    while i < n:
        char = source[i]
        at_line_start = i == 0 or source[i - 1] == "\n"
        if v2 and char == ">" and at_line_start:
            if quote_start is None:
                quote_start = pos16
            i += 1
            continue
        if char == "\n" and quote_start is not None and not source.startswith(">", i + 1):
            close_quote()
        if char == "\\" and v2:
            if i + 1 < n and 0 < ord(source[i + 1]) < 127:
                emit(source[i + 1])
                i += 2
                continue
            raise _entity_error(
                "Character '\\' is reserved and must be escaped with the preceding '\\'"
            )
        if char == "`":
            fence = "```" if source.startswith("```", i) else "`"
            start_byte = byte_at(i)
            j = i + len(fence)
            body: list[str] = []
            while j < n and not source.startswith(fence, j):
                if v2 and source[j] == "\\" and j + 1 < n:
                    body.append(source[j + 1])
                    j += 2
                    continue
                body.append(source[j])
                j += 1
            if j >= n:
                raise _entity_error(
                    f"Can't find end of the entity starting at byte offset {start_byte}"
                )
            content = "".join(body)
            language = ""
            if fence == "```" and "\n" in content:
                first, rest = content.split("\n", 1)
                if first and " " not in first:
                    language, content = first, rest
            start = pos16
            emit(content)
            if content:
                entity: dict[str, Any] = {
                    "type": "pre" if fence == "```" else "code",
                    "offset": start,
                    "length": pos16 - start,
                }
                if language:
                    entity["language"] = language
                entities.append(entity)
            i = j + len(fence)
            continue
        if char == "*":
            toggle("*", "bold")
        elif char == "_":
            if v2 and source.startswith("__", i):
                toggle("__", "underline")
                i += 2
                continue
            toggle("_", "italic")
        elif char == "~" and v2:
            toggle("~", "strikethrough")
        elif char == "|" and v2 and source.startswith("||", i):
            toggle("||", "spoiler")
            i += 2
            continue
        elif char == "[":
            stack.append(("[", pos16, byte_at(i)))
        elif char == "]" and stack and stack[-1][0] == "[":
            _, start, start_byte = stack.pop()
            if i + 1 >= n or source[i + 1] != "(":
                if v2:
                    raise _entity_error(
                        f"Can't find end of the entity starting at byte offset {start_byte}"
                    )
                i += 1
                continue
            j = i + 2
            url: list[str] = []
            while j < n and source[j] != ")":
                if v2 and source[j] == "\\" and j + 1 < n:
                    url.append(source[j + 1])
                    j += 2
                    continue
                url.append(source[j])
                j += 1
            if j >= n:
                raise _entity_error(
                    f"Can't find end of the entity starting at byte offset {start_byte}"
                )
            if pos16 > start:
                entities.append(
                    {
                        "type": "text_link",
                        "offset": start,
                        "length": pos16 - start,
                        "url": "".join(url),
                    }
                )
            i = j + 1
            continue
        elif v2 and char in _MDV2_RESERVED:
            raise _entity_error(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        else:
            emit(char)
        i += 1
    close_quote()
    if stack:
        raise _entity_error(f"Can't find end of the entity starting at byte offset {stack[-1][2]}")
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def apply_parse_mode(
    text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None
) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entities for ``text`` sent with ``parse_mode`` or explicit ``entities``."""
    if entities:
        return text, entities
    mode = (parse_mode or "").lower()
    if mode == "html":
        return parse_html(text)
    if mode == "markdownv2":
        return parse_markdown(text, v2=True)
    if mode == "markdown":
        return parse_markdown(text, v2=False)
    if mode:
        raise bad_request(f"unsupported parse_mode: {parse_mode}")
    return text, []
