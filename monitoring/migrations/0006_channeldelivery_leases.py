"""Channel deliveries carry the one lease of odcm.work (claim_token, claimed_until), as
notifications do since 0003_leases: Outbound derives from odcm.work.Leased."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0005_merge_alert_channels_leases"),
    ]

    operations = [
        migrations.RenameField(
            model_name="channeldelivery", old_name="lease_until", new_name="claimed_until"
        ),
        migrations.RenameField(
            model_name="channeldelivery", old_name="claim", new_name="claim_token"
        ),
    ]
