"""JSON bodies with bounded nesting, for every API that parses one.

``json.loads`` of a few KB of ``[[[[…`` raises ``RecursionError``, which is not a ``ValueError``: callers
that catch only ``ValueError`` answered an internal error (and apply-access told the city to retry a call
that can never succeed). Here both too deep for the parser and deeper than any of our bodies are
:class:`TooDeep`, a ``ValueError``.
"""

from __future__ import annotations

import json
from typing import Any

from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError

# Our deepest body is a device batch: array > event > images list. Room to spare, far below the parser's limit.
MAX_DEPTH = 32


class TooDeep(ValueError):
    def __init__(self, max_depth: int) -> None:
        super().__init__(_("the JSON is nested more than %(n)d levels deep") % {"n": max_depth})


def depth(value: Any) -> int:
    """Levels of arrays and objects in a parsed JSON value (a scalar is 0)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level + 1)
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


def check_depth(value: Any, max_depth: int = MAX_DEPTH) -> Any:
    if depth(value) > max_depth:
        raise TooDeep(max_depth)
    return value


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that raises ValueError (TooDeep) instead of RecursionError, for at most ``max_depth``."""
    try:
        value = json.loads(text)
    except RecursionError as exc:
        raise TooDeep(max_depth) from exc
    return check_depth(value, max_depth)


class BoundedJSONParser(parsers.JSONParser):
    """DRF's JSONParser, answering a body nested too deep as a 400 ParseError."""

    max_depth = MAX_DEPTH

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        try:
            value = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(str(TooDeep(self.max_depth))) from exc
        try:
            return check_depth(value, self.max_depth)
        except TooDeep as exc:
            raise ParseError(str(exc)) from exc
