"""Geometry for the server-rendered SVG charts (the templates only draw what this returns)."""

from __future__ import annotations

from typing import Any

WIDTH = 800
HEIGHT = 160


def stacked_bars(days: list[dict[str, Any]]) -> dict[str, Any]:
    """Bars for succeeded (bottom) and failed (top) per day, in a WIDTH×HEIGHT box."""
    highest = max((d["succeeded"] + d["failed"] for d in days), default=0)
    peak = highest or 1  # the scale; an empty chart reports a peak of 0
    slot = WIDTH / max(len(days), 1)
    gap = min(2.0, slot * 0.2)
    bars = []
    for index, day in enumerate(days):
        ok_h = HEIGHT * day["succeeded"] / peak
        bad_h = HEIGHT * day["failed"] / peak
        bars.append(
            {
                "day": day["day"],
                "succeeded": day["succeeded"],
                "failed": day["failed"],
                "x": round(index * slot + gap / 2, 2),
                "width": round(max(slot - gap, 0.5), 2),
                "ok_y": round(HEIGHT - ok_h, 2),
                "ok_h": round(ok_h, 2),
                "bad_y": round(HEIGHT - ok_h - bad_h, 2),
                "bad_h": round(bad_h, 2),
            }
        )
    return {"bars": bars, "peak": highest, "width": WIDTH, "height": HEIGHT}
