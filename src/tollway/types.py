"""OpenAI-shaped response values for SDK users: attribute access over the exact OpenAI JSON.

Every object wraps the dict that the adapters produced (the same dict the gateway serialises), so
``resp.choices[0].message.content`` and ``resp["choices"][0]["message"]["content"]`` read the same data and
``to_dict()`` returns exactly the OpenAI JSON. Known fields are typed properties (``None`` when absent);
provider extras (``reasoning_content``, ``thinking_blocks``, ...) are reached the same way. Nothing here validates
or copies on construction: wrapping is O(1) and sub-objects are wrapped when read.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from tollway.usage import TokenUsage

if TYPE_CHECKING:
    from tollway.pricing.cost import Cost

__all__ = [
    "ChatCompletion",
    "ChatCompletionChunk",
    "Choice",
    "ChunkChoice",
    "Delta",
    "Embedding",
    "EmbeddingResponse",
    "FunctionCall",
    "Message",
    "OpenAIObject",
    "RerankResponse",
    "RerankResult",
    "ResponseMeta",
    "ToolCall",
    "Usage",
]

_T = TypeVar("_T", bound="OpenAIObject")


def _wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return OpenAIObject(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


class OpenAIObject:
    """A read view over one JSON object; dict-style and attribute-style access both work."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return _wrap(self._data[name])
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}") from None

    def __getitem__(self, key: str) -> Any:
        return _wrap(self._data[key])

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, OpenAIObject):
            return self._data == other._data
        if isinstance(other, dict):
            return self._data == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable underlying dict

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._data!r})"

    def get(self, key: str, default: Any = None) -> Any:
        """Like ``dict.get``, wrapping objects and lists."""
        return _wrap(self._data.get(key, default))

    def keys(self) -> list[str]:
        """The field names present."""
        return list(self._data)

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the exact OpenAI JSON object."""
        return copy.deepcopy(self._data)

    def to_json(self) -> str:
        """The OpenAI JSON text."""
        return orjson.dumps(self._data).decode()

    def _sub(self, key: str, cls: type[_T]) -> _T | None:
        value = self._data.get(key)
        return cls(value) if isinstance(value, dict) else None

    def _list(self, key: str, cls: type[_T]) -> list[_T] | None:
        value = self._data.get(key)
        if value is None:
            return None
        return [cls(v) for v in value]


class FunctionCall(OpenAIObject):
    """``{"name", "arguments"}``; ``arguments`` is a JSON string (it may be partial in a stream delta)."""

    __slots__ = ()

    @property
    def name(self) -> str | None:
        """The function's name."""
        return self._data.get("name")

    @property
    def arguments(self) -> str | None:
        """The arguments as JSON text."""
        return self._data.get("arguments")


class ToolCall(OpenAIObject):
    """One tool call (or, in a stream delta, a fragment of one identified by ``index``)."""

    __slots__ = ()

    @property
    def id(self) -> str | None:
        """The call id; echo it as ``tool_call_id`` in the tool message."""
        return self._data.get("id")

    @property
    def index(self) -> int | None:
        """Position of the call (stream deltas only)."""
        return self._data.get("index")

    @property
    def type(self) -> str | None:
        """Always ``"function"`` for function tools."""
        return self._data.get("type")

    @property
    def function(self) -> FunctionCall | None:
        """The called function and its arguments."""
        return self._sub("function", FunctionCall)


class Message(OpenAIObject):
    """The assistant's message (or a stream delta, which has the same fields, all optional)."""

    __slots__ = ()

    @property
    def role(self) -> str | None:
        """``"assistant"``."""
        return self._data.get("role")

    @property
    def content(self) -> str | None:
        """The text answer, or None when the model only called tools."""
        return self._data.get("content")

    @property
    def tool_calls(self) -> list[ToolCall] | None:
        """Tool calls, when the model made any."""
        return self._list("tool_calls", ToolCall)

    @property
    def refusal(self) -> str | None:
        """A safety refusal, when the model refused."""
        return self._data.get("refusal")

    @property
    def function_call(self) -> FunctionCall | None:
        """Legacy ``function_call`` (only when the request used legacy ``functions``)."""
        return self._sub("function_call", FunctionCall)

    @property
    def reasoning_content(self) -> str | None:
        """The model's visible reasoning (thinking) text, when the provider returns it."""
        return self._data.get("reasoning_content")

    @property
    def thinking_blocks(self) -> list[dict[str, Any]] | None:
        """Provider reasoning blocks with their signatures; send them back unchanged in the next turn."""
        return self._data.get("thinking_blocks")


Delta = Message


class _ChoiceBase(OpenAIObject):
    """What a choice of a whole completion and a choice of a stream chunk share."""

    __slots__ = ()

    @property
    def index(self) -> int:
        """The choice's position (0 unless ``n`` > 1)."""
        return int(self._data.get("index", 0))

    @property
    def finish_reason(self) -> str | None:
        """``stop``, ``length``, ``tool_calls``, ``content_filter`` or ``function_call`` (in a stream: set on the
        choice's last chunk only)."""
        return self._data.get("finish_reason")

    @property
    def logprobs(self) -> OpenAIObject | None:
        """Token log probabilities, when requested."""
        return self._sub("logprobs", OpenAIObject)


class Choice(_ChoiceBase):
    """One completion choice."""

    __slots__ = ()

    @property
    def message(self) -> Message:
        """The assistant message."""
        return Message(self._data.get("message") or {})


class ChunkChoice(_ChoiceBase):
    """One choice of a stream chunk."""

    __slots__ = ()

    @property
    def delta(self) -> Delta:
        """What this chunk adds to the message."""
        return Delta(self._data.get("delta") or {})


