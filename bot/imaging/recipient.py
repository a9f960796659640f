"""Per-recipient copies of stored previews: the visible watermark names who it was for."""

from __future__ import annotations

import io

from PIL import Image

from bot.imaging.preview import HD, make_preview
from bot.imaging.watermark import Watermark


def watermarked(data: bytes, mark: Watermark, max_side: int = HD) -> bytes:
    """Decode a stored (clean) preview, add ``mark``, encode it for Telegram again.

    Meant for a worker process (``pool.run(watermarked, data, mark)``): about one decode,
    one watermark and one encode of a 1280 px image.
    """
    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        image = opened.copy()
    return make_preview(image, max_side=max_side, watermark=mark).data
