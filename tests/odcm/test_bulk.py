"""odcm.bulk.update_each: many rows, each with its own values, in one statement, only where
each row's conditions hold (real PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from odcm.bulk import update_each
from spaces.models import Instance, Space

pytestmark = pytest.mark.django_db


def spaces(count: int) -> list[Space]:
    inst = Instance.objects.create(name="bulk", slug="bulk", base_url="https://o.example")
    return [
        Space.objects.create(
            instance=inst, octopus_id=f"Spaces-{n}", name=f"S{n}", slug=f"s{n}", target_count=5
        )
        for n in range(count)
    ]


def test_each_row_gets_its_own_values_in_one_statement_where_its_conditions_hold():
    rows = spaces(4)
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    values = [
        {"id": rows[0].pk, "slug": "s0", "name": "first", "project_count": 5},  # 5 >= 5
        {"id": rows[1].pk, "slug": "s1", "name": "second's", "project_count": 9},
        {"id": rows[2].pk, "slug": "s2", "name": "low", "project_count": 4},  # 5 > 4: no
        {"id": rows[3].pk, "slug": "other", "name": "wrong slug", "project_count": 9},  # no
    ]

    with CaptureQueriesContext(connection) as ctx:
        done = update_each(
            Space,
            values,
            fields=["name", "project_count"],
            match=("id", "slug"),
            where=[("target_count", "<=", "project_count")],
            also={"description": "set", "counts_updated_at": when},
        )

    assert len(ctx.captured_queries) == 1
    assert sorted(done) == sorted([rows[0].pk, rows[1].pk])
    got = {s.pk: s for s in Space.objects.all()}
    assert (got[rows[0].pk].name, got[rows[0].pk].project_count) == ("first", 5)
    assert (got[rows[1].pk].name, got[rows[1].pk].project_count) == ("second's", 9)
    assert got[rows[1].pk].description == "set" and got[rows[1].pk].counts_updated_at == when
    for untouched in (rows[2], rows[3]):
        row = got[untouched.pk]
        assert (row.name, row.project_count, row.description) == (untouched.name, None, "")


def test_nulls_are_written_and_no_rows_means_no_statement():
    rows = spaces(2)
    Space.objects.update(project_count=3)
    done = update_each(
        Space,
        [{"id": r.pk, "project_count": None} for r in rows],
        fields=["project_count"],
    )
    assert sorted(done) == sorted(r.pk for r in rows)
    assert set(Space.objects.values_list("project_count", flat=True)) == {None}
    with CaptureQueriesContext(connection) as ctx:
        assert update_each(Space, [], fields=["name"]) == []
    assert not ctx.captured_queries
