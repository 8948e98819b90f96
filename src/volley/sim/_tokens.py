r"""Deterministic token counting, so that usage figures and latency never depend on a tokenizer.

A token is one match of the regular expression ``\w+|[^\w\s]+``: a run of word characters, or a
run of punctuation (as a BPE tokenizer merges the ``{"``, ``":`` and ``"},`` of JSON, or the
``://`` of a URL). Whitespace is free. Input tokens are counted over the canonical JSON
(sorted keys, compact separators) of what the request sends the model: ``{"system", "messages",
"tools"}``; output tokens over the generated text, each call's name and the JSON text of its
arguments. The figures are not a real tokenizer's, but they grow with the conversation the way
real ones do, and they are the same on every run.

Counting is fast enough for a megabyte of arguments: each character is mapped to its class (word,
space, other) and the classes are counted as bytes, rather than with one regular expression match
per token; a long text is streamed in at most `MAX_PIECES` fragments.
"""

from __future__ import annotations

import itertools
import json
import re

TOKEN = re.compile(r"\w+|[^\w\s]+")
MAX_PIECES = 256
"""At most this many stream fragments per text: 3 tokens each, more for a very long text."""

_WORD = {c for c in range(128) if re.fullmatch(r"\w", chr(c))}
_SPACE = {c for c in range(128) if re.fullmatch(r"\s", chr(c))}
_CLASS = bytes(
    ord("a") if c in _WORD else ord(" ") if c in _SPACE else ord(".") for c in range(256)
)
_STARTS = re.compile(rb"(?<!a)a|(?<!\.)\.")
"""Where a token starts, in a text's classes (see `_classes`)."""


def count_tokens(text: str) -> int:
    """Number of tokens in ``text`` (see the module docstring for the rule)."""
    return _count(_classes(text))


def _classes(text: str) -> bytes:
    """One byte per character: ``a`` for a word character, a space, or ``.`` for the others.

    The tokens of the classes are those of the text, at the same positions, and bytes can be
    counted without a regular expression match per token. A text has few distinct characters
    outside ASCII, so each of those is classified once.
    """
    if not text.isascii():
        found = {c for c in set(text) if not c.isascii()}
        table = {
            ord(c): "a" if re.fullmatch(r"\w", c) else " " if c.isspace() else "." for c in found
        }
        text = text.translate(table)
    return text.encode("ascii").translate(_CLASS)


def _count(classes: bytes) -> int:
    """Tokens in a text's classes: each run of ``a``, and each run of ``.``."""
    words = classes.count(b" a") + classes.count(b".a") + classes.startswith(b"a")
    marks = classes.count(b" .") + classes.count(b"a.") + classes.startswith(b".")
    return words + marks


def count_json_tokens(value: object) -> int:
    """Tokens in the canonical JSON of ``value``: key order and spacing never change the count."""
    return count_tokens(
        json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    )


def token_prefix(text: str, tokens: int) -> str:
    """The start of ``text`` holding its first ``tokens`` tokens (all of it if it has no more).

    The cut falls where the next token starts, as `split_tokens` cuts, so whitespace after the
    last kept token stays and ``count_tokens`` of the prefix is exactly ``tokens``.
    """
    for k, match in enumerate(TOKEN.finditer(text)):
        if k == tokens:
            return text[: match.start()]
    return text


def split_tokens(text: str, per_piece: int = 3) -> list[tuple[str, int]]:
    """Cut ``text`` into stream fragments of about ``per_piece`` tokens, at token boundaries.

    Cuts fall where a token starts, so the fragments' counts add up to ``count_tokens(text)``
    exactly, and concatenating the fragments gives ``text`` back. Leading whitespace stays with
    the first fragment; a text without tokens is one fragment of 0 tokens. A text of more than
    ``per_piece * MAX_PIECES`` tokens is cut into about `MAX_PIECES` fragments of similar length
    instead: a real server sends a few tokens per event, but hundreds of thousands of events
    would only slow the tests down, and the pacing follows the tokens whatever the fragments.

    Returns:
        ``(fragment, tokens)`` pairs.
    """
    if next(itertools.islice(TOKEN.finditer(text), per_piece * MAX_PIECES, None), None):
        return _split_long(text)
    starts = [m.start() for m in TOKEN.finditer(text)]
    if not starts:
        return [(text, 0)] if text else []
    cuts = [0, *starts[per_piece::per_piece], len(text)]
    pieces: list[tuple[str, int]] = []
    for i, (lo, hi) in enumerate(itertools.pairwise(cuts)):
        pieces.append((text[lo:hi], min(per_piece, len(starts) - i * per_piece)))
    return pieces


def _split_long(text: str) -> list[tuple[str, int]]:
    """About `MAX_PIECES` fragments, each cut moved forward to where the next token starts."""
    classes = _classes(text)
    cuts = [0]
    for k in range(1, MAX_PIECES):
        start = _STARTS.search(classes, max(cuts[-1] + 1, len(text) * k // MAX_PIECES))
        if start is None:
            break
        cuts.append(start.start())
    cuts.append(len(text))
    return [(text[lo:hi], _count(classes[lo:hi])) for lo, hi in itertools.pairwise(cuts)]
