"""Provider adapters: each translates the neutral conversation to one wire format and back.

An adapter never runs tools and never decides order; the agent loop never sees a wire format.
"""

from ._base import ModelRequest as ModelRequest
from ._base import Provider as Provider
from ._base import ProviderError as ProviderError
from ._base import StreamingProvider as StreamingProvider
from ._names import ToolNames as ToolNames
from ._resolve import resolve as resolve
from .function import FunctionProvider as FunctionProvider

__all__ = [
    "FunctionProvider",
    "ModelRequest",
    "Provider",
    "ProviderError",
    "StreamingProvider",
    "ToolNames",
    "resolve",
]
