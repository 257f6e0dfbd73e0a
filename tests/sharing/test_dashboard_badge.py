"""The dashboard counts failed and drifted subscriptions the user may see."""

import pytest

from sharing.models import Subscription
from tests.sharing.conftest import make_set, subscribe

pytestmark = pytest.mark.django_db


def test_dashboard_badge_counts_failed_and_drifted_subscriptions(pair, login, admin_user):
    item = make_set(pair["publisher"])
    sub = subscribe(item, pair["subscriber"])
    Subscription.objects.filter(pk=sub.pk).update(status=Subscription.Status.FAILED)
    page = login(admin_user).get("/").content.decode()
    assert 'data-testid="sharing-badge"' in page
    assert "1 failed" in page
    Subscription.objects.filter(pk=sub.pk).update(status=Subscription.Status.DRIFTED)
    page = login(admin_user).get("/").content.decode()
    assert "1 drifted" in page and "1 failed" not in page


def test_dashboard_badge_shows_nothing_of_subscriptions_the_user_cannot_see(pair, login, outsider):
    item = make_set(pair["publisher"])
    sub = subscribe(item, pair["subscriber"])
    Subscription.objects.filter(pk=sub.pk).update(status=Subscription.Status.FAILED)
    page = login(outsider).get("/").content.decode()
    assert "1 failed" not in page
