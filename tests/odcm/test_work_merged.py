"""Work queued by many calls in one transaction, sent once at commit (odcm.work.enqueue_merged)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from odcm import work

pytestmark = pytest.mark.django_db


def test_ids_queued_in_one_transaction_are_sent_once_together(
    django_capture_on_commit_callbacks: Any,
) -> None:
    sent: list[list[str]] = []

    def split(ids: list[str]) -> list[list[str]]:
        sent.append(ids)
        return []  # observed only: no task is sent

    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        work.enqueue_merged("odcm.tests.nothing", ["b", "a"], split=split)
        with transaction.atomic():  # a nested service call (a savepoint)
            work.enqueue_merged("odcm.tests.nothing", ["c", "a"], split=split)
        work.enqueue_merged("odcm.tests.nothing", [], split=split)

    assert len(callbacks) == 1
    assert sent == [["a", "b", "c"]]


def test_ids_queued_in_a_savepoint_rolled_back_first_are_not_sent(
    django_capture_on_commit_callbacks: Any,
) -> None:
    sent: list[list[str]] = []

    def split(ids: list[str]) -> list[list[str]]:
        sent.append(ids)
        return []

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        try:
            with transaction.atomic():
                work.enqueue_merged("odcm.tests.nothing", ["gone"], split=split)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        work.enqueue_merged("odcm.tests.nothing", ["kept"], split=split)

    assert sent == [["kept"]]
