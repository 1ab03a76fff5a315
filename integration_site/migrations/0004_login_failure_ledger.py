"""
The sign-in lockout ledger becomes the platform's, so HTTP Basic and the admin's login can
count failures in it like the Identity API does. Its rows move from the identity app's
table in console.0003, which depends on this migration (apps depend on the platform).
"""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('integration_site', '0003_scheduled_job_run_lease'),
    ]

    operations = [
        migrations.CreateModel(
            name='LoginFailure',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('username', models.CharField(max_length=255)),
                ('remote_address', models.CharField(blank=True, max_length=64)),
                ('failed_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
            ],
            options={
                'indexes': [models.Index(fields=['username', 'remote_address', 'failed_at'], name='integration_usernam_bec5bb_idx'), models.Index(fields=['remote_address', 'failed_at'], name='integration_remote__bbcc72_idx')],
            },
        ),
    ]
