"""Who may see and change blueprints: administrators all of them; the managers of a
blueprint's management space that blueprint. Assigning a space also needs managing it."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from identity.access import can_manage_instance, can_manage_space, is_admin
from managed.models import Blueprint, BlueprintTarget, Customer, Split, TemplateProject
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


def visible_splits(user: Any) -> QuerySet[Split]:
    """Splits out of or into a space one manages."""
    if is_admin(user):
        return Split.objects.all()
    managed = Space.objects.manageable_by(user).values("pk")
    return Split.objects.filter(source__in=managed) | Split.objects.filter(target__in=managed)


def can_split(user: Any, source: Space, target: Space | None, instance: Any = None) -> bool:
    """Both spaces managed; a new target needs the right to create spaces on its instance."""
    if not can_manage_space(user, source):
        return False
    if target is not None:
        return can_manage_space(user, target)
    return instance is not None and can_manage_instance(user, instance)


def visible_customers(user: Any) -> QuerySet[Customer]:
    """Customers of management spaces one manages."""
    if is_admin(user):
        return Customer.objects.all()
    managed = Space.objects.manageable_by(user).values("pk")
    return Customer.objects.filter(management_space__in=managed)


def can_add_customer(user: Any, management_space: Space, instance: Any) -> bool:
    """Managing the management space, and creating spaces on the facade's instance."""
    return can_manage_space(user, management_space) and can_manage_instance(user, instance)


def can_manage_space_of(user: Any, customer: Customer) -> bool:
    """Resync a customer, replace its key: managing its management space."""
    return can_manage_space(user, customer.management_space)
