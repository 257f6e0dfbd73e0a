import pytest

from tests.conftest import PASSWORD, make_user


@pytest.mark.django_db(transaction=True)
def test_person_signs_in_through_the_login_page_and_sees_the_dashboard(live_server, page):
    make_user("ada", admin=True)
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    page.fill("#id_login", "ada")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=dashboard-title]")
    nav = page.inner_text("nav")
    for item in ("Dashboard", "Administration"):
        assert item in nav
    assert page.locator("#space-switcher").count() == 1


@pytest.mark.django_db(transaction=True)
def test_wrong_password_shows_one_generic_message(live_server, page):
    make_user("mia")
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_login", "mia")
    page.fill("#id_password", "not the password")
    page.click("button[type=submit]")
    message = page.inner_text("[data-testid=login-error]")
    assert "not correct" in message
