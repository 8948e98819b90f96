"""The request's output-token cap, applied the way a real model runs into it.

A model writes its reply in one order: the text, then each call's name and JSON arguments. When
the reply would take more output tokens than the request allows, the model stops where the cap
falls in that order: the text may end mid-way, a call whose name does not fit is never started,
and a call whose arguments do not fit stops mid-JSON (a `CutCall`; a verbatim ``arguments_text``
is cut the same way, wherever its tokens fall). A reply of exactly the cap is not cut. Every
wire format then renders the cut reply its own way (``max_tokens``, ``length``, ``incomplete``,
``MAX_TOKENS``); formats that only ever send a call whole (Gemini) drop a cut call, so the tokens
counted are always the ones that go out.
"""

from __future__ import annotations

from dataclasses import replace

from ._script import CutCall, Reply
from ._tokens import count_tokens, token_prefix

__all__ = ["truncate"]


def truncate(reply: Reply, cap: int | None, *, partial_calls: bool = True) -> Reply:
    """``reply`` as the model writes it under an output cap of ``cap`` tokens.

    Args:
        reply: The whole reply the script asks for.
        cap: The request's output-token cap; ``None`` for none.
        partial_calls: Keep the call the cap interrupts as a `CutCall` (Anthropic, OpenAI);
            ``False`` leaves it out (Gemini sends each call whole or not at all).

    Returns:
        ``reply`` itself when it fits, else the cut reply with ``truncated`` set.
    """
    text_tokens = count_tokens(reply.text)
    needed = text_tokens + sum(c.tokens for c in reply.calls)
    if cap is None or needed <= cap:
        return reply
    if text_tokens >= cap:
        return replace(reply, text=token_prefix(reply.text, cap), calls=(), truncated=True)
    left = cap - text_tokens
    for k, call in enumerate(reply.calls):
        if call.tokens <= left:
            left -= call.tokens
            continue
        name = count_tokens(call.name)
        cut = None
        if partial_calls and name <= left:  # the name goes out whole, or the call never starts
            cut = CutCall(call.id, call.name, token_prefix(call.arguments_json, left - name))
        return replace(reply, calls=reply.calls[:k], cut_call=cut, truncated=True)
    raise AssertionError("unreachable: the reply needs more tokens than the cap")
