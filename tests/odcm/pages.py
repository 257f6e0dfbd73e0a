"""What the front-end tests need: a small site in the database and an HTML inspector."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from django.urls import reverse

from identity import services as identity_services
from identity.models import User
from odcm.crypto import seal
from sharing.models import SharedItem
from sharing.services import items
from spaces.models import Instance, Space

INTERACTIVE = {"a", "button", "input", "select", "textarea"}


@dataclass
class Page:
    """What one HTML page holds that the content security policy and accessibility care about."""

    ids: set[str] = field(default_factory=set)
    described_by: list[str] = field(default_factory=list)
    inline_scripts: int = 0
    style_blocks: int = 0
    style_attributes: list[str] = field(default_factory=list)
    event_handlers: list[str] = field(default_factory=list)
    nested_in_links: list[str] = field(default_factory=list)
    active_nav: list[str] = field(default_factory=list)
    sort_links: dict[str, str] = field(default_factory=dict)
    icons: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self.links = 0
        self.in_nav_link = False
        self.text_target: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        page = self.page
        if "id" in a:
            page.ids.add(a["id"])
        page.described_by += a.get("aria-describedby", "").split()
        page.classes += a.get("class", "").split()
        page.event_handlers += [f"{tag} {k}" for k in a if k.startswith("on")]
        if "style" in a:
            page.style_attributes.append(f"{tag} style={a['style']!r}")
        if tag == "script" and "src" not in a and a.get("type") != "application/json":
            page.inline_scripts += 1
        if tag == "style":
            page.style_blocks += 1
        if tag == "link" and "icon" in a.get("rel", "").split():
            page.icons.append(a.get("href", ""))
        if tag in INTERACTIVE and self.links:
            page.nested_in_links.append(tag)
        if tag == "a":
            self.links += 1
            classes = a.get("class", "").split()
            if "nav-link" in classes and "active" in classes:
                self.text_target = "nav"
            if "sort-link" in classes:
                self.text_target = "sort:" + a.get("href", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self.links = max(0, self.links - 1)
            self.text_target = None

    def handle_data(self, data: str) -> None:
        if self.text_target == "nav" and data.strip():
            self.page.active_nav.append(data.strip())
        elif self.text_target and self.text_target.startswith("sort:") and data.strip():
            self.page.sort_links[data.strip()] = self.text_target[5:]


def inspect(html: str | bytes) -> Page:
    parser = _Parser()
    parser.feed(html.decode() if isinstance(html, bytes) else html)
    return parser.page


def build_site(admin: User) -> dict[str, Any]:
    """An instance with two spaces, a published shared variable set and a group: no Octopus."""
    instance = Instance(
        name="Brisbane", slug="brisbane", base_url="http://127.0.0.1:9/brisbane", region="apac",
        status=Instance.Status.MAINTENANCE, version="2024.1.1",
    )  # fmt: skip
    seal(instance, "api_key", "API-FRONTFRONTFRONTFRONT00")
    instance.save()
    spaces = [
        Space.objects.create(
            instance=instance,
            octopus_id=f"Spaces-{n}",
            name=f"Space {n}",
            slug=f"space-{n}",
            project_count=n,
            target_count=n,
        )
        for n in (1, 2)
    ]
    item = items.create_item(spaces[0], SharedItem.Kind.VARIABLE_SET, "Web", actor=admin)
    items.save_revision(
        item, {"variables": [{"name": "Api.Url", "value": "https://x"}]}, actor=admin
    )
    group = identity_services.create_group(name="Operators", members=[admin], actor=admin)
    from fleetconfig.services import make_plan

    plan = make_plan("version: 1\ngroups: [{name: Readers}]\n", actor=admin)
    return {"instance": instance, "spaces": spaces, "item": item, "group": group, "plan": plan}


def main_pages(site: dict[str, Any], admin: User) -> list[str]:
    """The pages a person walks through, as an administrator sees them."""
    instance, space, item = site["instance"], site["spaces"][0], site["item"]
    return [
        reverse("home"),
        reverse("home") + "?sort=-failed",
        reverse("spaces:list"),
        reverse("spaces:instances"),
        reverse("spaces:instance", args=[instance.pk]),
        reverse("spaces:instance-edit", args=[instance.pk]),
        reverse("spaces:instance-rotate", args=[instance.pk]),
        reverse("spaces:enlist"),
        reverse("spaces:space", args=[space.pk]),
        reverse("spaces:space-delete", args=[space.pk]),
        reverse("spaces:standard-environments"),
        # (monitoring:instance redirects to spaces:instance, the one instance page, above)
        reverse("monitoring:alert-settings"),
        reverse("monitoring:channels"),
        reverse("spaces:space-state", args=[space.pk, "unenlist"]),
        reverse("sharing:index"),
        reverse("sharing:create"),
        reverse("sharing:import"),
        reverse("sharing:trusts"),
        reverse("sharing:item", args=[item.pk]),
        reverse("sharing:edit", args=[item.pk]),
        reverse("rollouts:runs"),
        reverse("rollouts:run-new"),
        reverse("rollouts:policy", args=["shared_item", item.pk]),
        reverse("rollouts:pipelines"),
        reverse("rollouts:pipeline-new"),
        reverse("administration"),
        reverse("audit:list"),
        reverse("identity:groups"),
        reverse("identity:group", args=[site["group"].pk]),
        reverse("identity:users"),
        reverse("identity:user", args=[admin.uuid]),
        reverse("identity:roles"),
        reverse("identity:create-person"),
        reverse("identity:grant-person"),
        reverse("identity:invitations"),
        reverse("identity:space", args=[space.pk]),
        reverse("identity:tokens"),
        reverse("identity:my-access"),
        reverse("account_change_password"),
        reverse("mfa_index"),
        reverse("fleetconfig:overview"),
        reverse("fleetconfig:source-new"),
        reverse("fleetconfig:plan", args=[site["plan"].pk]),
        "/no-such-page/",
    ]
