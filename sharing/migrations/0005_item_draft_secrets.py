from django.db import migrations

import odcm.crypto


class Migration(migrations.Migration):
    dependencies = [("sharing", "0004_merge_push_trigger_started_index")]

    operations = [
        migrations.AddField(
            model_name="shareditem",
            name="draft_secrets",
            field=odcm.crypto.EncryptedField(blank=True, default="", editable=False),
        ),
    ]
