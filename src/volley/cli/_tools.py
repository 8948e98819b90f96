"""Where `volley run` and `runs resume` get their tools: modules, files, MCP servers, Ray.

A file given twice (as a path and as a module) is one module, so its tools are not doubled; a
mistake in naming one (a missing module, an attribute that is not there) is one `error:` line.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import shlex
import sys
import types
from pathlib import Path
from typing import Any

from .._errors import ConfigurationError
from .._tool import Tool
from .._toolbox import Toolbox
from ._common import CommandError

__all__ = ["load_tools", "mcp_servers", "ray_backend"]


def load_tools(specs: list[str]) -> Toolbox:
    """The tools named on the command line: modules (`pkg.tools`) or files (`./tools.py`).

    `spec:name` takes one attribute of the module or file: a tool, a list of tools, a Toolbox.

    Raises:
        CommandError: a module or file cannot be found or loaded, has no such attribute, or
            holds no tool (the message says which, in one line).
    """
    here = str(Path.cwd())
    if here not in sys.path:  # a module next to the user, as `python -m` would find it
        sys.path.insert(0, here)
    tools: dict[int, Tool[..., Any]] = {}  # by identity: a tool named twice is loaded once
    files: dict[Path, types.ModuleType] = {}
    for spec in specs:
        source, attribute = _split(spec)
        module = _load_file(source, files) if _is_file(source) else _import(source)
        holder: Any = module
        if attribute:
            if not hasattr(module, attribute):
                there = ", ".join(t.name for t in _tools_of(module)) or "none"
                raise CommandError(
                    f"--tools {spec}: {source} has no attribute {attribute!r} (its tools: {there})"
                )
            holder = getattr(module, attribute)
        found = _tools_of(holder)
        if not found:
            raise CommandError(
                f"--tools {spec} holds no volley tool (decorate functions with @tool, or name a "
                "Tool, a list of them or a Toolbox)"
            )
        tools.update((id(t), t) for t in found)
    try:
        return Toolbox(tools.values())
    except ValueError as exc:  # two different tools of one name
        raise CommandError(f"--tools: {exc}") from exc


def ray_backend(address: str | None, toolbox: Toolbox) -> Any:
    """The `RayBackend` that `--ray ADDRESS` asks for (connected), or `None` without it.

    `local` starts a Ray for this process (a process already connected to Ray uses that
    connection). The modules of `--tools` files are sent to the workers by value, since the
    workers cannot import a file by its path; a module named by `--tools` must be importable
    there.

    Raises:
        CommandError: Ray cannot be reached at `address` (the message says why, in one line).
        MissingExtra: the ray extra is not installed (an ImportError naming what to install).
    """
    if address is None:
        return None
    from ..ray import RayBackend  # only now: the ray extra may be absent

    target = _send_files(toolbox, address)
    try:
        return RayBackend(target)
    except (ConnectionError, ValueError, RuntimeError) as exc:  # ConfigurationError is one
        raise CommandError(f"--ray {address}: {_why(exc)}") from exc


def _send_files(toolbox: Toolbox, address: str) -> str | None:
    """Have Ray send the `--tools` files' modules by value; the address to give `RayBackend`."""
    import ray
    from ray import cloudpickle

    for name in sorted({t.fn.__module__ for t in toolbox} & _FROM_FILES):
        module = sys.modules.get(name)
        if module is not None:
            cloudpickle.register_pickle_by_value(module)  # type: ignore[no-untyped-call]
    if address == "local" and ray.is_initialized():
        return None  # the connection this process has
    return address


_FROM_FILES: set[str] = set()
"""The names of the modules `load_tools` made of files (not importable elsewhere by name)."""


