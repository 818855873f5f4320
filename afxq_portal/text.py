"""The one rule for text entering the system, whatever the door (apply-access, the device API, an Excel row,
an admin form).

Two levels:

* **storable** (:func:`text_problem`), for every text value and field name: no lone surrogate (JSON
  ``"\\ud800"`` decodes fine in Python and fails when encoded for the database, Fernet or a log), no NUL
  (PostgreSQL text cannot hold one), no other C0/C1 control character except tab, line feed and carriage
  return (base64 wrapped at 76 characters, a multi-line reason).
* **one line shown to people** (:func:`line_problem`), for names and addresses: storable, and no control
  character at all, no line or paragraph separator and no bidirectional control (embeddings, overrides,
  isolates and marks, which make a name display as something else).

Problems are reasons without the value (messages are logged and stored); callers name the field. Digits that
the contract means are ASCII digits only (:func:`ascii_digits`): ``str.isdigit`` accepts Arabic-Indic and
superscript digits, and ``int("²")`` raises.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# Bidi_Control characters (Unicode PropList): ALM, LRM, RLM, LRE/RLE/PDF/LRO/RLO, LRI/RLI/FSI/PDI.
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# The ASCII bytes _UNSTORABLE allows.
_STORABLE_ASCII = bytes(byte for byte in range(128) if not _UNSTORABLE.match(chr(byte)))
_NOT_ONE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{BIDI_CONTROLS}\ud800-\udfff]")
_BIDI = re.compile(f"[{BIDI_CONTROLS}]")


def _code(ch: str) -> str:
    return f"U+{ord(ch):04X}"


def _reason(ch: str) -> str:
    if "\ud800" <= ch <= "\udfff":
        return _("contains a lone surrogate (%(code)s), which cannot be stored") % {"code": _code(ch)}
    if ch == "\x00":
        return _("contains a NUL character")
    if ch in "\u2028\u2029":
        return _("contains a line or paragraph separator (%(code)s)") % {"code": _code(ch)}
    if _BIDI.match(ch):
        return _("contains a bidirectional control character (%(code)s)") % {"code": _code(ch)}
    return _("contains a control character (%(code)s)") % {"code": _code(ch)}


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored, or None."""
    # ASCII text (base64 images of a megabyte among it) is checked as bytes: a C loop several times faster than
    # the pattern, whose surrogate range keeps it off its fast path; only a hit is looked at with the pattern.
    if value.isascii() and not value.encode("ascii").translate(None, _STORABLE_ASCII):
        return None
    found = _UNSTORABLE.search(value)
    return _reason(found.group()) if found else None


def line_problem(value: str) -> str | None:
    """Why ``value`` is not one line of text fit to show to people (a name, an address), or None."""
    found = _NOT_ONE_LINE.search(value)
    return _reason(found.group()) if found else None


def scrub(value: str) -> str:
    """``value`` with what cannot be stored replaced by U+FFFD: for copies shown back to a user (the Excel
    result workbook), never for what is kept as data."""
    return _UNSTORABLE.sub("\ufffd", value)


def without_nul(value: str) -> str:
    """``value`` with each NUL (which PostgreSQL text cannot hold) replaced by U+FFFD and nothing else changed:
    for text kept as received, such as a request body that is stored whatever it holds (:func:`scrub` replaces
    every unstorable character, for copies shown back)."""
    return value.replace("\x00", "\ufffd")


def printable_name(name: str) -> str:
    """A field name as an answer may quote it: unstorable characters written as escapes (``\\ud800``)."""
    return _UNSTORABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), name)


def ascii_digits(value: str) -> bool:
    """True for a non-empty run of 0-9 only."""
    return value.isascii() and value.isdigit()


def field_problems(data: Mapping[str, Any], names: Iterable[str]) -> list[tuple[str, str]]:
    """(name, reason) for each of ``names`` whose value in ``data`` is text that cannot be stored."""
    problems = []
    for name in names:
        value = data.get(name)
        problem = text_problem(value) if isinstance(value, str) else None
        if problem:
            problems.append((name, problem))
    return problems


def _walk(value: Any) -> Iterator[tuple[str, str]]:
    # Iterative, not recursive: a body may be nested as deep as the JSON parser allowed. A stack entry is
    # (field name or None, value, path); a field name is checked when its entry comes up, in document order.
    stack: list[tuple[str | None, Any, str]] = [(None, value, "")]
    while stack:
        key, item, where = stack.pop()
        if key is not None:
            problem = text_problem(key)
            if problem:
                yield where, _("the field name %(problem)s") % {"problem": problem}
                continue
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                yield where, problem
        elif isinstance(item, Mapping):
            for name, child in reversed(list(item.items())):
                text = str(name)
                path = f"{where}.{printable_name(text)}" if where else printable_name(text)
                stack.append((text, child, path))
        elif isinstance(item, list | tuple):
            stack.extend((None, item[index], f"{where}[{index}]") for index in range(len(item) - 1, -1, -1))


def nested_problems(value: Any) -> list[tuple[str, str]]:
    """(path, reason) for every field name and text value anywhere in a parsed JSON value that cannot be
    stored, in document order; the path names the field (``images[1]``, a bad name written with escapes)."""
    return list(_walk(value))


def validate_text(value: Any) -> None:
    """Django validator: storable text."""
    problem = text_problem(value) if isinstance(value, str) else None
    if problem:
        raise ValidationError(problem, code="unstorable_text")


def validate_line(value: Any) -> None:
    """Django validator: one line of text fit to show to people."""
    problem = line_problem(value) if isinstance(value, str) else None
    if problem:
        raise ValidationError(problem, code="not_one_line")


class TextRulesFormMixin:
    """For forms: every text field gets :func:`validate_text`; those named in ``line_fields`` (names,
    addresses) get :func:`validate_line`. Passwords are left alone: they are hashed, never kept as text."""

    line_fields: tuple[str, ...] = ("name",)
    fields: dict[str, forms.Field]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if isinstance(field, forms.CharField) and not isinstance(field.widget, forms.PasswordInput):
                rule = validate_line if name in self.line_fields else validate_text
                field.validators = [*field.validators, rule]


class TextRulesModelForm(TextRulesFormMixin, forms.ModelForm):
    """The admin's default form (communities.admin_scope.ScopedModelAdmin)."""
