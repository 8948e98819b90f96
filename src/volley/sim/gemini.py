"""The Google Gemini wire format (``:generateContent`` and ``:streamGenerateContent?alt=sse``).

Served at ``/{version}/models/{model}:{method}`` for versions ``v1`` (the google-genai SDK's
default) and ``v1beta``. Field names are accepted in camelCase and snake_case, as the SDK mixes
them. Validation follows the real API where it matters to tool calling: ``contents`` is a
non-empty list of ``user``/``model`` contents with non-empty ``parts``; a ``model`` content with N
``functionCall`` parts must be followed by a ``user`` content with exactly N ``functionResponse``
parts, names in call order (and ids, when the call had one), and a ``functionResponse`` must
answer such a turn. A function response may hold images, and the turn of responses other parts
after them, audio say (see `response_parts`, `attached_parts`). Function declarations need a
unique name matching ``^[a-zA-Z_][a-zA-Z0-9_:-]{0,63}$`` (no dots: the real API's advertised
pattern allows them, but they are refused in practice) and at most one of ``parameters`` /
``parametersJsonSchema``.

Like Gemini 3, the first ``functionCall`` part of a turn carries a ``thoughtSignature``, which must
come back unchanged: the signature is a digest of the turn's calls, so the simulator checks it
without keeping state, and refuses a missing or altered one (``signatures=False`` turns both off,
like older models). Calls carry no ``id`` unless ``ids=True``, as Gemini often sends them; results
are then paired by order. Gemini has no switch for parallel calls. A ``functionResponse`` counts as
an error when its ``response`` has an ``"error"`` key, as the google-genai SDK writes failures.

A call's verbatim ``arguments_text`` is the raw value of its ``args``, plain and streamed (a
streamed chunk with a line break in it takes several ``data:`` lines); it is signed by its name
alone, since a client cannot echo arguments it could not parse (see `signature`).

``generationConfig.maxOutputTokens`` caps the output (see `truncate`): a reply cut by it has
``finishReason: "MAX_TOKENS"``. Gemini sends each ``functionCall`` part whole, so a call the cap
stops mid-way is left out (and not counted); text may be cut anywhere. A cut reply with nothing
left to say has a content without ``parts``, as the real API sends it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NoReturn

from ._gemini_media import attached_parts, response_parts
from ._media import Tally
from ._script import EmittedCall, Exchange, ReceivedResult, Reply
from ._tokens import count_json_tokens, split_tokens
from ._wire import Rendering, SimRequest, SseEvent, WireError, sse

TOOL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_:-]{0,63}$")
VERSIONS = ("v1", "v1beta")
METHODS = {"generateContent": False, "streamGenerateContent": True}


class Gemini:
    """Serve ``generateContent`` so that the ``google-genai`` SDK talks to the simulator unchanged.

    Args:
        ids: Give each function call an ``id`` (and check that results echo it).
        signatures: Sign each calling turn and require the signature back, as Gemini 3 does.
    """

    name = "gemini"
    path = "/{version}/models/{target}"
    call_id_prefix = ""
    message_id_prefix = ""
    partial_calls = False

    def __init__(self, *, ids: bool = False, signatures: bool = True) -> None:
        self.ids = ids
        self.signatures = signatures

    def parse(self, body: object, route: Mapping[str, str] | None = None) -> SimRequest:
        """Validate a request (see the module docstring); ``route`` names the model and method.

        Raises:
            WireError: the request is invalid.
        """
        model, stream = _route(route or {})
        if not isinstance(body, dict):
            raise WireError("Invalid JSON payload received. Expected an object.")
        tools = body.get("tools", [])
        _check_tools(tools)
        contents = body.get("contents")
        tally = Tally()
        history = self._check_contents(contents, tally)
        system = _get(body, "systemInstruction")
        return SimRequest(
            model=model,
            stream=stream,
            history=history,
            max_calls=None,
            input_tokens=tally.adjust(
                count_json_tokens({"system": system, "messages": contents, "tools": tools})
            ),
            body=body,
            max_output_tokens=_token_cap(_get(body, "generationConfig")),
        )

    def error_body(self, error: WireError) -> dict[str, Any]:
        """Google's error shape."""
        return {"error": {"code": 400, "message": error.message, "status": "INVALID_ARGUMENT"}}

    def response(self, request: SimRequest, reply: Reply, info: Rendering) -> dict[str, Any]:
        """One candidate whose content holds the text part, then one part per call."""
        parts: list[dict[str, Any]] = [{"text": reply.text}] if reply.text else []
        parts.extend(self._call_parts(reply.calls))
        return _chunk(request, info, parts, info.output_tokens, finish=_finish(reply))

    def events(self, request: SimRequest, reply: Reply, info: Rendering) -> Iterator[SseEvent]:
        """The text in pieces, then each call whole in its own chunk; the last one finishes."""
        pieces = [([{"text": text}], tokens) for text, tokens in split_tokens(reply.text)]
        calls = self._call_parts(reply.calls)
        pieces += [([part], c.tokens) for part, c in zip(calls, reply.calls, strict=True)]
        if not pieces:  # the output cap left nothing to say
            pieces.append(([], 0))
        sent = 0
        for k, (parts, tokens) in enumerate(pieces):
            sent += tokens
            finish = _finish(reply) if k == len(pieces) - 1 else None
            yield sse(_chunk(request, info, parts, sent, finish=finish), tokens=tokens)

    def _call_parts(self, calls: tuple[EmittedCall, ...]) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        for call in calls:
            function: dict[str, Any] = {"name": call.name, "args": call.arguments_value}
            if self.ids:
                function["id"] = call.id
            parts.append({"functionCall": function})
        if parts and self.signatures:
            signed = [(c.name, c.arguments) for c in calls]
            verbatim = [c.verbatim is not None for c in calls]
            parts[0]["thoughtSignature"] = signature(signed, verbatim)
        return parts

    def _check_contents(self, contents: object, tally: Tally) -> tuple[Exchange, ...]:
        if not isinstance(contents, list) or not contents:
            raise WireError("* GenerateContentRequest.contents: contents is not specified")
        history: list[Exchange] = []
        open_calls: list[tuple[str, str | None]] = []  # (name, id) of the last model content
        open_at = -1
        for i, content in enumerate(contents):
            role, parts = _content(content, i)
            calls = [_get(p, "functionCall") for p in parts if _get(p, "functionCall") is not None]
            answers = [
                _get(p, "functionResponse")
                for p in parts
                if _get(p, "functionResponse") is not None
            ]
            if open_calls:
                if role != "user" or len(answers) != len(open_calls):
                    _count_mismatch(open_at)
                results = tuple(
                    _answer(a, call, i, k, tally)
                    for k, (a, call) in enumerate(zip(answers, open_calls, strict=True))
                )
                attached = attached_parts(parts, i, tally)
                history[-1] = Exchange(len(open_calls), results, attached)
            elif answers:
                raise WireError(
                    "Please ensure that function response turn comes immediately after a "
                    "function call turn."
                )
            open_calls = []
            if role == "model":
                open_calls, open_at = self._model_calls(parts, calls, i), i
                history.append(Exchange(calls=len(open_calls)))
        if open_calls:
            _count_mismatch(open_at)
        return tuple(history)

    def _model_calls(
        self, parts: list[dict[str, Any]], calls: list[Any], i: int
    ) -> list[tuple[str, str | None]]:
        found: list[tuple[str, str | None]] = []
        for k, call in enumerate(calls):
            name, call_id = call.get("name") if isinstance(call, dict) else None, None
            if not isinstance(name, str) or not isinstance(call.get("args", {}), dict):
                raise WireError(
                    f"* GenerateContentRequest.contents[{i}].parts[{k}].function_call.name: "
                    "name and args are required"
                )
            call_id = call.get("id")
            found.append((name, call_id if isinstance(call_id, str) and call_id else None))
        if not calls or not self.signatures:
            return found
        first = next(p for p in parts if _get(p, "functionCall") is not None)
        sent = _get(first, "thoughtSignature")
        if sent is None:
            raise WireError(
                "Function call is missing a thought_signature in functionCall parts. This is "
                "required for tools to work correctly. Additional data, function call "
                f"`{found[0][0]}` , position {i + 1}. Please refer to "
                "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
            )
        got = _signature_bytes(sent)
        verbatim = [bool(flag) for flag in (got or b"")[DIGEST:]] or [False] * len(calls)
        if len(verbatim) == len(calls):
            expected = signature([(c["name"], c.get("args", {})) for c in calls], verbatim)
            if got == _signature_bytes(expected):
                return found
        raise WireError(f"Corrupted thought signature in contents[{i}].")