def mcp_servers(commands: list[str], urls: list[str]) -> list[Any]:
    """The MCP servers named by `--mcp` (a command line, split as a shell would) and `--mcp-http`.

    Nothing is started here: the agent opens them when the run begins.

    Raises:
        CommandError: a command that is empty or badly quoted, a URL that is not http(s).
        MissingExtra: the mcp extra is not installed (an ImportError naming what to install).
    """
    if not commands and not urls:
        return []
    from ..mcp import MCPServer  # only now: the mcp extra may be absent

    _quiet_sdk()
    servers: list[Any] = []
    for text in commands:
        try:
            argv = shlex.split(text)
        except ValueError as exc:  # "No closing quotation"
            raise CommandError(f"--mcp {text}: cannot split it as a shell would: {exc}") from exc
        if not argv:
            raise CommandError('--mcp needs a command, e.g. --mcp "uvx mcp-server-time"')
        servers.append(MCPServer.stdio(argv[0], argv[1:]))
    for url in urls:
        try:
            servers.append(MCPServer.http(url))
        except ConfigurationError as exc:
            raise CommandError(f"--mcp-http: {exc}") from exc
    return servers


def _quiet_sdk() -> None:
    """Keep the MCP SDK's own log records off the terminal.

    It logs a traceback for each line a server sends that is not JSON; what stops a run is
    reported in one line anyway, and a server's own stderr still passes through.
    """
    sdk = logging.getLogger("mcp")
    if not any(isinstance(handler, logging.NullHandler) for handler in sdk.handlers):
        sdk.addHandler(logging.NullHandler())


def _split(spec: str) -> tuple[str, str]:
    """`module:attribute` or `path/to/file.py:attribute`, the attribute optional."""
    if spec.endswith(".py"):
        return spec, ""
    source, colon, attribute = spec.rpartition(":")
    return (source, attribute) if colon else (spec, "")


def _is_file(source: str) -> bool:
    """Whether `--tools` names a file rather than a module: `tools.py`, `./tools`, `a/b.py`."""
    return source.endswith(".py") or "/" in source or "\\" in source


def _import(name: str) -> types.ModuleType:
    try:
        return importlib.import_module(name)
    except Exception as exc:  # not found, or the module itself failed: a SyntaxError, its imports
        raise CommandError(f"cannot import tools module {name!r}: {_why(exc)}") from exc


def _load_file(source: str, loaded: dict[Path, types.ModuleType]) -> types.ModuleType:
    """Run a .py file as a module (once), its folder on the import path as `python file.py`."""
    path = Path(source).expanduser()
    if not path.exists():
        raise CommandError(f"--tools {source}: no such file")
    if not path.is_file():
        raise CommandError(f"--tools {source}: not a file (name a .py file, or a module)")
    where = path.resolve()
    if where not in loaded:  # a file already imported as a module is that module
        loaded.update(_imported_files())
    if where in loaded:
        return loaded[where]
    name = path.stem if path.stem.isidentifier() else "tools"
    if name in sys.modules:  # never shadow a module already imported (`json.py`, `tools.py`)
        name = f"_volley_tools_{abs(hash(where))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CommandError(f"--tools {source}: cannot be loaded as Python (name a .py file)")
    module = importlib.util.module_from_spec(spec)
    folder = str(where.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    sys.modules[name] = module  # dataclasses and pydantic models look their module up here
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise CommandError(f"cannot load tools file {source}: {_why(exc)}") from exc
    loaded[where] = module
    _FROM_FILES.add(name)
    return module


def _imported_files() -> dict[Path, types.ModuleType]:
    files: dict[Path, types.ModuleType] = {}
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and file.endswith(".py"):
            files[Path(file).resolve()] = module
    return files


def _why(exc: BaseException) -> str:
    """An exception as one line: its type, unless its message says it, and its message."""
    if isinstance(exc, ModuleNotFoundError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _tools_of(holder: Any) -> list[Tool[..., Any]]:
    if isinstance(holder, Tool):
        return [holder]
    if isinstance(holder, Toolbox):
        return list(holder)
    if isinstance(holder, list | tuple):
        return [t for t in holder if isinstance(t, Tool)]
    listed = getattr(holder, "TOOLS", None)
    if listed is not None:
        return _tools_of(listed)
    if isinstance(holder, types.ModuleType):
        return [v for v in vars(holder).values() if isinstance(v, Tool)]
    return []
