"""Stream assemblers: a model's streamed message, turned into tool calls as each one completes.

Streaming dispatch starts a call the moment the model has finished writing it, while the model is
still writing the rest. This package is its pure first layer: one assembler per wire format, fed
the SDK's raw stream events one at a time, answering with neutral events (`TextDelta`,
`CallComplete`, `TurnEnd`). No I/O and no event loop: the caller owns the stream.

Example:
    ```python
    assembler = AnthropicAssembler(names)
    async for event in await client.messages.create(..., stream=True):
        for neutral in assembler.feed(event):
            if isinstance(neutral, CallComplete):
                batch.submit(neutral.call)
    turn = assembler.finish()
    ```
"""

from ._events import (
    CallComplete,
    CallDelta,
    IncompleteCall,
    NeutralEvent,
    StreamError,
    TextDelta,
    TurnEnd,
)
from ._stream import Assembler, ModelStream
from .anthropic import AnthropicAssembler
from .gemini import GeminiAssembler
from .openai_chat import OpenAIChatAssembler
from .openai_responses import OpenAIResponsesAssembler

__all__ = [
    "AnthropicAssembler",
    "Assembler",
    "CallComplete",
    "CallDelta",
    "GeminiAssembler",
    "IncompleteCall",
    "ModelStream",
    "NeutralEvent",
    "OpenAIChatAssembler",
    "OpenAIResponsesAssembler",
    "StreamError",
    "TextDelta",
    "TurnEnd",
]
