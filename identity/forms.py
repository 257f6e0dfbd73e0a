"""identity's forms: API tokens, groups, grants and the role mapping."""

from __future__ import annotations

from typing import Any

from django import forms
from django.shortcuts import get_object_or_404

from identity import access
from identity.models import GRANT_SCOPES, Group, Role, User, instance_model, space_model
from odcm.api.permissions import TOKEN_AREAS
from odcm.ui import space_label


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What will use this token?")
    expires_days = forms.IntegerField(
        min_value=1,
        max_value=3650,
        required=False,
        initial=90,
        label="Expires after (days)",
        help_text="Every token expires: empty means the longest allowed (ODCM_TOKEN_MAX_DAYS).",
    )
    read_only = forms.BooleanField(required=False, label="Read-only")
    areas = forms.MultipleChoiceField(
        choices=sorted(TOKEN_AREAS.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Only these areas",
        help_text="None ticked: every area of the API.",
    )
    instances = forms.ModelMultipleChoiceField(
        queryset=instance_model().objects.none(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 5}),
        label="Only these instances",
        help_text="None chosen: every instance the owner can see.",
    )
    spaces = forms.ModelMultipleChoiceField(
        queryset=space_model().objects.none(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
        label="Only these spaces",
        help_text="None chosen: every space the owner can see.",
    )

    def __init__(self, *args: Any, owner: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A token can only be limited to what its owner (a person, or a service account) can
        # see: the same rule the API's token serializer applies.
        instances: Any = self.fields["instances"]
        spaces: Any = self.fields["spaces"]
        instances.queryset = (
            instance_model().objects.filter(access.instance_filter(owner)).order_by("name")
        )
        spaces.queryset = (
            space_model()
            .objects.filter(access.space_filter(owner))
            .select_related("instance")
            .order_by("instance__name", "name")
        )
        spaces.label_from_instance = lambda space: f"{space.instance.name} / {space.name}"


class ServiceAccountForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="Its user name will be svc-<name> (letters, digits, dashes)."
    )
    owner = forms.ModelChoiceField(
        queryset=Group.objects.none(),
        help_text="Members of this group manage the account and its tokens.",
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, actor: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Administrators may give any group an account; others only their own groups.
        owner: Any = self.fields["owner"]
        groups = Group.objects.all() if access.is_admin(actor) else access.user_groups(actor)
        owner.queryset = groups.order_by("name")


class StyledForm(forms.Form):
    """Bootstrap classes on every widget."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs.setdefault("class", css)


class GroupForm(StyledForm):
    name = forms.CharField(max_length=100)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    members = forms.ModelMultipleChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"),
        required=False,
        to_field_name="username",
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )
    external_groups = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One per line: OIDC group claim values or LDAP group DNs.",
    )

    def external_list(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["external_groups"].splitlines()]


class GrantForm(StyledForm):
    role = forms.ChoiceField(choices=Role.choices)
    target = forms.ChoiceField(label="Space or instance")
    # Narrowing inside each space, by name (comma separated): Octopus's scoped user roles.
    environments = forms.CharField(
        required=False, max_length=2000, label="Only environments", help_text="Names, commas."
    )
    projects = forms.CharField(required=False, max_length=2000, label="Only projects")
    project_groups = forms.CharField(required=False, max_length=2000, label="Only project groups")
    tenants = forms.CharField(required=False, max_length=2000, label="Only tenants")

    def scope(self) -> dict[str, list[str]]:
        """The narrowing asked for, by scope key (empty: the whole space)."""
        return {
            key: [name.strip() for name in self.cleaned_data[key].split(",") if name.strip()]
            for key in GRANT_SCOPES
            if self.cleaned_data.get(key, "").strip()
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices: list[tuple[str, str]] = []
        Instance = instance_model()
        # By tag or region: a rule, granting every instance matched now and later.
        tags = Instance._meta.get_field("tags").related_model.objects.order_by("name")
        for tag in tags.values_list("name", flat=True):
            choices.append((f"t:{tag}", f"Every instance tagged {tag}"))
        regions = Instance.objects.exclude(region="").values_list("region", flat=True)
        for region in sorted(set(regions)):
            choices.append((f"r:{region}", f"Every instance in region {region}"))
        for inst in Instance.objects.order_by("name"):
            choices.append((f"i:{inst.pk}", f"Every space of {inst.name}"))
        # A space gone from Octopus cannot be granted (there is nothing to push a team to).
        Space = space_model()
        spaces = Space.objects.exclude(state=Space.State.GONE).select_related("instance")
        for space in spaces.order_by("instance__name", "name"):
            choices.append((f"s:{space.pk}", space_label(space)))
        self.fields["target"].choices = choices  # type: ignore[attr-defined]

    def selector(self) -> tuple[str, str] | None:
        """("tag" or "region", its value) when a tag or region was chosen: a rule follows it."""
        kind, _, value = self.cleaned_data["target"].partition(":")
        if kind in ("t", "r"):
            return ("tag" if kind == "t" else "region", value)
        return None

    def target_kwargs(self) -> dict[str, Any]:
        kind, _, pk = self.cleaned_data["target"].partition(":")
        if kind == "i":
            return {"instance": get_object_or_404(instance_model(), pk=pk)}
        return {"space": get_object_or_404(space_model(), pk=pk)}


class RoleMappingForm(StyledForm):
    viewer = forms.CharField(label=Role.VIEWER.label, help_text="Octopus role names or ids.")
    deployer = forms.CharField(label=Role.DEPLOYER.label, help_text="Comma separated.")
    manager = forms.CharField(label=Role.MANAGER.label)


class PersonGrantForm(GrantForm):
    """A grant to one person: the person is typed and picked from the people matching
    (``identity:people-search`` fills the suggestions as one types)."""

    person = forms.CharField(
        max_length=150, label="Person", help_text="Type a name, username or email, then pick."
    )
    field_order = ["person", "role", "target"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from django.urls import reverse

        super().__init__(*args, **kwargs)
        self.fields["person"].widget.attrs.update(
            {
                "list": "people-options",
                "autocomplete": "off",
                "hx-get": reverse("identity:people-search"),
                "hx-trigger": "input changed delay:250ms",
                "hx-target": "#people-options",
                "hx-swap": "innerHTML",
            }
        )

    def clean_person(self) -> User:
        name = self.cleaned_data["person"].strip()
        person = User.objects.filter(username__iexact=name, is_active=True).first()
        if person is None:
            raise forms.ValidationError(f"No active person with the username {name!r}.")
        return person


class PersonForm(StyledForm):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Empty: no password (single sign-on, or a password reset by email).",
    )


class InvitationForm(GrantForm):
    """An invitation: who, through which provider, for how long, and one grant (optional)."""

    email = forms.EmailField()
    provider = forms.ChoiceField(label="Signs in with", help_text="Their organisation's provider.")
    days = forms.IntegerField(min_value=1, max_value=30, initial=7, label="Expires after (days)")
    message = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    field_order = ["email", "provider", "days", "message", "role", "target"]

    def __init__(self, *args: Any, providers: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = sorted(providers.items())  # type: ignore[attr-defined]
        self.fields["role"].required = False
        self.fields["role"].choices = [("", "No grant"), *Role.choices]  # type: ignore[attr-defined]
        self.fields["target"].required = False

    def invitation_grants(self) -> list[dict[str, Any]]:
        """The grant to give on accepting (a tag or region: a rule for the person, following
        the instances that carry it then and later)."""
        if not self.cleaned_data.get("role") or not self.cleaned_data.get("target"):
            return []
        chosen = self.selector()
        if chosen is not None:
            target = {chosen[0]: chosen[1]}
        else:
            target = {kind: str(row.pk) for kind, row in self.target_kwargs().items()}
        return [{"role": self.cleaned_data["role"], "scope": self.scope(), **target}]
