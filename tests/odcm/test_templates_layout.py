"""Templates live where CONVENTIONS.md says: every email under templates/emails/."""

from __future__ import annotations

from pathlib import Path


def test_every_email_template_is_in_the_one_emails_folder(project_root: Path) -> None:
    templates = project_root / "templates"
    stray = [
        str(p.relative_to(templates))
        for p in templates.rglob("*")
        if p.is_file() and "emails" in p.relative_to(templates).parts[1:-1]
    ]
    assert stray == []
    assert (templates / "emails" / "sharing_failing.txt").is_file()
