"""Case codes: short, unambiguous public handles such as ``K7F-3QX``."""

from __future__ import annotations

import re
import secrets

ALPHABET = "23456789ACDEFGHJKMNPQRTUVWXY"  # no 0/O, 1/I/L, B/8, S/5, Z/2
PATTERN = re.compile(rf"^[{ALPHABET}]{{3}}-[{ALPHABET}]{{3}}$")


def new_code() -> str:
    """A random code (28⁶ ≈ 480 million); callers retry on the rare collision."""
    chars = "".join(secrets.choice(ALPHABET) for _ in range(6))
    return f"{chars[:3]}-{chars[3:]}"


def normalise(text: str) -> str | None:
    """A typed code (any case, with or without the dash or spaces) or None."""
    cleaned = re.sub(r"[\s_-]", "", text.strip().upper())
    if len(cleaned) != 6:
        return None
    code = f"{cleaned[:3]}-{cleaned[3:]}"
    return code if PATTERN.match(code) else None
