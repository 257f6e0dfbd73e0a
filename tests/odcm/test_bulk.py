"""odcm.bulk.update_each: many rows, each with its own values, in one statement, only where
each row's conditions hold (real PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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


def test_one_array_per_column_whatever_the_rows_json_fks_nulls_and_datetimes():
    from managed.models import Blueprint

    rows = spaces(3)
    prints = [Blueprint.objects.create(name=f"B{n}", slug=f"b{n}") for n in range(300)]
    when = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    regions: list[object] = [
        ["eu", "us"],
        {"quote": 'it\'s "x"', "slash": "a\\b", "unicode": "é—✓", "nested": [1, None, {"k": []}]},
        [],
        "text",
        7,
    ]
    values: list[dict[str, Any]] = [
        {
            "id": bp.pk,
            "regions": regions[n % len(regions)],
            "description": "" if n % 2 else f"d{n}",
            "latest_revision": n,
            "management_space": rows[n % 3].pk if n % 4 else None,
        }
        for n, bp in enumerate(prints)
    ]
    fields = ["regions", "description", "latest_revision", "management_space"]
    with CaptureQueriesContext(connection) as ctx:
        done = update_each(Blueprint, values, fields=fields, also={"updated_at": when})
    assert len(ctx.captured_queries) == 1
    assert (
        "unnest(" in ctx.captured_queries[0]["sql"]
        and "VALUES" not in ctx.captured_queries[0]["sql"]
    )
    assert sorted(done) == sorted(bp.pk for bp in prints)
    got = {bp.pk: bp for bp in Blueprint.objects.all()}
    for want in values:
        row = got[want["id"]]
        assert row.regions == want["regions"]
        assert (row.description, row.latest_revision) == (
            want["description"],
            want["latest_revision"],
        )
        assert row.management_space_id == want["management_space"]
        assert row.updated_at == when

    # Datetimes (with microseconds), NULL and not, per row.
    stamps = [when, None, datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)]
    update_each(
        Space,
        [{"id": r.pk, "counts_updated_at": t} for r, t in zip(rows, stamps, strict=True)],
        fields=["counts_updated_at"],
    )
    assert [Space.objects.get(pk=r.pk).counts_updated_at for r in rows] == stamps


def test_a_value_too_long_for_its_column_fails_and_writes_nothing():
    # Not cut to fit, as a cast to varchar(200) would do (the first row, with VALUES).
    from django.db import DataError, transaction

    rows = spaces(2)
    with pytest.raises(DataError), transaction.atomic():
        update_each(
            Space,
            [{"id": rows[0].pk, "name": "x" * 201}, {"id": rows[1].pk, "name": "ok"}],
            fields=["name"],
        )
    assert sorted(Space.objects.values_list("name", flat=True)) == ["S0", "S1"]
