"""volley: run an LLM's tool calls at the same time where that is safe, in order where it is not."""

from ._access import Access as Access
from ._agent import BATCHING_HINT as BATCHING_HINT
from ._agent import Agent as Agent
from ._backend import Backend as Backend
from ._backend import InProcessBackend as InProcessBackend
from ._batch import Batch as Batch
from ._call import ErrorKind as ErrorKind
from ._call import ToolCall as ToolCall
from ._call import ToolResult as ToolResult
from ._durable import idempotency_key as idempotency_key
from ._errors import ConfigurationError as ConfigurationError
from ._errors import IncompleteTurn as IncompleteTurn
from ._errors import MaxTurnsExceeded as MaxTurnsExceeded
from ._errors import ProviderError as ProviderError
from ._errors import RunError as RunError
from ._errors import StreamError as StreamError
from ._errors import VolleyError as VolleyError
from ._events import CallFinished as CallFinished
from ._events import CallProgress as CallProgress
from ._events import CallStarted as CallStarted
from ._events import RunEvent as RunEvent
from ._events import RunFailed as RunFailed
from ._events import RunFinished as RunFinished
from ._events import RunPaused as RunPaused
from ._events import RunStarted as RunStarted
from ._events import TextDelta as TextDelta
from ._events import TurnFinished as TurnFinished
from ._events import TurnRetried as TurnRetried
from ._executor import Executor as Executor
from ._messages import Message as Message
from ._messages import ModelTurn as ModelTurn
from ._messages import ToolReturns as ToolReturns
from ._messages import Usage as Usage
from ._messages import UserPrompt as UserPrompt
from ._parts import Audio as Audio
from ._parts import Image as Image
from ._parts import Output as Output
from ._parts import ToolError as ToolError
from ._progress import Progress as Progress
from ._progress import report_progress as report_progress
from ._result import RunResult as RunResult
from ._stats import BatchStats as BatchStats
from ._stats import CallTiming as CallTiming
from ._stats import RunStats as RunStats
from ._stats import TurnStats as TurnStats
from ._tool import UNSET as UNSET
from ._tool import Tool as Tool
from ._tool import ToolOptions as ToolOptions
from ._tool import tool as tool
from ._toolbox import Toolbox as Toolbox

__all__ = [
    "BATCHING_HINT",
    "UNSET",
    "Access",
    "Agent",
    "Audio",
    "Backend",
    "Batch",
    "BatchStats",
    "CallFinished",
    "CallProgress",
    "CallStarted",
    "CallTiming",
    "ConfigurationError",
    "ErrorKind",
    "Executor",
    "Image",
    "InProcessBackend",
    "IncompleteTurn",
    "MaxTurnsExceeded",
    "Message",
    "Output",
    "ModelTurn",
    "Progress",
    "ProviderError",
    "RunError",
    "RunEvent",
    "RunFailed",
    "RunFinished",
    "RunPaused",
    "RunStarted",
    "RunResult",
    "RunStats",
    "StreamError",
    "TextDelta",
    "Tool",
    "ToolCall",
    "ToolError",
    "ToolOptions",
    "ToolResult",
    "ToolReturns",
    "Toolbox",
    "TurnFinished",
    "TurnRetried",
    "TurnStats",
    "Usage",
    "VolleyError",
    "UserPrompt",
    "report_progress",
    "idempotency_key",
    "tool",
]

__version__ = "0.1.0"
