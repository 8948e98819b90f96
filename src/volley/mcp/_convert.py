"""From MCP to volley: a server's tool listing becomes tools, its hints become scheduling.

The spec's defaults apply where a hint is absent (`readOnlyHint` false, `idempotentHint` false):
a tool that says nothing about itself is taken to write, which serializes it with its server's
other calls. That is the safe reading; a wrong hint is fixed per tool with `tools={...}`.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from typing import Any

import mcp.types as mt

from .._parts import Audio, Image, Output, Part, ToolError
from .._tool import ToolOptions

__all__ = ["effects_of", "result_value", "scope_key", "unknown_overrides"]

logger = logging.getLogger("volley.mcp")

_KEY_OPTIONS = ("effects", "reads", "writes")


def scope_key(server: str) -> str:
    """The resource key every tool of one server holds: shared to read, alone to write."""
    return f"mcp:{server}"


def effects_of(
    tool: mt.Tool,
    scope: str,
    *,
    trust_annotations: bool,
    retries: int,
    override: ToolOptions | None,
) -> ToolOptions:
    """How volley schedules one MCP tool: from its hints, then the user's corrections.

    A read-only tool holds the server's key shared (reads overlap) and may be retried; any
    other tool holds it alone, so it runs after the server's earlier calls and before its later
    ones, while other servers and local tools go on. `idempotentHint` makes a write retryable.
    A correction that names any of `effects`, `reads`, `writes` replaces all three.
    """
    hints = tool.annotations if trust_annotations else None
    read_only = hints is not None and hints.read_only_hint is True
    idempotent = read_only or (hints is not None and hints.idempotent_hint is True)
    options: ToolOptions = (
        {"reads": [scope], "idempotent": True} if read_only else {"writes": [scope]}
    )
    if idempotent:
        options["idempotent"] = True
        if retries:
            options["retries"] = retries
    if override:
        if any(key in override for key in _KEY_OPTIONS):
            for key in _KEY_OPTIONS:
                options.pop(key, None)  # type: ignore[misc]
        options.update(override)
    return options


def result_value(result: mt.CallToolResult, server: str) -> Any:
    """What a tool of `server` answered, as a tool body returns it.

    Text blocks are joined for the model; images and audio stay media; `structured_content` is
    the value code sees. An `is_error` result raises `ToolError` with the server's own words.
    """
    parts = [_part(block) for block in result.content]
    if result.is_error:
        said = "\n".join(part for part in parts if isinstance(part, str)).strip()
        raise ToolError(said or f"the MCP server {server!r} reported an error without a message")
    structured = result.structured_content
    if not parts and structured is not None:
        return structured  # the model reads it as JSON
    if all(isinstance(part, str) for part in parts):
        text = "\n".join(parts)  # type: ignore[arg-type]
        return text if structured is None else Output((text,), structured)
    return Output(tuple(parts), structured)


def _part(block: Any) -> Part:
    if isinstance(block, mt.TextContent):
        return block.text
    if isinstance(block, mt.ImageContent):
        return _media(Image, block.data, block.mime_type, "image")
    if isinstance(block, mt.AudioContent):
        return _media(Audio, block.data, block.mime_type, "audio")
    if isinstance(block, mt.ResourceLink):
        title = block.title or block.name
        return f"[resource link: {title} <{block.uri}>]"
    if isinstance(block, mt.EmbeddedResource):
        return _resource(block.resource)
    kind = getattr(block, "type", type(block).__name__)
    return f"[a {kind} block, which volley cannot show]"


def _resource(resource: mt.TextResourceContents | mt.BlobResourceContents) -> Part:
    if isinstance(resource, mt.TextResourceContents):
        return f"[resource {resource.uri}]\n{resource.text}"
    mime = resource.mime_type or "application/octet-stream"
    if mime.startswith("image/"):
        return _media(Image, resource.blob, mime, "image")
    if mime.startswith("audio/"):
        return _media(Audio, resource.blob, mime, "audio")
    size = len(resource.blob) * 3 // 4
    return f"[resource {resource.uri}: {mime}, about {size:,} bytes, not shown]"


def _media(kind: type[Image] | type[Audio], data: str, mime: str, word: str) -> Part:
    try:
        return kind(base64.b64decode(data, validate=True), mime)
    except (binascii.Error, ValueError):
        return f"[{word} of type {mime}: its data is not valid base64, so it is not shown]"


def unknown_overrides(overrides: Mapping[str, ToolOptions], listed: set[str], server: str) -> None:
    """Log corrections for tools the server does not have: a typo must not pass unnoticed."""
    for name in sorted(set(overrides) - listed):
        logger.warning(
            "MCP server %r has no tool %r; the options given for it in tools= are not used",
            server,
            name,
        )
