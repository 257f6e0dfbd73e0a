"""The SMTP configuration: read, written by an administrator, the password never read back."""

from __future__ import annotations

from tests.octosim.conftest import Api

PASSWORD = "smtp-Pa55-never-returned-4412"


def test_smtp_configuration_is_written_and_its_password_never_read_back(
    api: Api, ro_api: Api
) -> None:
    first = api.get("/api/smtpconfiguration")
    assert first["SmtpHost"] is None and first["SmtpPort"] == 25 and first["EnableSsl"] is False
    assert api.get("/api/smtpconfiguration/isconfigured")["IsConfigured"] is False
    body = {
        "SmtpHost": "smtp.dc.example",
        "SmtpPort": 587,
        "SendEmailFrom": "octopus@dc.example",
        "SmtpLogin": "octopus",
        "EnableSsl": True,
        "NewSmtpPassword": PASSWORD,
    }
    assert ro_api.put("/api/smtpconfiguration", body).status_code == 403
    saved = api.put("/api/smtpconfiguration", body)
    assert saved.status_code == 200 and PASSWORD not in saved.text
    doc = api.get("/api/smtpconfiguration")
    assert {k: doc[k] for k in body if k != "NewSmtpPassword"} == {
        k: v for k, v in body.items() if k != "NewSmtpPassword"
    }
    assert "NewSmtpPassword" not in doc and doc["LastModifiedBy"]
    assert api.get("/api/smtpconfiguration/isconfigured")["IsConfigured"] is True
    # A bad port is refused and nothing changes.
    bad = api.put("/api/smtpconfiguration", {**body, "SmtpPort": "587"})
    assert bad.status_code == 400 and "port" in " ".join(bad.json()["Errors"]).lower()
    assert api.put("/api/smtpconfiguration", {"SmtpHost": "x"}).status_code == 400
    assert api.get("/api/smtpconfiguration")["SmtpHost"] == "smtp.dc.example"
    root = api.get("/api")
    assert root["Links"]["SmtpConfiguration"].endswith("/api/smtpconfiguration")
