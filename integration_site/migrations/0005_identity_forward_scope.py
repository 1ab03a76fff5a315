"""The identity:forward scope: a user holds it through its permission on ApiToken."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('integration_site', '0004_login_failure_ledger'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='apitoken',
            options={'ordering': ['name'], 'permissions': [('scope_audit_write', 'API scope audit:write'), ('scope_audit_read', 'API scope audit:read'), ('scope_audit_verify', 'API scope audit:verify'), ('scope_bookmark_write', 'API scope bookmark:write'), ('scope_license_read', 'API scope license:read'), ('scope_console_read', 'API scope console:read'), ('scope_version_read', 'API scope version:read'), ('scope_version_apply', 'API scope version:apply'), ('scope_status_write', 'API scope status:write'), ('scope_identity_read', 'API scope identity:read'), ('scope_identity_forward', 'API scope identity:forward'), ('scope_monitoring_read', 'API scope monitoring:read'), ('scope_monitoring_write', 'API scope monitoring:write'), ('scope_health_read', 'API scope health:read')], 'verbose_name': 'API token'},
        ),
    ]
