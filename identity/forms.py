from django import forms


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What will use this token?")
    expires_days = forms.IntegerField(
        min_value=1,
        max_value=3650,
        required=False,
        initial=90,
        label="Expires after (days)",
        help_text="Leave empty for a token that never expires.",
    )
    read_only = forms.BooleanField(required=False, label="Read-only")
