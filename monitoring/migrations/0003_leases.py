"""Notifications and periodic-job runs carry the one lease of odcm.work (claim_token,
claimed_until): the notification's fields are renamed, the job runs gain them."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0002_spaceday_covering_index"),
    ]

    operations = [
        migrations.RenameField(
            model_name="notification", old_name="lease_until", new_name="claimed_until"
        ),
        migrations.RenameField(model_name="notification", old_name="claim", new_name="claim_token"),
        migrations.AddField(
            model_name="sweeprun",
            name="claim_token",
            field=models.UUIDField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="sweeprun",
            name="claimed_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
