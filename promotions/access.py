"""Who may see and do what in promotions: everything hangs off a space, so the spaces'
visibility rule (``Space.objects.visible_to`` / ``manageable_by``) decides; remote spaces
are configuration of the whole ODCM, changed by administrators."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from identity.access import can_manage_space, is_admin
from spaces.models import Space

from .models import InboundBundle, Promotion, Route, SpaceIdentity, Trust


def visible_spaces(user: Any) -> QuerySet[Space]:
    return Space.objects.visible_to(user)


def identities(user: Any) -> QuerySet[SpaceIdentity]:
    return SpaceIdentity.objects.filter(space__in=visible_spaces(user)).select_related("space")


def trusts(user: Any) -> QuerySet[Trust]:
    return Trust.objects.filter(space__in=visible_spaces(user)).select_related("space", "remote")


def inbox(user: Any) -> QuerySet[InboundBundle]:
    return InboundBundle.objects.filter(space__in=visible_spaces(user)).select_related(
        "space", "source"
    )


def promotions(user: Any) -> QuerySet[Promotion]:
    return Promotion.objects.filter(space__in=visible_spaces(user)).select_related(
        "space", "target"
    )


def routes(user: Any) -> QuerySet[Route]:
    return Route.objects.filter(space__in=visible_spaces(user)).select_related("space")


def can_manage(user: Any, space: Space) -> bool:
    return bool(can_manage_space(user, space))


def can_manage_remotes(user: Any) -> bool:
    return bool(is_admin(user))
