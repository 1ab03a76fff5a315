from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0003_handlers_transport"),
    ]

    operations = [
        migrations.AddField(
            model_name="client",
            name="signature",
            field=models.CharField(blank=True, default="", max_length=255),
        ),
    ]
