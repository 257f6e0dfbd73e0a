"""Running totals on the space/day rollups, kept true by a PostgreSQL trigger.

A dashboard window's sum per space becomes two index probes (the running total at the
window's last row minus the one just before its first) instead of a scan of every day in
the window. The trigger recomputes the running totals of every space a statement touched,
whoever writes (the pull, retention's compaction, a bulk load, a test), and writes only the
rows whose totals changed; recomputing rather than adding makes it idempotent. A statement
takes one transaction-scoped advisory lock first, so two writers never refresh the same
space from different snapshots. On SQLite (the demo) there is no trigger and the dashboard
sums the window instead (see monitoring.services.figures).
"""

from typing import Any

from django.db import migrations, models

# pg_advisory_xact_lock key for writes to monitoring_spaceday ("ODCM" + table number).
LOCK_KEY = 4_079_009

CREATE = f"""
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

CREATE OR REPLACE FUNCTION monitoring_spaceday_lock() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() = 1 THEN
        PERFORM pg_advisory_xact_lock({LOCK_KEY});
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION monitoring_spaceday_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() = 1 THEN
        PERFORM monitoring_spaceday_refresh(ARRAY(SELECT DISTINCT space_id FROM new_rows));
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION monitoring_spaceday_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() = 1 THEN
        PERFORM monitoring_spaceday_refresh(ARRAY(
            SELECT space_id FROM new_rows UNION SELECT space_id FROM old_rows));
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION monitoring_spaceday_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() = 1 THEN
        PERFORM monitoring_spaceday_refresh(ARRAY(SELECT DISTINCT space_id FROM old_rows));
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER monitoring_spaceday_lock BEFORE INSERT OR UPDATE OR DELETE
    ON monitoring_spaceday FOR EACH STATEMENT EXECUTE FUNCTION monitoring_spaceday_lock();
CREATE TRIGGER monitoring_spaceday_inserted AFTER INSERT ON monitoring_spaceday
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION monitoring_spaceday_inserted();
CREATE TRIGGER monitoring_spaceday_updated AFTER UPDATE ON monitoring_spaceday
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION monitoring_spaceday_updated();
CREATE TRIGGER monitoring_spaceday_deleted AFTER DELETE ON monitoring_spaceday
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION monitoring_spaceday_deleted();

SELECT monitoring_spaceday_refresh(ARRAY(SELECT DISTINCT space_id FROM monitoring_spaceday));
"""

DROP = """
DROP TRIGGER IF EXISTS monitoring_spaceday_lock ON monitoring_spaceday;
DROP TRIGGER IF EXISTS monitoring_spaceday_inserted ON monitoring_spaceday;
DROP TRIGGER IF EXISTS monitoring_spaceday_updated ON monitoring_spaceday;
DROP TRIGGER IF EXISTS monitoring_spaceday_deleted ON monitoring_spaceday;
DROP FUNCTION IF EXISTS monitoring_spaceday_lock();
DROP FUNCTION IF EXISTS monitoring_spaceday_inserted();
DROP FUNCTION IF EXISTS monitoring_spaceday_updated();
DROP FUNCTION IF EXISTS monitoring_spaceday_deleted();
DROP FUNCTION IF EXISTS monitoring_spaceday_refresh(uuid[]);
"""


def create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        # Without parameters psycopg sends the script as one simple query.
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(CREATE)


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0008_task_queues"),
        ("spaces", "0002_registry"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="spaceday",
            name="spaceday_unique",
        ),
        migrations.AddField(
            model_name="spaceday",
            name="run_canceled",
            field=models.BigIntegerField(default=0, db_default=0, editable=False),
        ),
        migrations.AddField(
            model_name="spaceday",
            name="run_failed",
            field=models.BigIntegerField(default=0, db_default=0, editable=False),
        ),
        migrations.AddField(
            model_name="spaceday",
            name="run_succeeded",
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
                ),
                name="spaceday_unique",
            ),
        ),
    ]