DIGEST = hashlib.sha256().digest_size


def signature(calls: list[tuple[str, Any]], verbatim: Sequence[bool] = ()) -> str:
    """The ``thoughtSignature`` of a turn with these calls: base64 of a digest of them.

    A call whose arguments went out verbatim (``arguments_text``) is signed by its name alone:
    a client may echo such arguments in any form (or as ``{}``), and the check must not depend
    on them. The signature then ends with one byte per call saying which ones those are, so
    that it can still be checked without keeping state.
    """
    flags = list(verbatim) or [False] * len(calls)
    signed = [(name, None if raw else args) for (name, args), raw in zip(calls, flags, strict=True)]
    canonical = json.dumps(signed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(f"sim:{canonical}".encode()).digest()
    if any(flags):
        digest += bytes(flags)
    return base64.b64encode(digest).decode()


def _signature_bytes(value: object) -> bytes | None:
    """The bytes a signature encodes: the SDK re-encodes it URL-safe, which is the same value."""
    if not isinstance(value, str):
        return None
    text = value.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except ValueError:
        return None


def _finish(reply: Reply) -> str:
    return "MAX_TOKENS" if reply.truncated else "STOP"


def _token_cap(config: object) -> int | None:
    """``generationConfig.maxOutputTokens`` (either spelling), or None."""
    if config is None:
        return None
    if not isinstance(config, dict):
        raise WireError("* GenerateContentRequest.generation_config: expected an object")
    cap = _get(config, "maxOutputTokens")
    if cap is None:
        return None
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
        raise WireError(
            "* GenerateContentRequest.generation_config.max_output_tokens: must be a positive "
            f"integer, got {cap!r}"
        )
    return cap


def _chunk(
    request: SimRequest,
    info: Rendering,
    parts: list[dict[str, Any]],
    sent: int,
    *,
    finish: str | None,
) -> dict[str, Any]:
    content: dict[str, Any] = {"role": "model", "parts": parts} if parts else {"role": "model"}
    candidate: dict[str, Any] = {"content": content, "index": 0}
    if finish is not None:
        candidate["finishReason"] = finish
    usage = {
        "promptTokenCount": info.input_tokens,
        "candidatesTokenCount": sent,
        "totalTokenCount": info.input_tokens + sent,
    }
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": request.model,
        "responseId": info.message_id,
    }


