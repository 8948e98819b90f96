r"""Deterministic token counting, so that usage figures and latency never depend on a tokenizer.

A token is one match of the regular expression ``\w+|[^\w\s]``: a run of word characters, or
one punctuation character. Whitespace is free. Input tokens are counted over the canonical JSON
(sorted keys, compact separators) of what the request sends the model: ``{"system", "messages",
"tools"}``; output tokens over the generated text, each call's name and the JSON text of its
arguments. The figures are not a real tokenizer's, but they grow with the conversation the way
real ones do, and they are the same on every run.
"""

from __future__ import annotations

import itertools
import json
import re

TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """Number of tokens in ``text`` (see the module docstring for the rule)."""
    return sum(1 for _ in TOKEN.finditer(text))


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
    the first fragment; a text without tokens is one fragment of 0 tokens.

    Returns:
        ``(fragment, tokens)`` pairs.
    """
    starts = [m.start() for m in TOKEN.finditer(text)]
    if not starts:
        return [(text, 0)] if text else []
    cuts = [0, *starts[per_piece::per_piece], len(text)]
    pieces: list[tuple[str, int]] = []
    for i, (lo, hi) in enumerate(itertools.pairwise(cuts)):
        pieces.append((text[lo:hi], min(per_piece, len(starts) - i * per_piece)))
    return pieces
