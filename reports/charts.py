"""Inline SVG bar charts: 自治体 networks are closed, so no chart library, no external file."""
from __future__ import annotations

from html import escape

from markupsafe import Markup

PALETTE = {"blue": "#2f6fb3", "green": "#3a8f4a", "red": "#c0392b", "orange": "#d9822b",
           "grey": "#8a8f98", "purple": "#7b4fa6"}


def _fmt(v: float) -> str:
    return f"{int(v):,}" if float(v).is_integer() else f"{v:,.2f}"


def bar_chart(rows: list[tuple[str, list[tuple[str, float, str]]]], *, width: int = 760,
              label_width: int = 220, bar_height: int = 16, title: str = "") -> Markup:
    """Horizontal grouped bars: rows = [(label, [(series, value, colour name), …]), …]."""
    if not rows:
        return Markup("")
    vmax = max((v for _, series in rows for _, v, _ in series), default=0) or 1
    plot = width - label_width - 90
    y = 24 if title else 6
    parts = []
    legend: dict[str, str] = {}
    for label, series in rows:
        group_top = y
        for name, value, colour in series:
            legend.setdefault(name, colour)
            w = max(0.0, plot * float(value) / vmax)
            fill = PALETTE.get(colour, colour)
            parts.append(f'<rect x="{label_width}" y="{y}" width="{w:.1f}" height="{bar_height}" '
                         f'fill="{fill}"><title>{escape(label)} {escape(name)}: '
                         f'{_fmt(value)}</title></rect>')
            if value or len(series) == 1:   # a row of "0" labels only adds noise
                parts.append(f'<text x="{label_width + w + 4:.1f}" y="{y + bar_height - 3}" '
                             f'font-size="12">{_fmt(value)}</text>')
            y += bar_height + 2
        mid = (group_top + y) / 2 + 4
        parts.append(f'<text x="{label_width - 6}" y="{mid:.1f}" font-size="13" '
                     f'text-anchor="end">{escape(label)}</text>')
        y += 8
    lx = label_width
    legend_parts = []
    if len(legend) > 1:
        for name, colour in legend.items():
            legend_parts.append(f'<rect x="{lx}" y="{y + 4}" width="12" height="12" '
                                f'fill="{PALETTE.get(colour, colour)}"/>'
                                f'<text x="{lx + 16}" y="{y + 14}" font-size="12">'
                                f'{escape(name)}</text>')
            lx += 24 + 13 * len(name)
        y += 22
    head = (f'<text x="4" y="16" font-size="14" font-weight="bold">{escape(title)}</text>'
            if title else "")
    svg = (f'<svg role="img" width="{width}" height="{y + 6}" '
           f'viewBox="0 0 {width} {y + 6}" font-family="sans-serif">{head}{"".join(parts)}'
           f'{"".join(legend_parts)}</svg>')
    return Markup(svg)
