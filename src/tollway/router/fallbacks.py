"""Which model groups to try after a group fails, built once from the router settings and checked at build time.

LiteLLM's four lists: ``fallbacks`` (any error), ``context_window_fallbacks`` (``ContextWindowExceededError``),
``content_policy_fallbacks`` (``ContentPolicyViolationError``) and ``default_fallbacks`` (any group without its own
entry). A group's entry may be the wildcard ``"*"``. When the specific list of a context-window or content-policy
error is empty the generic fallbacks are tried, as in LiteLLM. At most ``max_fallbacks`` groups (LiteLLM's
``ROUTER_MAX_FALLBACKS``, 5) are returned for one failure.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from tollway.errors import (
    BudgetExceededError,
    ConfigurationError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    TollwayError,
)

if TYPE_CHECKING:
    from tollway.router.config import RouterSettings

__all__ = ["FallbackPlan"]

FallbackMap = Mapping[str, tuple[str, ...]]

_EMPTY: FallbackMap = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class FallbackPlan:
    """Fallback model groups per group and error kind. Build it with ``from_settings`` to validate it."""

    fallbacks: FallbackMap = field(default_factory=lambda: _EMPTY)
    context_window_fallbacks: FallbackMap = field(default_factory=lambda: _EMPTY)
    content_policy_fallbacks: FallbackMap = field(default_factory=lambda: _EMPTY)
    default_fallbacks: tuple[str, ...] = ()
    max_fallbacks: int = 5

    @classmethod
    def build(cls, settings: RouterSettings, model_groups: Iterable[str]) -> FallbackPlan:
        """``from_settings`` with the lists of a ``RouterSettings`` (see ``RouterSettings.fallback_plan``)."""
        return settings.fallback_plan(model_groups)

    @classmethod
    def from_settings(
        cls,
        model_groups: Iterable[str],
        *,
        fallbacks: FallbackMap = _EMPTY,
        context_window_fallbacks: FallbackMap = _EMPTY,
        content_policy_fallbacks: FallbackMap = _EMPTY,
        default_fallbacks: Iterable[str] = (),
        max_fallbacks: int = 5,
    ) -> FallbackPlan:
        """A plan over the router's ``model_groups`` (its ``model_name`` values, wildcards included).

        Raises ConfigurationError for a fallback naming an unknown model group (as a key or a target) and for a
        cycle within one list (``a → b → a``), showing the cycle. Cycles are checked per list, not across lists: a
        context-window fallback to a bigger model whose generic fallback is the original is a sensible config,
        and the router never tries a group twice for one request (``exclude``). ``"*"`` entries and
        ``default_fallbacks`` are not edges of the cycle check for the same reason.
        """
        groups = frozenset(model_groups)
        plan = cls(
            fallbacks=MappingProxyType(dict(fallbacks)),
            context_window_fallbacks=MappingProxyType(dict(context_window_fallbacks)),
            content_policy_fallbacks=MappingProxyType(dict(content_policy_fallbacks)),
            default_fallbacks=tuple(default_fallbacks),
            max_fallbacks=max_fallbacks,
        )
        for setting, table in plan._tables():
            for source, targets in table.items():
                if source != "*":
                    _check_known(groups, source, f"{setting}[{source!r}]")
                for target in targets:
                    _check_known(groups, target, f"{setting}[{source!r}]")
            _check_cycles(setting, table)
        for target in plan.default_fallbacks:
            _check_known(groups, target, "default_fallbacks")
        return plan

    def _tables(self) -> tuple[tuple[str, FallbackMap], ...]:
        return (
            ("fallbacks", self.fallbacks),
            ("context_window_fallbacks", self.context_window_fallbacks),
            ("content_policy_fallbacks", self.content_policy_fallbacks),
        )

    def next_groups(self, model_group: str, error: TollwayError, *, exclude: Collection[str] = ()) -> list[str]:
        """The groups to try, in order, after ``model_group`` failed with ``error`` (its retries spent).

        ``exclude``: groups already tried for this request (never tried twice, so fallbacks of fallbacks cannot
        loop even through ``"*"``). A ``BudgetExceededError`` has no fallback: another group would spend the
        same budget.
        """
        if isinstance(error, BudgetExceededError):
            return []
        chosen: tuple[str, ...] = ()
        if isinstance(error, ContextWindowExceededError):
            chosen = _lookup(self.context_window_fallbacks, model_group)
        elif isinstance(error, ContentPolicyViolationError):
            chosen = _lookup(self.content_policy_fallbacks, model_group)
        if not chosen:
            chosen = _lookup(self.fallbacks, model_group) or self.default_fallbacks
        skip = {model_group, *exclude}
        unique = [g for i, g in enumerate(chosen) if g not in skip and g not in chosen[:i]]
        return unique[: self.max_fallbacks]

    def context_window_candidates(
        self, model_group: str, estimated_tokens: int, max_input_of: Callable[[str], int | None]
    ) -> list[str]:
        """For the pre-call check (``enable_pre_call_checks``): the groups that can take ``estimated_tokens``.

        ``[model_group]`` when it fits (or its window is unknown: the provider will say); otherwise its
        context-window fallbacks that fit, followed transitively (breadth first, each group once), at most
        ``max_fallbacks``. An empty list means nothing configured can take the prompt.
        """
        if _fits(max_input_of(model_group), estimated_tokens):
            return [model_group]
        found: list[str] = []
        seen = {model_group}
        queue = list(_lookup(self.context_window_fallbacks, model_group))
        while queue and len(found) < self.max_fallbacks:
            group = queue.pop(0)
            if group in seen:
                continue
            seen.add(group)
            if _fits(max_input_of(group), estimated_tokens):
                found.append(group)
            else:
                queue.extend(_lookup(self.context_window_fallbacks, group))
        return found


def _fits(max_input: int | None, estimated_tokens: int) -> bool:
    return max_input is None or estimated_tokens <= max_input


def _lookup(table: FallbackMap, model_group: str) -> tuple[str, ...]:
    if model_group in table:
        return table[model_group]
    return table.get("*", ())


def _check_known(groups: frozenset[str], name: str, where: str) -> None:
    # A name is known when it is a group or matched by a wildcard group (``openai/*`` serves ``openai/gpt-4o``).
    if name in groups or any("*" in g and fnmatch.fnmatchcase(name, g) for g in groups):
        return
    raise ConfigurationError(f"{where}: unknown model group {name!r}; model_list has {sorted(groups)}")


def _check_cycles(setting: str, table: FallbackMap) -> None:
    done: set[str] = set()

    def visit(group: str, path: list[str]) -> None:
        if group in path:
            cycle = " -> ".join([*path[path.index(group) :], group])
            raise ConfigurationError(f"{setting}: fallback cycle {cycle}")
        if group in done:
            return
        for target in table.get(group, ()):
            visit(target, [*path, group])
        done.add(group)

    for source in table:
        if source != "*":
            visit(source, [])
