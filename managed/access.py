"""Who may see and change blueprints: administrators all of them; the managers of a
blueprint's management space that blueprint. Assigning a space also needs managing it."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from identity.access import can_manage_space, is_admin
from managed.models import Blueprint, BlueprintTarget, TemplateProject
from spaces.models import Space


def visible_blueprints(user: Any) -> QuerySet[Blueprint]:
    if is_admin(user):
        return Blueprint.objects.all()
    managed = Space.objects.manageable_by(user).values("pk")
    return Blueprint.objects.filter(management_space__in=managed)


def visible_targets(user: Any) -> QuerySet[BlueprintTarget]:
    """Targets of the blueprints one may see, and those on spaces one may see."""
    if is_admin(user):
        return BlueprintTarget.objects.all()
    spaces = Space.objects.visible_to(user).values("pk")
    blueprints = visible_blueprints(user).values("pk")
    return BlueprintTarget.objects.filter(space__in=spaces) | BlueprintTarget.objects.filter(
        blueprint__in=blueprints
    )


def can_edit(user: Any, blueprint: Blueprint) -> bool:
    if is_admin(user):
        return True
    space = blueprint.management_space
    return space is not None and can_manage_space(user, space)


def can_assign(user: Any, space: Space) -> bool:
    return is_admin(user) or can_manage_space(user, space)


def visible_templates(user: Any) -> QuerySet[TemplateProject]:
    """Templates of spaces one may see."""
    if is_admin(user):
        return TemplateProject.objects.all()
    return TemplateProject.objects.filter(space__in=Space.objects.visible_to(user).values("pk"))


def can_edit_template(user: Any, template: TemplateProject) -> bool:
    return is_admin(user) or can_manage_space(user, template.space)
