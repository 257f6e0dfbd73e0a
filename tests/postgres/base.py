"""PostgreSQL as the tests use it: Django's own backend, its tables emptied with DELETE.

A transactional test (``django_db(transaction=True)``, ``live_server``) ends with Django's
flush: one TRUNCATE of every table. TRUNCATE gives each table and index a new file, and each
new, empty btree index is written and fsynced on its own: with some 120 tables that took 1 to
7 s after every such test (the browser tests' "slow teardowns"). DELETE of the few rows a test
leaves takes a tenth of a second. The tables are locked first, as TRUNCATE locks them, so a
process still writing is waited for rather than interleaved with; foreign keys (deferrable,
as Django makes them) are checked at the commit, when every table is empty. Sequences go on
counting, as they did after the TRUNCATE. A flush that resets sequences or cascades to tables
it was not given (``reset_sequences``, ``available_apps``) stays Django's TRUNCATE.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base, operations


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(
        self,
        style: Any,
        tables: Any,
        *,
        reset_sequences: bool = False,
        allow_cascade: bool = False,
    ) -> list[str]:
        if not tables or reset_sequences or allow_cascade:
            return super().sql_flush(
                style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
            )
        names = [style.SQL_FIELD(self.quote_name(table)) for table in tables]
        return [
            f"{style.SQL_KEYWORD('LOCK TABLE')} {', '.join(names)} IN ACCESS EXCLUSIVE MODE;",
            f"{style.SQL_KEYWORD('SET CONSTRAINTS ALL DEFERRED')};",
            *(f"{style.SQL_KEYWORD('DELETE FROM')} {name};" for name in names),
        ]


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
