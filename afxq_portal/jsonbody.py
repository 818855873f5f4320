"""JSON bodies with bounded nesting, for every API that parses one.

``json.loads`` of a few KB of ``[[[[…`` raises ``RecursionError``, which is not a ``ValueError``: callers
that catch only ``ValueError`` answered an internal error (and apply-access told the city to retry a call
that can never succeed). Here both too deep for the parser and deeper than any of our bodies are
:class:`TooDeep`, a ``ValueError``.
"""

from __future__ import annotations

import json
from typing import IO, Any

from django.conf import settings
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


def _refuse_constant(name: str) -> None:
    raise ValueError(_("%(name)s is not a JSON number") % {"name": name})


def loads(text: str | bytes, max_depth: int = MAX_DEPTH, *, strict: bool = False) -> Any:
    """``json.loads`` that raises ValueError (TooDeep) instead of RecursionError, for at most ``max_depth``;
    ``strict`` refuses NaN and Infinity."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant if strict else None)
    except RecursionError as exc:
        raise TooDeep(max_depth) from exc
    return check_depth(value, max_depth)


class BoundedJSONParser(parsers.BaseParser):
    """JSON with bounded nesting and size, either answered as a 400 ParseError. Deliberately not a
    subclass of DRF's JSONParser: DRF hands a JSONParser ``request.body``, which Django caps at
    DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB, too small for a device batch with images); any other parser
    gets the request's stream, read here up to ``max_bytes()``. NaN and Infinity are refused, as
    DRF's strict JSONParser does."""

    media_type = "application/json"
    max_depth = MAX_DEPTH

    def max_bytes(self) -> int:
        return settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    def parse(self, stream: IO[bytes], media_type: str | None = None, parser_context: dict | None = None) -> Any:
        limit = self.max_bytes()
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise ParseError(_("the body is larger than %(n)d bytes") % {"n": limit})
        try:
            return loads(raw.decode("utf-8"), self.max_depth, strict=True)
        except TooDeep as exc:
            raise ParseError(str(exc)) from exc
        except ValueError as exc:  # UnicodeDecodeError and json.JSONDecodeError are ValueErrors
            raise ParseError(f"JSON parse error - {exc}") from exc
