"""The one place that decides what a user may see and manage.

Every page, API endpoint, report and the switcher get their spaces and instances from
``visible_spaces(user)`` / ``visible_instances(user)``; anything else is a 404.

Today: ODCM administrators see everything; an instance's owners see that instance and its
spaces. The identity issue adds group grants (Viewer, Deployer, Space manager) here.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from spaces.models import Instance, Space


def _active(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def is_admin(user: Any) -> bool:
    return _active(user) and bool(user.is_superuser)


def visible_instances(user: Any) -> QuerySet[Instance]:
    if not _active(user):
        return Instance.objects.none()
    if user.is_superuser:
        return Instance.objects.all()
    return Instance.objects.filter(owners=user).distinct()


def visible_spaces(user: Any) -> QuerySet[Space]:
    if not _active(user):
        return Space.objects.none()
    if user.is_superuser:
        return Space.objects.all()
    return Space.objects.filter(instance__owners=user).distinct()


def can_manage_instance(user: Any, instance: Instance) -> bool:
    """Change settings, refresh, rotate its key, enlist its spaces, create spaces on it."""
    if is_admin(user):
        return True
    return _active(user) and instance.owners.filter(pk=user.pk).exists()


def can_manage_space(user: Any, space: Space) -> bool:
    return can_manage_instance(user, space.instance)
