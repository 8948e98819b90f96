"""A simulated LLM provider: a real loopback HTTP server speaking the providers' wire formats.

The official SDKs talk to it unchanged, so volley's demo runs offline and its provider adapters are
tested against the exact JSON and SSE event sequences the real APIs send, with scripted tool calls,
realistic (scalable) latency and deterministic token counts. Needs the ``sim`` extra.

Example:
    ```python
    scenario = parse_scenario('{"turns": [{"calls": [{"name": "ping"}]}, {"text": "{result[0]}"}]}')
    async with SimServer(scenario, time_scale=0) as sim:
        client = AsyncAnthropic(base_url=sim.base_url, api_key="x")
        ...
    print(len(sim.log), "round trips")
    ```

Replies are cut at the request's output cap the way each API cuts them, and
``sim.cut_streams(...)`` breaks the next streamed responses on purpose (see `SimServer`). A
scripted call's ``arguments_text`` goes out exactly as written, so clients can be fed what a
broken model writes (see `Scenario`); ``OpenAIResponses(reasoning=True)`` answers like a
reasoning model, and refuses a conversation that drops what such a model needs back. Images and
audio in tool results are checked as the APIs check them (valid base64, a type the API takes,
bytes that are what they claim), and each logged request keeps the results it carried, media
decoded (``sim.log[-1].results[0].media``), for a test to see what the model was shown.
"""

from ._app import RequestRecord
from ._faults import StreamCut
from ._scenario import (
    Condition,
    Latency,
    Scenario,
    ScenarioError,
    ScriptedCall,
    Turn,
    load_scenario,
    parse_scenario,
)
from ._script import CutCall, EmittedCall, Exchange, ReceivedResult, Reply
from ._server import SimServer
from ._wire import Rendering, SimRequest, SseEvent, WireError, WireFormat
from .anthropic import AnthropicMessages
from .gemini import Gemini
from .openai_chat import OpenAIChat
from .openai_responses import OpenAIResponses

__all__ = [
    "AnthropicMessages",
    "Condition",
    "CutCall",
    "EmittedCall",
    "Exchange",
    "Gemini",
    "Latency",
    "OpenAIChat",
    "OpenAIResponses",
    "ReceivedResult",
    "Rendering",
    "Reply",
    "RequestRecord",
    "Scenario",
    "ScenarioError",
    "ScriptedCall",
    "SimRequest",
    "SimServer",
    "SseEvent",
    "StreamCut",
    "Turn",
    "WireError",
    "WireFormat",
    "load_scenario",
    "parse_scenario",
]
