"""Masking of personal data (PIPL): ID numbers and phones never appear in clear in lists or logs.

Masks look at text the way the validators read it: every Unicode decimal digit counts as its ASCII digit,
full-width ``Ｘ``/``＋``/brackets as their ASCII forms, and a phone may carry ``+86``, spaces, hyphens or
brackets. A form the validators accept is therefore never left in clear.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata

# One character in, one character out: positions in the folded text are positions in the original.
_FOLD = {"Ｘ": "X", "ｘ": "x", "＋": "+", "（": "(", "）": ")", "－": "-", "\u3000": " ", "\u00a0": " "}


def _fold_char(char: str) -> str:
    if char.isascii():
        return char
    digit = unicodedata.decimal(char, None)
    if digit is not None:
        return str(digit)
    return _FOLD.get(char, char)


def fold_digits(text: str) -> str:
    """``text`` with every decimal digit as ASCII and full-width X, +, brackets, hyphen and spaces as ASCII."""
    if text.isascii():
        return text
    return "".join(_fold_char(c) for c in text)


_SEP = r"[ \-]?"
# An 18-character resident ID (17 digits and a check character), not part of a longer run of digits.
_ID_CARD_RE = re.compile(r"(?<![0-9])([1-9][0-9]{5})[0-9]{8}([0-9]{3}[0-9Xx])(?![0-9])")
# An 11-digit mobile number, optionally after +86 / 86, with the separators people type.
_PHONE_RE = re.compile(
    rf"(?<![0-9+])((?:\+?86{_SEP})?\(?1[3-9][0-9]\)?){_SEP}[0-9]{{4}}{_SEP}([0-9]{{4}})(?![0-9])")


def mask_id_card(value: str | None) -> str:
    """`510104199001011234` -> `5101**********1234` (full-width digits are read as digits)."""
    if not value:
        return ""
    value = fold_digits(value).strip()
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str | None) -> str:
    """`13812345678` -> `138****5678`; `+86 138-1234-5678` -> `+86138****5678`."""
    if not value:
        return ""
    value = re.sub(r"[\s()\-]", "", fold_digits(value))
    if len(value) <= 7:
        return "*" * len(value)
    return value[:-8] + "****" + value[-4:]


def mask_text(text: str) -> str:
    """Mask every ID number and mobile number found in free text (log lines, error messages, bodies)."""
    folded = fold_digits(text)
    if folded == text:
        return _mask_folded(text)
    # Mask on the folded text, then keep the original characters outside the masked spans.
    spans = [m.span() for m in _ID_CARD_RE.finditer(folded)]
    spans += [m.span() for m in _PHONE_RE.finditer(_ID_CARD_RE.sub(lambda m: "#" * len(m.group(0)), folded))]
    if not spans:
        return text
    out, last = [], 0
    for start, end in sorted(spans):
        if start < last:
            continue
        out += [text[last:start], _mask_folded(folded[start:end])]
        last = end
    out.append(text[last:])
    return "".join(out)


def _mask_folded(text: str) -> str:
    text = _ID_CARD_RE.sub(lambda m: m.group(1)[:4] + "*" * 10 + m.group(2)[-4:], text)
    return _PHONE_RE.sub(lambda m: m.group(1) + "****" + m.group(2), text)


def mask_json_text(text: str) -> str:
    """A JSON body as a person may read it: ``\\uXXXX`` escapes decoded (an escaped digit is a digit), then
    masked. Text that is not JSON is masked as it is."""
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return mask_text(text)
    try:
        readable = json.dumps(parsed, ensure_ascii=False)
    except (ValueError, RecursionError):
        return mask_text(text)
    # A lone surrogate cannot be shown or stored: replace it (the call itself is refused by name).
    return mask_text(readable.encode("utf-8", errors="replace").decode("utf-8"))


class MaskPIIFilter(logging.Filter):
    """Logging filter: renders the message once, masked, so no handler sees the clear value."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            # The formatter reuses exc_text when set: render the traceback once, masked (exception
            # messages often quote the bad value).
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True
