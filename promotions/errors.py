"""The one error promotions' services raise: a message for people, safe to show."""

from __future__ import annotations

from odcm.errors import ServiceError


class PromotionError(ServiceError):
    """A promotion step refused or failed; the message says why and what to do."""


class Refused(PromotionError):
    """An inbound bundle or receipt failed verification; nothing was stored."""

    default_code = "refused"
