"""The de-identified study as a zip, decrypted and written on the fly.

Each stored object is read from the encrypted store chunk by chunk (decryption in a
thread), compressed into the zip (deflate level 1, also in a thread) and sent as soon as
the chunk is written: memory stays at about one chunk plus the compressor's window
whatever the study's size, and the first bytes leave before the last object is read.
The zip is written for a non-seekable stream (sizes in data descriptors), which every
unzip tool reads through the central directory.
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import Sequence

from aiohttp import web

from bot.security.blobstore import BlobStore
from bot.web.server import BASE_HEADERS

COMPRESS_LEVEL = 1


class _Sink(io.RawIOBase):
    """A write-only, non-seekable file that hands out what was written since last asked."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        out, self._parts = b"".join(self._parts), []
        return out


async def stream_zip(
    request: web.Request,
    blobs: BlobStore,
    entries: Sequence[tuple[str, str]],
    filename: str,
) -> web.StreamResponse:
    """Send ``entries`` (name in the zip, blob id) as ``filename``; chunked, bounded memory."""
    # Prepared here, so the security middleware cannot add its headers afterwards.
    response = web.StreamResponse(
        headers={
            **BASE_HEADERS,
            "Content-Type": "application/zip",
            "Content-Disposition": f'attachment; filename="{filename}"',
        }
    )
    response.enable_chunked_encoding()
    await response.prepare(request)
    sink = _Sink()
    archive = zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL)
    for name, blob_id in entries:
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        writer = archive.open(info, "w", force_zip64=True)
        try:
            async for chunk in blobs.aopen(blob_id):
                await asyncio.to_thread(writer.write, chunk)
                if data := sink.take():
                    await response.write(data)
        finally:
            await asyncio.to_thread(writer.close)
        if data := sink.take():
            await response.write(data)
    await asyncio.to_thread(archive.close)
    await response.write(sink.take())
    await response.write_eof()
    return response
