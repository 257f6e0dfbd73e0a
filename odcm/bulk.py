"""Many rows, each with its own values, written in one statement.

Django's ``bulk_update`` builds a ``CASE WHEN pk = … THEN …`` expression per field and row and
resolves each one through the ORM: for a fan-out's batch of 125 delivery rows that cost more
CPU than the requests to Octopus. On PostgreSQL :func:`update_each` sends one
``UPDATE … FROM unnest(%s::uuid[], %s::text[], …)`` instead (one array parameter per
column, so the statement stays short and psycopg caches its parsing), with the values adapted
by each field as ``save()`` would; elsewhere (the SQLite demo) it falls back to one ``UPDATE``
per row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django.db import connections, models, router

# Operators a row's own value may be compared with (``where``): never taken from input.
_OPERATORS = {"=": "=", "<=": "<=", ">=": ">=", "<": "<", ">": ">"}


def update_each(
    model: type[models.Model],
    rows: Sequence[dict[str, Any]],
    *,
    fields: Sequence[str],
    match: Sequence[str] = ("pk",),
    where: Sequence[tuple[str, str, str]] = (),
    also: dict[str, Any] | None = None,
) -> list[Any]:
    """For each of ``rows`` (a dict of field name to value; the primary key under its field
    name), set its ``fields`` on the row
    whose ``match`` fields equal the dict's and for which every ``(column, op, field)`` of
    ``where`` holds (``column op`` the dict's ``field`` value, e.g. ``("target_revision",
    "<=", "delivered_revision")``); ``also`` sets the same values on every row. Returns
    the primary keys of the rows updated. One statement on PostgreSQL; one per row
    elsewhere."""
    if not rows:
        return []
    opts = model._meta
    pk_name = opts.pk.name
    match = [pk_name if name == "pk" else name for name in match]
    db = router.db_for_write(model)
    connection = connections[db]
    also = also or {}
    if connection.vendor != "postgresql":
        return _one_by_one(model, rows, fields, match, where, also, db)
    keys = list(dict.fromkeys([*match, *fields, *(value for _c, _o, value in where)]))
    columns = {name: _concrete(model, name) for name in keys}
    quote = connection.ops.quote_name
    # One array per column, unnested side by side: a statement of a few parameters whatever the
    # number of rows, so psycopg parses (and caches) its placeholders once, not ~2,000 a time.
    params: list[Any] = []
    arrays = []
    for name in keys:
        field = columns[name]
        params.append([field.get_db_prep_save(row[name], connection) for row in rows])
        arrays.append(f"%s::{_array_type(field, connection)}")
    alias = ", ".join(quote(f"v_{name}") for name in keys)
    sets = [f"{quote(_column(columns[n]))} = v.{quote('v_' + n)}" for n in fields]
    constants: list[Any] = []
    for name, value in also.items():
        field = _concrete(model, name)
        sets.append(f"{quote(_column(field))} = %s")
        constants.append(field.get_db_prep_save(value, connection))
    conditions = [f"t.{quote(_column(columns[n]))} = v.{quote('v_' + n)}" for n in match]
    for column, op, value in where:
        target = _column(_concrete(model, column))
        conditions.append(f"t.{quote(target)} {_OPERATORS[op]} v.{quote('v_' + value)}")
    sql = (
        f"UPDATE {quote(opts.db_table)} AS t SET {', '.join(sets)} "
        f"FROM unnest({', '.join(arrays)}) AS v ({alias}) "
        f"WHERE {' AND '.join(conditions)} RETURNING t.{quote(_column(opts.pk))}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*constants, *params])
        return [opts.pk.to_python(pk) for (pk,) in cursor.fetchall()]


def _concrete(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or field.column is None:
        raise ValueError(f"{model.__name__}.{name} is not a column")
    return field


def _array_type(field: models.Field[Any, Any], connection: Any) -> str:
    """The array type a column's values are sent as: its type without a length or precision
    (``varchar(200)`` -> ``varchar[]``), so an over-long value fails on assignment as it would
    in ``save()`` instead of being cut by the cast."""
    db_type = field.db_type(connection)
    if db_type is None or db_type.endswith("]"):
        # unnest() would flatten an array column's values: not supported.
        raise ValueError(f"{field.model.__name__}.{field.name} cannot be sent as an array")
    return re.sub(r"\s*\(.*\)$", "", db_type) + "[]"


def _column(field: models.Field[Any, Any]) -> str:
    assert field.column is not None  # _concrete checked it
    return field.column


def _one_by_one(
    model: type[models.Model],
    rows: Sequence[dict[str, Any]],
    fields: Sequence[str],
    match: Sequence[str],
    where: Sequence[tuple[str, str, str]],
    also: dict[str, Any],
    db: str,
) -> list[Any]:
    lookups = {"=": "exact", "<=": "lte", ">=": "gte", "<": "lt", ">": "gt"}
    done = []
    for row in rows:
        criteria = {name: row[name] for name in match}
        for column, op, value in where:
            criteria[f"{column}__{lookups[op]}"] = row[value]
        if (
            model._default_manager.using(db)
            .filter(**criteria)
            .update(**{name: row[name] for name in fields}, **also)
        ):
            done.append(row[model._meta.pk.name])
    return done
