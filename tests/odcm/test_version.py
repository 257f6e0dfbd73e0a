"""The version, written once in pyproject.toml, shown in the footer and the metrics."""

import tomllib

import pytest

import odcm
from tests.fixtures.processes import ROOT


def test_the_version_is_the_one_in_pyproject():
    with (ROOT / "pyproject.toml").open("rb") as file:
        assert odcm.version() == tomllib.load(file)["project"]["version"]


def test_the_version_is_in_the_changelog():
    assert f"## {odcm.version()} " in (ROOT / "CHANGELOG.md").read_text()


@pytest.mark.django_db
def test_every_page_shows_the_version_in_its_footer(client, login, admin_user):
    for page in (client.get("/accounts/login/"), login(admin_user).get("/")):
        footer = page.content.decode().split('id="footer"', 1)[1].split("</footer>", 1)[0]
        assert f"ODCM {odcm.version()}" in footer
