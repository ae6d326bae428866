"""Small static charts drawn as SVG on the server: the page shows them at once, with no chart library to
load and run in the browser (a Plotly chart costs a page about a quarter of a second on two cores)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from html import escape

import numpy as np

FONT = 'font-size="13" fill="currentColor"'          # the page's own font and text colour (light or dark theme)
SCALED = 'role="img" style="max-width: 100%; height: auto"'       # never wider than the page, never blown up


@dataclass(frozen=True)
class Interval:
    """One row of an interval chart: a label, a value and its interval (low <= value <= high, in the
    metric's units), and the group that gives its colour."""

    label: str
    value: float
    low: float
    high: float
    group: str
    note: str = ""          # more hover text


def opening(width: int, height: int, label: str, title: str, title_x: float) -> str:
    """The ``<svg>`` start tag of a chart (``label``: what screen readers and tests call it) and its title."""
    return (f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" {SCALED} '
            f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(label)}">'
            + (f'<text x="{title_x}" y="18" font-size="15" fill="currentColor">{escape(title)}</text>' if title else ""))


def has_figures(row: Interval) -> bool:
    return all(map(math.isfinite, (row.value, row.low, row.high)))


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round values (steps of 1, 2 or 5 times a power of ten) covering [low, high]."""
    span = high - low
    if not span > 0:
        return [low]
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    return [round(first + k * step, 12) for k in range(int((high - first) / step + 1e-9) + 1)]


def interval_chart(rows: list[Interval], colors: dict[str, str], axis_title: str, title: str = "",
                   width: int = 900, band: str = "95% interval", legend: bool = True) -> str:
    """One row per ``Interval``, top to bottom in the given order: a dot at the value and a bar from low
    to high (``band`` names it in the hover text), coloured by group (``colors``; with ``legend``, the
    groups in order of first appearance). Hovering a row shows its figures. Returns an ``<svg>`` element
    as wide as it needs, narrower where the page is."""
    label_width = 12 + 7 * max((len(r.label) for r in rows), default=4)
    left, right, row_height = min(max(label_width, 80), width // 2), 24, 30
    top = (26 if title else 6) + (30 if legend else 0)
    height = top + row_height * len(rows) + 48
    drawn = [r for r in rows if has_figures(r)]          # a row without figures (NaN): its label only
    low = min((r.low for r in drawn), default=0.0)
    high = max((r.high for r in drawn), default=1.0)
    pad = (high - low) * 0.06 or abs(high) * 0.01 or 0.01
    low, high = low - pad, high + pad

    def x(value: float) -> float:
        return left + (value - low) / (high - low) * (width - left - right)

    parts = [opening(width, height, title or axis_title, title, left)]
    legend_x = left
    for group in dict.fromkeys(r.group for r in rows) if legend else ():
        color = colors.get(group, "#000")
        parts.append(f'<circle cx="{legend_x + 5}" cy="{top - 18}" r="5" fill="{color}"/>'
                     f'<text x="{legend_x + 14}" y="{top - 14}" {FONT}>{escape(group)}</text>')
        legend_x += 30 + 7 * len(group)
    bottom = top + row_height * len(rows)
    for tick in nice_ticks(low, high):
        parts.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top}" y2="{bottom}" stroke="#8884"/>'
                     f'<text x="{x(tick):.1f}" y="{bottom + 16}" text-anchor="middle" {FONT}>{tick:g}</text>')
    parts.append(f'<text x="{(left + width - right) / 2:.0f}" y="{bottom + 38}" text-anchor="middle" {FONT}>'
                 f'{escape(axis_title)}</text>')
    for k, r in enumerate(rows):
        y, color = top + row_height * (k + 0.5), colors.get(r.group, "#000")
        tip = f"{r.label}: {r.value:.4f} ({band} {r.low:.4f} – {r.high:.4f}){f', {r.group}' if legend else ''}{r.note}"
        parts.append(f'<g><title>{escape(tip)}</title>'
                     f'<rect x="0" y="{y - row_height / 2:.1f}" width="{width}" height="{row_height}" fill="none" '
                     'pointer-events="all"/>'
                     f'<text x="{left - 10}" y="{y + 4:.1f}" text-anchor="end" {FONT}>{escape(r.label)}</text>'
                     + (f'<line x1="{x(r.low):.1f}" x2="{x(r.high):.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{color}" '
                        'stroke-width="2"/>'
                        + "".join(f'<line x1="{x(end):.1f}" x2="{x(end):.1f}" y1="{y - 6:.1f}" y2="{y + 6:.1f}" '
                                  f'stroke="{color}" stroke-width="2"/>' for end in (r.low, r.high))
                        + f'<circle cx="{x(r.value):.1f}" cy="{y:.1f}" r="6" fill="{color}"/>' if has_figures(r) else "")
                     + "</g>")
    parts.append("</svg>")
    return "".join(parts)


BLUES = ((0.0, (247, 251, 255)), (0.5, (107, 174, 214)), (1.0, (8, 48, 107)))
RED_BLUE = ((0.0, (178, 24, 43)), (0.5, (247, 247, 247)), (1.0, (33, 102, 172)))


def color(scale: tuple, t: float) -> str:
    """The colour at ``t`` in [0, 1] of a scale of (position, (r, g, b)) stops, linearly between them."""
    t = min(max(t, 0.0), 1.0)
    (a, ca), (b, cb) = next((lo, hi) for lo, hi in itertools.pairwise(scale) if t <= hi[0])
    w = (t - a) / (b - a)
    return "#" + "".join(f"{round(x + w * (y - x)):02x}" for x, y in zip(ca, cb))


def pair_map(matrix: np.ndarray, names: list[str], legend_title: str, title: str = "",
             high: float | None = None, size: int = 560) -> str:
    """A symmetric [F, F] map of pair strengths over ``names`` (NaN: not measured, left blank):
    darker blue = stronger from 0 to ``high`` (default: the largest value), or red below 0 and blue above
    on a scale centred at 0 when a value is negative. Hovering a cell shows its pair and value. Returns an
    ``<svg>`` element as wide as it needs, narrower where the page is."""
    values = np.abs(matrix[np.isfinite(matrix)])
    signed = bool((matrix[np.isfinite(matrix)] < 0).any())
    top_value = high if high is not None else float(values.max(initial=0.0)) or 1.0
    low_value = -top_value if signed else 0.0
    scale = RED_BLUE if signed else BLUES
    n = len(names)
    cell = max(12, min(36, size // max(n, 1)))
    shown = [name if len(name) <= 24 else name[:23] + "…" for name in map(str, names)]
    label = 10 + 7 * max((len(s) for s in shown), default=1)
    top = 26 if title else 6
    left, grid = label, cell * n
    width, height = left + grid + 110, top + grid + label
    parts = [opening(width, height, title or legend_title, title, left)]
    for i, name in enumerate(shown):
        y, x = top + cell * (i + 0.5), left + cell * (i + 0.5)
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" {FONT}>{escape(name)}</text>'
                     f'<text transform="translate({x + 4:.1f},{top + grid + 8}) rotate(-40)" text-anchor="end" '
                     f'{FONT}>{escape(name)}</text>')
    for i in range(n):
        for j in range(n):
            value = float(matrix[i, j])
            if not np.isfinite(value):
                continue
            fill = color(scale, (value - low_value) / (top_value - low_value))
            parts.append(f'<rect x="{left + cell * j}" y="{top + cell * i}" width="{cell}" height="{cell}" '
                         f'fill="{fill}" stroke="#fff" stroke-width="0.5"><title>'
                         f'{escape(f"{names[i]} × {names[j]}: {value:.4g}")}</title></rect>')
    bar_x, steps = left + grid + 24, 20
    for k in range(steps):
        t = 1 - (k + 0.5) / steps
        parts.append(f'<rect x="{bar_x}" y="{top + grid * k / steps:.1f}" width="14" height="{grid / steps + 0.5:.1f}" '
                     f'fill="{color(scale, t)}"/>')
    parts.append(f'<text x="{bar_x + 20}" y="{top + 10}" {FONT}>{top_value:.3g}</text>'
                 f'<text x="{bar_x + 20}" y="{top + grid}" {FONT}>{low_value:.3g}</text>'
                 f'<text transform="translate({bar_x + 26},{top + grid / 2:.0f}) rotate(90)" text-anchor="middle" '
                 f'{FONT}>{escape(legend_title)}</text></svg>')
    return "".join(parts)
