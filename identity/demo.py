from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from identity.models import DirectorySource, DirectoryType

DEMO_GROUPS = {"engineering": ["ada", "linus"], "support": ["grace"], "operators": ["ada"]}
DEMO_NAMES = {
    "ada": ("Ada", "Lovelace"),
    "linus": ("Linus", "Torvalds"),
    "grace": ("Grace", "Hopper"),
}


def load_identity_demo(say) -> None:
    """Directory users and groups for the Identity API, and a disabled example LDAP source."""
    User = get_user_model()
    for username, (first, last) in DEMO_NAMES.items():
        if not User.objects.filter(username=username).exists():
            # No usable password: a demo must not ship with a known credential. Set one in
            # the admin to try POST /identity/v1/login.
            User.objects.create_user(
                username=username,
                email=f"{username}@example.com",
                first_name=first,
                last_name=last,
                password=None,
            )
    for name, members in DEMO_GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.user_set.add(*User.objects.filter(username__in=members))
    DirectorySource.objects.get_or_create(
        name="Example corporate LDAP",
        defaults={
            "enabled": False,
            "directory_type": DirectoryType.OPENLDAP,
            "host": "ldap.example.com",
            "port": 389,
            "base_dn": "dc=example,dc=com",
            "user_search_dn": "ou=people,dc=example,dc=com",
            "group_search_dn": "ou=groups,dc=example,dc=com",
            "bind_dn": "cn=reader,dc=example,dc=com",
        },
    )
    say(
        f"  {len(DEMO_NAMES)} directory users ({', '.join(DEMO_NAMES)}), "
        f"{len(DEMO_GROUPS)} groups, and a disabled example LDAP source"
    )
