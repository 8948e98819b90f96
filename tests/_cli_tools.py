"""Tools for the command line tests: a module `volley run --tools` can load."""

from volley import tool


@tool(effects="read")
async def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@tool(effects="write", writes=lambda a: [f"note:{a['name']}"])
def save_note(name: str, text: str) -> str:
    """Save a note."""
    return f"saved {name}: {text}"


NOT_A_TOOL = 42
