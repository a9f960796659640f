"""Catalog tools for translators (see docs/translating.md).

    python tools/catalog.py fill PO_FILE TRANSLATIONS.json   # set msgstr from {msgid: text}
    python tools/catalog.py check PO_FILE                    # what the test suite would refuse

``fill`` takes a JSON object mapping each English msgid (for plurals: the singular) to its
translation (for plurals: a list, one per plural form of the language). It holds a lock so
that two people filling at once, or a fill during ``make messages``, cannot lose entries.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "locales"
PLACEHOLDER = re.compile(r"\{[a-z_]*\}")
COMMAND = re.compile(r"/[a-z_]+\b")
MARKUP = re.compile(r"</?[a-z]+>")


def load(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f)


def save(catalog: Catalog, path: Path) -> None:
    # The same layout as `pybabel update --no-wrap`, so `make messages` changes nothing.
    with path.open("wb") as f:
        write_po(f, catalog, width=0, omit_header=False, ignore_obsolete=True)


@contextmanager
def locked() -> Iterator[None]:
    with (LOCALES / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def singular(message_id: str | tuple[str, ...] | list[str]) -> str:
    return message_id if isinstance(message_id, str) else message_id[0]


def problems(catalog: Catalog) -> Iterator[str]:
    """Untranslated, fuzzy or obsolete entries; placeholders, commands or markup lost."""
    if catalog.obsolete:
        yield f"obsolete entries: {sorted(catalog.obsolete)}"
    for message in catalog:
        if not message.id:
            continue
        name = singular(message.id)
        if message.fuzzy:
            yield f"fuzzy: {name!r}"
        sources = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = (
            [message.string] if isinstance(message.string, str) else list(message.string or ())
        )
        if not all(strings):
            yield f"untranslated: {name!r}"
            continue
        if len(sources) > 1 and len(strings) != catalog.num_plurals:
            yield f"needs {catalog.num_plurals} plural forms: {name!r}"
        source = sources[-1]
        for pattern, what in ((PLACEHOLDER, "placeholders"), (MARKUP, "markup")):
            expected = sorted(pattern.findall(source))
            for text in strings:
                if sorted(pattern.findall(text)) != expected:
                    yield f"{what} differ: {name!r} → {text!r}"
        for text in strings:
            if not set(COMMAND.findall(source)) <= set(COMMAND.findall(text)):
                yield f"commands lost: {name!r} → {text!r}"


def fill(path: Path, translations: dict[str, str | list[str]]) -> int:
    """Set the given translations in the catalog at ``path``; returns how many were set."""
    with locked():
        catalog = load(path)
        done = 0
        for message in catalog:
            if message.id and singular(message.id) in translations:
                text = translations[singular(message.id)]
                message.string = tuple(text) if isinstance(message.id, tuple) else text
                message.flags.discard("fuzzy")
                done += 1
        save(catalog, path)
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fill_cmd = commands.add_parser("fill")
    fill_cmd.add_argument("po", type=Path)
    fill_cmd.add_argument("json", type=Path)
    check_cmd = commands.add_parser("check")
    check_cmd.add_argument("po", type=Path)
    args = parser.parse_args()
    if args.command == "fill":
        count = fill(args.po, json.loads(args.json.read_text(encoding="utf-8")))
        print(f"{count} translations set in {args.po}")
        return 0
    found = list(problems(load(args.po)))
    print("\n".join(found) or "ok")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
