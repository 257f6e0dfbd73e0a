"""Run by test_sqlite_demo.py in a child process configured like `make demo` (SQLite)."""

import re

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from identity.models import User  # noqa: E402
from odcm.crypto import seal  # noqa: E402
from spaces.models import Instance, Space  # noqa: E402

call_command("migrate", verbosity=0)
call_command("collectstatic", "--noinput", verbosity=0)
admin = User.objects.create_superuser("admin", "admin@example.com", "a-long-demo-password")
instance = Instance.objects.create(
    name="brisbane", slug="brisbane", base_url="http://127.0.0.1:9/b"
)
seal(instance, "api_key", "API-SMOKETEST0000000000000000")
instance.save()
Space.objects.create(
    instance=instance, octopus_id="Spaces-1", name="Default", slug="default", is_default=True
)

client = Client()
client.force_login(admin)
seen: set[str] = set()
queue = ["/"]
while queue:
    path = queue.pop()
    if path in seen or len(seen) > 60:
        continue
    seen.add(path)
    response = client.get(path, follow=True)  # e.g. MFA pages ask to re-authenticate first
    assert response.status_code == 200, f"{path} answered {response.status_code}"
    if "text/html" in response.get("Content-Type", ""):
        for link in re.findall(r'href="(/[^"#?]*)"', response.content.decode()):
            if not link.startswith(("/static/", "/accounts/logout", "/django-admin/", "/api/")):
                queue.append(link)
print(f"rendered {len(seen)} pages")
