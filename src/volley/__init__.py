"""volley: run an LLM's tool calls at the same time where that is safe, in order where it is not."""

from ._access import Access as Access
from ._backend import Backend as Backend
from ._backend import InProcessBackend as InProcessBackend
from ._batch import Batch as Batch
from ._call import ErrorKind as ErrorKind
from ._call import ToolCall as ToolCall
from ._call import ToolResult as ToolResult
from ._executor import Executor as Executor
from ._stats import BatchStats as BatchStats
from ._tool import UNSET as UNSET
from ._tool import Tool as Tool
from ._tool import Toolbox as Toolbox
from ._tool import ToolOptions as ToolOptions
from ._tool import tool as tool

__all__ = [
    "UNSET",
    "Access",
    "Backend",
    "Batch",
    "BatchStats",
    "ErrorKind",
    "Executor",
    "InProcessBackend",
    "Tool",
    "ToolCall",
    "ToolOptions",
    "ToolResult",
    "Toolbox",
    "tool",
]

__version__ = "0.1.0"
