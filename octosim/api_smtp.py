"""The instance's SMTP configuration (``/api/smtpconfiguration``), one document per server.

Shape as Octopus.Client's ``SmtpConfigurationResource``: ``SmtpHost``, ``SmtpPort``
(required on PUT), ``SendEmailFrom``, ``SmtpLogin``, ``EnableSsl``; the password is written as
``NewSmtpPassword`` and never read back (the GET carries no password field at all).
"""

from __future__ import annotations

from typing import Any

from octosim import resources as R
from octosim.errors import invalid
from octosim.routing import Ctx, Reply, Router
from octosim.state import Doc, now

SELF = "/api/smtpconfiguration"
TEXT_FIELDS = ("SmtpHost", "SendEmailFrom", "SmtpLogin")


def _smtp(ctx: Ctx) -> Doc:
    config = ctx.st.sys("configuration")
    if "smtp" not in config:
        config["smtp"] = {
            "Id": "smtp",
            "SmtpHost": None,
            "SmtpPort": 25,
            "SendEmailFrom": None,
            "SmtpLogin": None,
            "EnableSsl": False,
            "LastModifiedOn": None,
            "LastModifiedBy": None,
        }
    return config["smtp"]


def _render(doc: Doc) -> dict[str, Any]:
    shown = {k: v for k, v in doc.items() if k != "_password"}
    return {**shown, "Links": {"Self": SELF, "IsConfigured": f"{SELF}/isconfigured"}}


def get_smtp(ctx: Ctx) -> Reply:
    return 200, _render(_smtp(ctx))


def put_smtp(ctx: Ctx) -> Reply:
    body = ctx.json_body()
    port = body.get("SmtpPort")
    # bool is an int in Python; Octopus's int? binding refuses true/false.
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise invalid("Please provide a valid SMTP port (1-65535).")
    for field in TEXT_FIELDS:
        if body.get(field) is not None and not isinstance(body[field], str):
            raise invalid(f"The {field} field must be a string.")
    if "EnableSsl" in body and not isinstance(body["EnableSsl"], bool):
        raise invalid("The EnableSsl field must be true or false.")
    doc = _smtp(ctx)
    for field in TEXT_FIELDS:
        if field in body:
            doc[field] = body[field] or None
    doc["SmtpPort"] = port
    doc["EnableSsl"] = bool(body.get("EnableSsl", doc["EnableSsl"]))
    if body.get("NewSmtpPassword") is not None:  # absent or null keeps the stored one
        doc["_password"] = str(body["NewSmtpPassword"])
    R.stamp(doc, ctx.username, now())
    return 200, _render(doc)


def is_configured(ctx: Ctx) -> Reply:
    doc = _smtp(ctx)
    return 200, {
        "Id": "smtp-isconfigured",
        "IsConfigured": bool(doc["SmtpHost"]),
        "LastModifiedOn": doc["LastModifiedOn"],
        "LastModifiedBy": doc["LastModifiedBy"],
        "Links": {"Self": f"{SELF}/isconfigured"},
    }


def register(router: Router) -> None:
    router.system("GET", "/smtpconfiguration", get_smtp)
    router.system("PUT", "/smtpconfiguration", put_smtp, permission="AdministerSystem")
    router.system("GET", "/smtpconfiguration/isconfigured", is_configured)
