"""A CR or LF in a space's name never loses a sharing-failure email, one unsendable message
never blocks the others, and the sweep never raises."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from identity.models import User
from sharing import tasks
from sharing.models import Subscription
from sharing.services import alerts
from spaces.models import Space

from .conftest import make_set, space_of, subscribe, trust

pytestmark = pytest.mark.django_db


def _failing_long(sub: Subscription) -> None:
    Subscription.objects.filter(pk=sub.pk).update(failing_since=timezone.now() - timedelta(days=1))


def test_failure_email_for_a_space_named_with_cr_lf_is_sent(pair, mailoutbox):
    sub = subscribe(make_set(pair["publisher"]), pair["subscriber"])
    Space.objects.filter(pk=pair["subscriber"].pk).update(name="Ops\r\nBcc: victim@example.com")
    _failing_long(sub)
    assert alerts.check_failures() == 1
    (message,) = mailoutbox
    assert "\n" not in message.subject and "Bcc: victim" in message.subject
    assert message.message()["Bcc"] is None


def test_one_unsendable_message_does_not_block_the_others_and_is_tried_again(
    pair, mailoutbox, member
):
    # A second publisher whose only owner has an address no mail server takes.
    other = space_of(pair["inst_b"], "Spaces-2")
    pair["inst_b"].owners.add(member)
    User.objects.filter(pk=member.pk).update(email="mia\r\n@example.com")
    trust(other, pair["publisher"])
    bad = subscribe(make_set(other, name="Other set"), pair["publisher"])
    good = subscribe(make_set(pair["publisher"]), pair["subscriber"])
    _failing_long(bad)
    _failing_long(good)
    tasks.sweep()  # never raises
    assert [m.to for m in mailoutbox] == [["owen@example.com"]]
    assert Subscription.objects.get(pk=good.pk).alert_sent_at is not None
    assert Subscription.objects.get(pk=bad.pk).alert_sent_at is None  # tried again later
    assert alerts.check_failures() == 0