class Usage(OpenAIObject):
    """OpenAI usage: ``prompt_tokens`` includes cached and cache-write tokens, ``completion_tokens`` reasoning."""

    __slots__ = ()

    @property
    def prompt_tokens(self) -> int:
        """All input tokens."""
        return int(self._data.get("prompt_tokens") or 0)

    @property
    def completion_tokens(self) -> int:
        """All output tokens, reasoning included."""
        return int(self._data.get("completion_tokens") or 0)

    @property
    def total_tokens(self) -> int:
        """prompt + completion."""
        return int(self._data.get("total_tokens") or 0)

    @property
    def prompt_tokens_details(self) -> OpenAIObject | None:
        """``cached_tokens``, ``cache_write_tokens``, ``audio_tokens``."""
        return self._sub("prompt_tokens_details", OpenAIObject)

    @property
    def completion_tokens_details(self) -> OpenAIObject | None:
        """``reasoning_tokens``, ``audio_tokens``, prediction tokens."""
        return self._sub("completion_tokens_details", OpenAIObject)


@dataclass(slots=True)
class ResponseMeta:
    """What tollway knows about a call beyond the OpenAI JSON (never part of ``to_dict()``).

    ``usage`` is the canonical usage (None: the provider reported none and nothing was estimated); ``cost`` its
    exact price with its source (None: unpriced; ``cost.estimated`` when the usage was estimated).
    """

    provider: str
    model: str
    mock: bool = False
    attempts: int = 1
    usage: TokenUsage | None = None
    headers: dict[str, str] = field(default_factory=dict)
    cost: Cost | None = None
    # Set by a Router: the model group asked for, the deployment that answered, every error on the way (retries and
    # fallbacks that were invisible to the caller), and whether the answer came from the response cache.
    model_group: str | None = None
    deployment_id: str | None = None
    attempt_errors: list[Exception] = field(default_factory=list)
    cache_hit: bool = False
    # Seconds spent waiting on the provider: the whole exchange, or until the first chunk for a stream. The gateway
    # reports its own overhead as total time minus this.
    upstream_seconds: float | None = None


class _Response(OpenAIObject):
    __slots__ = ("_meta",)

    def __init__(self, data: dict[str, Any], meta: ResponseMeta | None = None) -> None:
        self._data = data  # OpenAIObject.__init__, inlined: one of these is built per streamed chunk
        self._meta = meta

    @property
    def meta(self) -> ResponseMeta | None:
        """Provider, upstream model, attempts, canonical usage; None for objects built by hand."""
        return self._meta

    @property
    def id(self) -> str:
        """The response id."""
        return str(self._data.get("id", ""))

    @property
    def model(self) -> str:
        """The model that answered, as the provider names it."""
        return str(self._data.get("model", ""))

    @property
    def usage(self) -> Usage | None:
        """Token usage, when known."""
        return self._sub("usage", Usage)


class _ChatResponse(_Response):
    """What a whole chat completion and a streamed chunk share."""

    __slots__ = ()

    @property
    def created(self) -> int:
        """Unix time of creation (the same on every chunk of a stream)."""
        return int(self._data.get("created", 0))

    @property
    def system_fingerprint(self) -> str | None:
        """Backend fingerprint; ``"tollway-mock"`` marks a mock answer."""
        return self._data.get("system_fingerprint")


class ChatCompletion(_ChatResponse):
    """A whole chat completion (``object: "chat.completion"``)."""

    __slots__ = ()

    @property
    def choices(self) -> list[Choice]:
        """The choices (one unless ``n`` > 1)."""
        return [Choice(c) for c in self._data.get("choices", ())]


class ChatCompletionChunk(_ChatResponse):
    """One streamed chunk (``object: "chat.completion.chunk"``)."""

    __slots__ = ()

    @property
    def choices(self) -> list[ChunkChoice]:
        """The chunk's choices; empty on the final usage chunk."""
        return [ChunkChoice(c) for c in self._data.get("choices", ())]


class Embedding(OpenAIObject):
    """One embedding vector (a list of floats, or base64 text when ``encoding_format="base64"``)."""

    __slots__ = ()

    @property
    def index(self) -> int:
        """Position of the input."""
        return int(self._data.get("index", 0))

    @property
    def embedding(self) -> list[float] | str:
        """The vector."""
        value: list[float] | str = self._data.get("embedding", [])
        return value


class EmbeddingResponse(_Response):
    """An embeddings answer (``object: "list"``)."""

    __slots__ = ()

    @property
    def data(self) -> list[Embedding]:
        """One entry per input, in input order."""
        return [Embedding(e) for e in self._data.get("data", ())]


class RerankResult(OpenAIObject):
    """One ranked document: its position in the request, its score, and (when asked) the document."""

    __slots__ = ()

    @property
    def index(self) -> int:
        """Position of the document in the request's ``documents``."""
        return int(self._data.get("index", 0))

    @property
    def relevance_score(self) -> float:
        """Higher is more relevant."""
        return float(self._data.get("relevance_score", 0.0))

    @property
    def document(self) -> OpenAIObject | None:
        """``{"text": ...}`` when ``return_documents`` was set."""
        return self._sub("document", OpenAIObject)


class RerankResponse(_Response):
    """A rerank answer in Cohere's shape, whatever the provider: ``{"id", "results", "meta"}``."""

    __slots__ = ()

    @property
    def results(self) -> list[RerankResult]:
        """Documents from most to least relevant."""
        return [RerankResult(r) for r in self._data.get("results", ())]
