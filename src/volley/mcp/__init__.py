"""MCP servers as volley tools: reads of a server overlap, its writes run in the model's order.

```python
from volley.mcp import MCPServer

git = MCPServer.stdio("some-mcp-server", args=["--flag"])
web = MCPServer.http("http://127.0.0.1:8000/mcp", headers={"Authorization": "..."})
agent = Agent("anthropic:claude-sonnet-4-6", tools=[git, web, my_local_tool])
```

Needs the `mcp` extra: `pip install 'volley-tools[mcp]'`.
"""

try:
    import mcp as _mcp  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on what is installed
    from .._errors import MissingExtra

    raise MissingExtra("mcp is not installed: pip install 'volley-tools[mcp]'") from exc

from ._server import MCPConnectionError as MCPConnectionError
from ._server import MCPServer as MCPServer
from ._server import ServerLost as ServerLost
from ._server import ServerOptions as ServerOptions

__all__ = ["MCPConnectionError", "MCPServer", "ServerLost", "ServerOptions"]
