"""System checks for identity: directories that send passwords in clear."""

from django.core.checks import Tags, Warning, register
from django.db import DatabaseError

from identity.models import DirectorySource, TlsMode


@register(Tags.security, Tags.database, deploy=True)
def plain_ldap_check(app_configs, databases=None, **kwargs):
    # Directory sources are rows, so this runs when checks may read the database
    # (`manage.py check --deploy --database default`), as Django's database checks do.
    if not databases:
        return []
    try:
        plain = list(
            DirectorySource.objects.filter(enabled=True, tls_mode=TlsMode.PLAIN).values_list(
                "name", flat=True
            )
        )
    except DatabaseError:  # not migrated yet
        return []
    if not plain:
        return []
    return [
        Warning(
            f"LDAP directories {', '.join(sorted(plain))} bind without TLS: every sign-in "
            "sends the user's password, and the search account's, in clear over the network.",
            hint="Set their TLS mode to StartTLS or LDAPS (the admin's Identity and "
            "provisioning > Directories (LDAP/AD)).",
            id="identity.W001",
        )
    ]
