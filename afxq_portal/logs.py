"""JSON log lines for production (LOG_FORMAT=json): one object per line on stdout, for a log shipper.

The PII filter (afxq_portal.pii.MaskPIIFilter) runs on the handler before this formatter, so the message
and the traceback are already masked here."""

from __future__ import annotations

import datetime as dt
import json
import logging

from afxq_portal.pii import mask_text

# Attributes every LogRecord has; anything else was passed in `extra=` and is kept as a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                # The filter masks the message only: mask what callers passed beside it too.
                entry[key] = value if isinstance(value, (int, float, bool, type(None))) else mask_text(str(value))
        return json.dumps(entry, ensure_ascii=False)
