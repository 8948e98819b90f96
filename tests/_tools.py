"""Tools the provider tests share."""

from __future__ import annotations

from volley import Tool

play = Tool.from_schema(
    "spotify.play",
    "Play an artist.",
    {"type": "dict", "properties": {"artist": {"type": "string"}}, "required": ["artist"]},
    lambda artist: f"playing {artist}",
)
"""A BFCL-style tool whose dotted name providers reject: adapters must map it both ways."""
