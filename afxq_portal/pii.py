"""Masking of personal data (PIPL): ID numbers and phones never appear in clear in lists or logs."""

from __future__ import annotations

import logging
import re

# An 18-character resident ID (17 digits and a check character) or an 11-digit mobile number,
# not part of a longer run of digits.
_ID_CARD_RE = re.compile(r"(?<![0-9])([1-9][0-9]{5})[0-9]{8}([0-9]{3}[0-9Xx])(?![0-9])")
_PHONE_RE = re.compile(r"(?<![0-9])(1[3-9][0-9])[0-9]{4}([0-9]{4})(?![0-9])")


def mask_id_card(value: str | None) -> str:
    """`510104199001011234` -> `5101**********1234`."""
    if not value:
        return ""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str | None) -> str:
    """`13812345678` -> `138****5678`."""
    if not value:
        return ""
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_text(text: str) -> str:
    """Mask every ID number and mobile number found in free text (log lines, error messages)."""
    text = _ID_CARD_RE.sub(lambda m: m.group(1)[:4] + "*" * 10 + m.group(2)[-4:], text)
    return _PHONE_RE.sub(lambda m: m.group(1) + "****" + m.group(2), text)


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
