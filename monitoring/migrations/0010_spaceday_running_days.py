"""A running row count on the space/day rollups (``SpaceDay.run_days``), kept by the trigger.

The deployments report pages the rollup rows of a window and needs how many there are: an
exact count read every row of the window (91,000 at 1,000 spaces over 90 days). With the
number of rows through each day stored beside the other running totals, the count is two
index probes per space (the running count at the window's last row minus the one just before
its first), as the dashboard's sums are. The refresh function of migration 0009 now sets it
too; every existing row gets its count here.
"""

from typing import Any

from django.db import migrations, models

REFRESH = """
CREATE OR REPLACE FUNCTION monitoring_spaceday_refresh(spaces uuid[]) RETURNS void
LANGUAGE sql AS $$
    UPDATE monitoring_spaceday AS s
    SET run_succeeded = r.rs, run_failed = r.rf, run_canceled = r.rc, run_days = r.rd
    FROM (
        SELECT id,
            sum(succeeded) OVER w AS rs,
            sum(failed + timed_out) OVER w AS rf,
            sum(canceled) OVER w AS rc,
            count(*) OVER w AS rd
        FROM monitoring_spaceday
        WHERE space_id = ANY(spaces)
        WINDOW w AS (PARTITION BY space_id ORDER BY day)
    ) AS r
    WHERE s.id = r.id
      AND (s.run_succeeded, s.run_failed, s.run_canceled, s.run_days)
          IS DISTINCT FROM (r.rs, r.rf, r.rc, r.rd)
$$;
"""

# Migration 0009's function, for going back.
PREVIOUS = """
CREATE OR REPLACE FUNCTION monitoring_spaceday_refresh(spaces uuid[]) RETURNS void
LANGUAGE sql AS $$
    UPDATE monitoring_spaceday AS s
    SET run_succeeded = r.rs, run_failed = r.rf, run_canceled = r.rc
    FROM (
        SELECT id,
            sum(succeeded) OVER w AS rs,
            sum(failed + timed_out) OVER w AS rf,
            sum(canceled) OVER w AS rc
        FROM monitoring_spaceday
        WHERE space_id = ANY(spaces)
        WINDOW w AS (PARTITION BY space_id ORDER BY day)
    ) AS r
    WHERE s.id = r.id
      AND (s.run_succeeded, s.run_failed, s.run_canceled) IS DISTINCT FROM (r.rs, r.rf, r.rc)
$$;
"""

FILL = (
    "SELECT monitoring_spaceday_refresh(ARRAY(SELECT DISTINCT space_id FROM monitoring_spaceday))"
)


def create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(REFRESH)
            cursor.execute(FILL)


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(PREVIOUS)


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0009_spaceday_running_totals"),
        ("spaces", "0002_registry"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="spaceday",
            name="spaceday_unique",
        ),
        migrations.AddField(
            model_name="spaceday",
            name="run_days",
            field=models.BigIntegerField(default=0, db_default=0, editable=False),
        ),
        migrations.RunPython(create, drop),
        migrations.AddConstraint(
            model_name="spaceday",
            constraint=models.UniqueConstraint(
                fields=("space", "day"),
                include=(
                    "succeeded",
                    "failed",
                    "timed_out",
                    "canceled",
                    "run_succeeded",
                    "run_failed",
                    "run_canceled",
                    "run_days",
                ),
                name="spaceday_unique",
            ),
        ),
    ]
