"""A CR or LF in an instance's name never stops its alert emails."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from monitoring.models import Notification
from monitoring.services import alerts
from octosim.testing import SimInstance
from odcm.mail import header_text
from spaces.models import Instance
from tests.monitoring.conftest import SmtpServer
from tests.monitoring.test_alerts import go_offline


@pytest.mark.django_db
def test_offline_alert_for_an_instance_named_with_cr_lf_is_sent_on_one_subject_line(
    sim_instance: SimInstance,
    enlist: Callable[..., Instance],
    smtp_server: SmtpServer,
    space_owner: Any,
) -> None:
    instance = enlist(sim_instance, owners=[space_owner])
    Instance.objects.filter(pk=instance.pk).update(name="Prod\r\nBcc: victim@example.com\n")
    go_offline(sim_instance, instance)
    assert alerts.dispatch()["sent"] == 1
    notification = Notification.objects.get()
    assert notification.state == "sent" and notification.last_error == ""
    (message,) = smtp_server.sink.messages
    assert str(message["Subject"]) == "[ODCM] Prod Bcc: victim@example.com is offline"
    assert message["Bcc"] is None


def test_header_text_puts_any_name_on_one_line() -> None:
    assert header_text("a\r\nb\tc\u2028d\x00e\x85f") == "a b c d e f"
    assert len(header_text("x" * 1000)) == 200


@pytest.mark.django_db
def test_one_unsendable_alert_email_does_not_hold_up_the_others(
    sim_instance: SimInstance,
    enlist: Callable[..., Instance],
    smtp_server: SmtpServer,
    space_owner: Any,
    admin_user: Any,
) -> None:
    from identity.models import User
    from monitoring.models import AlertSettings

    AlertSettings.objects.create(user=admin_user, all_instances=True)
    User.objects.filter(pk=admin_user.pk).update(email="ada\r\n@example.com")
    instance = enlist(sim_instance, owners=[space_owner])
    go_offline(sim_instance, instance)
    outcome = alerts.dispatch()
    assert outcome["sent"] == 1 and outcome["failed"] == 1
    assert [str(m["To"]) for m in smtp_server.sink.messages] == ["owen@example.com"]
    stuck = Notification.objects.get(state="pending")
    assert stuck.last_error and stuck.next_attempt_at is not None