def _get(value: object, camel: str) -> Any:
    """``value[camel]``, or its snake_case spelling, or None."""
    if not isinstance(value, dict):
        return None
    if camel in value:
        return value[camel]
    return value.get(re.sub(r"[A-Z]", lambda m: "_" + m.group().lower(), camel))


def _route(route: Mapping[str, str]) -> tuple[str, bool]:
    version, target = route.get("version", ""), route.get("target", "")
    model, _, method = target.rpartition(":")
    if version not in VERSIONS or method not in METHODS or not model:
        raise WireError(f"Method not found: /{version}/models/{target}.")
    return model, METHODS[method]


def _check_tools(tools: object) -> None:
    if not isinstance(tools, list):
        raise WireError("* GenerateContentRequest.tools: expected a list")
    names: set[str] = set()
    for t, tool in enumerate(tools):
        declarations = _get(tool, "functionDeclarations")
        if declarations is None:
            continue  # google_search, code_execution, ...: the real API knows those
        if not isinstance(declarations, list):
            raise WireError(f"* GenerateContentRequest.tools[{t}].function_declarations: list")
        for d, declaration in enumerate(declarations):
            where = f"* GenerateContentRequest.tools[{t}].function_declarations[{d}]"
            name = _get(declaration, "name")
            if not isinstance(name, str) or not TOOL_NAME.match(name):
                raise WireError(
                    f"{where}.name: Invalid function name. Must start with a letter or an "
                    "underscore. Must be a-z, A-Z, 0-9, or contain underscores, colons and "
                    "dashes, with a maximum length of 64."
                )
            if name in names:
                raise WireError(f"{where}.name: Duplicate function declaration name: {name}")
            names.add(name)
            schemas = [
                _get(declaration, key)
                for key in ("parameters", "parametersJsonSchema")
                if _get(declaration, key) is not None
            ]
            if len(schemas) > 1:
                raise WireError(
                    f"{where}: parameters and parameters_json_schema cannot both be set"
                )
            if schemas and not isinstance(schemas[0], dict):
                raise WireError(f"{where}.parameters: expected an object schema")


def _content(content: object, i: int) -> tuple[str, list[dict[str, Any]]]:
    if not isinstance(content, dict):
        raise WireError(f"* GenerateContentRequest.contents[{i}]: expected an object")
    role = content.get("role") or "user"
    if role not in ("user", "model"):
        raise WireError(f"Please use a valid role: user, model. (contents[{i}].role: {role!r})")
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts or not all(isinstance(p, dict) for p in parts):
        raise WireError(
            f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
        )
    return role, parts


def _answer(
    answer: Any, call: tuple[str, str | None], i: int, k: int, tally: Tally
) -> ReceivedResult:
    name, call_id = call
    where = f"* GenerateContentRequest.contents[{i}].parts[{k}].function_response"
    if not isinstance(answer, dict) or answer.get("name") != name:
        got = answer.get("name") if isinstance(answer, dict) else None
        raise WireError(
            f"{where}.name: function response name {got!r} does not match function call name "
            f"{name!r}: responses must follow the order of the calls."
        )
    if call_id is not None and answer.get("id") != call_id:
        raise WireError(
            f"{where}.id: function response id {answer.get('id')!r} does not match function "
            f"call id {call_id!r}."
        )
    response = answer.get("response", {})
    if not isinstance(response, dict):
        raise WireError(f"{where}.response: expected an object")
    value = response.get("output", response.get("error", response))
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    media = response_parts(answer, f"contents[{i}].parts[{k}].function_response", tally)
    parts = (text, *media) if media else ()
    return ReceivedResult(call_id or f"{name}#{k}", text, "error" in response, name, parts)


def _count_mismatch(at: int) -> NoReturn:
    raise WireError(
        "Please ensure that the number of function response parts is equal to the number of "
        f"function call parts of the function call turn (contents[{at}])."
    )
