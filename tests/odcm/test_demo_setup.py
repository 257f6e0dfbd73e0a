import io

import pytest
from django.core.management import call_command

from identity.models import User

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("demo_setup", *args, stdout=out)
    return out.getvalue()


def test_admin_password_is_printed_once_and_stored_hashed():
    first = run()
    password = first.split("password: ")[1].split()[0]
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password)
    assert password not in admin.password
    again = run()
    assert password not in again and "make demo-password" in again


def test_reset_gives_admin_a_new_password():
    old = run().split("password: ")[1].split()[0]
    new = run("--reset").split("password: ")[1].split()[0]
    assert new != old
    assert User.objects.get(username="admin").check_password(new)
