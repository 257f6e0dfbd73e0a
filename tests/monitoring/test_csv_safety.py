"""CSV downloads never carry a spreadsheet formula from a name or a region."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from odcm.csvout import safe_cell
from spaces.models import Instance, Space
from tests.monitoring.test_dashboard import build

pytestmark = pytest.mark.django_db

HOSTILE = ["+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
           '=HYPERLINK("https://evil.example","x")', "\t=1+1", "\r=1+1"]  # fmt: skip


def test_spaces_report_csv_neutralises_formulas(login, admin_user) -> None:
    build(1, len(HOSTILE))
    Instance.objects.update(region=HOSTILE[3])
    for space, name in zip(Space.objects.order_by("octopus_id"), HOSTILE, strict=False):
        Space.objects.filter(pk=space.pk).update(name=name)
    body = login(admin_user).get("/monitoring/reports/spaces.csv?tf=7d").content.decode()
    rows = list(csv.reader(io.StringIO(body)))[1:]
    assert len(rows) == len(HOSTILE)
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
    names = sorted(row[2] for row in rows)
    assert names == sorted("'" + h for h in HOSTILE)


def test_numbers_stay_numbers() -> None:
    assert safe_cell(-3) == -3 and safe_cell(0.5) == 0.5 and safe_cell(None) == ""
    assert safe_cell("plain") == "plain"


def test_every_csv_writer_goes_through_the_safe_helper() -> None:
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for top in sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()):
        if top.name.startswith(".") or top.name in {"tests", "var", "node_modules"}:
            continue
        for path in top.rglob("*.py"):
            if path.relative_to(root) == Path("odcm/csvout.py"):
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            if re.search(r"\bcsv\.(writer|DictWriter)\(", text):
                offenders.append(str(path.relative_to(root)))
    assert offenders == [], "write CSV with odcm.csvout.writer"
