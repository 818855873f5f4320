"""Bar charts drawn on the server as SVG: no chart library, nothing from a CDN, and the same markup for the
first page and for each refresh (the JSON carries it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT, TOP, BOTTOM, LEFT = 720, 180, 14, 22, 34


def bars(series: Sequence[tuple[datetime, int]], label_format: str, label_every: int, title: str) -> SafeString:
    """One bar per (moment, count); every ``label_every``-th bar labelled with ``label_format``."""
    peak = max((n for _moment, n in series), default=0) or 1
    step = (WIDTH - LEFT) / max(1, len(series))
    plot = HEIGHT - TOP - BOTTOM
    parts = [format_html('<svg class="afxq-chart" viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}">'
                         '<title>{}</title>', WIDTH, HEIGHT, title, title),
             format_html('<text x="0" y="{}" class="axis">{}</text>', TOP, peak),
             format_html('<text x="0" y="{}" class="axis">0</text>', HEIGHT - BOTTOM),
             format_html('<line x1="{}" y1="{}" x2="{}" y2="{}" class="base"/>', LEFT, HEIGHT - BOTTOM, WIDTH,
                         HEIGHT - BOTTOM)]
    for index, (moment, count) in enumerate(series):
        height = plot * count / peak
        x = LEFT + index * step
        label = moment.strftime(label_format)
        # format_html escapes its arguments into strings first: numbers are formatted before.
        parts.append(format_html(
            '<rect x="{}" y="{}" width="{}" height="{}" data-count="{}"><title>{}: {}</title></rect>',
            f"{x + 1:.1f}", f"{HEIGHT - BOTTOM - height:.1f}", f"{max(1.0, step - 2):.1f}", f"{height:.1f}", count,
            label, count))
        if index % label_every == 0:
            parts.append(format_html('<text x="{}" y="{}" class="label">{}</text>', f"{x + 1:.1f}", HEIGHT - 6, label))
    parts.append(mark_safe("</svg>"))
    return mark_safe("".join(parts))  # every part is format_html output: escaped already
