"""The status timelines' markup: one ``<g>`` per colour around that colour's segments (not a
class on every rect), every segment with its own position and tooltip."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from monitoring import render
from odcm.ui import status_colour

START = datetime(2026, 11, 1, tzinfo=UTC)


def segment(status: str, hour: int) -> dict[str, object]:
    return {
        "status": status,
        "x": round(100 * hour / 24, 3),
        "width": round(100 / 24, 3),
        "from": START + timedelta(hours=hour),
        "to": START + timedelta(hours=hour + 1),
    }


def test_segments_are_grouped_by_colour_and_keep_their_place_and_tooltip() -> None:
    statuses = ["online", "offline", "online", "maintenance", "offline", "online"]
    segments = [segment(s, n) for n, s in enumerate(statuses)]
    html = str(render.timelines([{"name": "<octo>", "slug": "octo", "segments": segments}]))
    assert "&lt;octo&gt;" in html and "<octo>" not in html
    groups = re.findall(r'<g class="fill-(\w+)">(.*?)</g>', html)
    assert [colour for colour, _ in groups] == ["success", "danger", "info"]
    drawn = set()
    for colour, body in groups:
        for x, width, title in re.findall(
            r'<rect x="([\d.]+)" width="([\d.]+)" height="4"><title>([^<]*)</title></rect>', body
        ):
            status = title.split(" ")[0]
            assert status_colour(status) == colour
            drawn.add((x, width, title))
    assert drawn == {
        (
            str(s["x"]),
            str(s["width"]),
            f"{s['status']} {str(s['from'])[:16]} to {str(s['to'])[:16]}",
        )
        for s in segments
    }
    assert html.count("<rect") == len(segments)
    assert "class=" not in "".join(re.findall(r"<rect[^>]*>", html))
