"""The server-drawn SVG charts: well-formed, every row and cell where its figures say, hover text, escaped
labels, colour scales."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from ui.svg import BLUES, RED_BLUE, Interval, color, interval_chart, nice_ticks, pair_map

NS = {"svg": "http://www.w3.org/2000/svg"}
COLORS = {"leader": "#1f77b4", "behind": "#fd8d3c"}


def rows() -> list[Interval]:
    return [Interval("fm", 0.80, 0.78, 0.82, "leader"), Interval("deep<fm>&co", 0.79, 0.75, 0.81, "leader"),
            Interval("lr", 0.70, 0.69, 0.72, "behind")]


@pytest.mark.parametrize(("low", "high", "expected"), [(0.0, 1.0, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
                                                       (0.652, 0.815, [0.7, 0.75, 0.8]),
                                                       (-3.0, 7.0, [-2.0, 0.0, 2.0, 4.0, 6.0]),
                                                       (0.5, 0.5, [0.5])])
def test_nice_ticks_are_round_and_inside(low, high, expected):
    assert nice_ticks(low, high) == pytest.approx(expected)


def test_interval_chart_places_every_row_by_its_figures():
    svg = ET.fromstring(interval_chart(rows(), COLORS, "test auc", title="Test auc"))       # well-formed XML
    groups = svg.findall("svg:g", NS)
    assert [g.find("svg:title", NS).text.split(":")[0] for g in groups] == ["fm", "deep<fm>&co", "lr"]
    dots = [float(g.find("svg:circle", NS).get("cx")) for g in groups]
    bars = [(float(g.find("svg:line", NS).get("x1")), float(g.find("svg:line", NS).get("x2"))) for g in groups]
    assert dots[0] > dots[1] > dots[2]                                   # x grows with the value
    assert all(lo < dot < hi for dot, (lo, hi) in zip(dots, bars))       # each dot inside its own bar
    assert bars[2][1] < bars[0][0]                                       # lr's interval ends before fm's begins
    rows_y = [float(g.find("svg:circle", NS).get("cy")) for g in groups]
    assert rows_y == sorted(rows_y)                                      # top to bottom in the given order
    assert [g.find("svg:circle", NS).get("fill") for g in groups] == ["#1f77b4", "#1f77b4", "#fd8d3c"]
    assert "0.7900 (95% interval 0.7500 – 0.8100), leader" in groups[1].find("svg:title", NS).text


def test_interval_chart_axis_covers_every_interval_and_labels_are_escaped():
    text = interval_chart(rows(), COLORS, "test <auc>")
    assert "deep&lt;fm&gt;&amp;co" in text and "<auc>" not in text
    svg = ET.fromstring(text)
    ticks = [float(t.text) for t in svg.findall("svg:text", NS) if re.fullmatch(r"-?[\d.]+", t.text or "")]
    assert ticks and min(ticks) <= 0.70 and max(ticks) >= 0.80
    legend = [t.text for t in svg.findall("svg:text", NS) if t.text in COLORS]
    assert legend == ["leader", "behind"]                                # each group once, in order of appearance


def test_pair_map_colours_each_measured_cell_by_its_strength():
    matrix = np.array([[np.nan, 1.0, 0.2], [1.0, np.nan, np.nan], [0.2, np.nan, np.nan]])
    svg = ET.fromstring(pair_map(matrix, ["a", "b", "c"], "strength", title="map"))
    cells = {r.find("svg:title", NS).text: r.get("fill") for r in svg.iter(f"{{{NS['svg']}}}rect")
             if r.find("svg:title", NS) is not None}
    assert set(cells) == {"a × b: 1", "b × a: 1", "a × c: 0.2", "c × a: 0.2"}      # no diagonal, no unmeasured
    assert cells["a × b: 1"] == color(BLUES, 1.0) == "#08306b"                     # the strongest: darkest
    assert cells["a × c: 0.2"] == color(BLUES, 0.2)
    assert "0.2" in pair_map(matrix, ["a", "b", "c"], "s", high=0.4) and color(BLUES, 0.5) in pair_map(
        matrix, ["a", "b", "c"], "s", high=0.4)                                      # a fixed top: 0.2 is half way


def test_pair_map_centres_a_signed_scale_at_zero():
    matrix = np.array([[np.nan, -0.5, 0.25], [-0.5, np.nan, np.nan], [0.25, np.nan, np.nan]])
    svg = ET.fromstring(pair_map(matrix, ["x", "y", "z"], "ρ"))
    fills = {r.find("svg:title", NS).text: r.get("fill") for r in svg.iter(f"{{{NS['svg']}}}rect")
             if r.find("svg:title", NS) is not None}
    assert fills["x × y: -0.5"] == "#b2182b" and fills["x × z: 0.25"] == color(RED_BLUE, 0.75)   # on -0.5 … 0.5
    assert {"-0.5", "0.5"} <= {t.text for t in svg.iter(f"{{{NS['svg']}}}text")}                 # the scale's ends


def test_colour_scales_interpolate_between_their_stops():
    assert color(BLUES, 0.0) == "#f7fbff" and color(BLUES, 2.0) == "#08306b" and color(RED_BLUE, 0.5) == "#f7f7f7"
    assert color(RED_BLUE, 0.25) == "#" + "".join(f"{round((a + b) / 2):02x}" for a, b in zip((178, 24, 43),
                                                                                           (247, 247, 247)))


def test_a_row_without_figures_keeps_its_label_and_leaves_the_axis_alone():
    svg = ET.fromstring(interval_chart([*rows(), Interval("gbdt", float("nan"), float("nan"), float("nan"), "leader")],
                                       COLORS, "test auc"))
    gbdt = svg.findall("svg:g", NS)[-1]
    assert gbdt.find("svg:text", NS).text == "gbdt" and gbdt.find("svg:circle", NS) is None
    assert "nan" not in "".join(e.get("x1", "") + e.get("cx", "") for e in svg.iter())
