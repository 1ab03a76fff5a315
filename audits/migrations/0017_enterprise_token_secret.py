# An enterprise token's secret, sealed (Fernet under a key derived from SECRET_KEY), so the
# logs viewer can list the working credential as Retraced does. Tokens created before this
# migration kept only their digest: their secret is gone, they stay usable by whoever holds it
# and are listed as unreadable (`secret_readable: false`) until deleted.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audits", "0016_merge_viewer_and_search_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="retracedenterprisetoken",
            name="sealed_secret",
            field=models.TextField(default="", editable=False),
        ),
    ]
