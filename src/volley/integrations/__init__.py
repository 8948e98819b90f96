"""volley inside other frameworks: their tool calls, scheduled by volley's rules.

Each framework has its own module (`langgraph`, `langchain`, `pydantic_ai`), imported only when
used; `_gate` is what they share: one model message's calls, each held until the earlier calls
it conflicts with are done.
"""
