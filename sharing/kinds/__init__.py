"""Kinds of shared items. The broker looks a kind up here by ``SharedItem.kind``."""

from __future__ import annotations

from .base import (
    Calls,
    Change,
    ContentError,
    CountingClient,
    DeliveryProblem,
    Inspection,
    Kind,
    MissingEnvironment,
    Target,
    Written,
)
from .step_template import StepTemplateKind
from .variable_set import VariableSetKind

KINDS: dict[str, Kind] = {k.key: k for k in (VariableSetKind(), StepTemplateKind())}


def kind_for(key: str) -> Kind:
    return KINDS[key]


__all__ = [
    "Calls",
    "KINDS",
    "Change",
    "ContentError",
    "CountingClient",
    "DeliveryProblem",
    "Inspection",
    "Kind",
    "MissingEnvironment",
    "StepTemplateKind",
    "Target",
    "VariableSetKind",
    "Written",
    "kind_for",
]
