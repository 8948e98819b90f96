"""Real image bytes for the media tests: a valid PNG, and other formats' openings."""

from __future__ import annotations

import struct
import zlib


def png(width: int = 1, height: int = 1) -> bytes:
    """A valid RGB PNG of one red colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PNG = png()
JPEG_START = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
GIF_START = b"GIF89a\x01\x00\x01\x00"
OPENINGS = {
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": JPEG_START,
    "image/gif": GIF_START,
    "image/webp": b"RIFF\x00\x00\x00\x00WEBPVP8 ",
}
"""What each image type's bytes start with (enough for the APIs' and the simulator's checks)."""
