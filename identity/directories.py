"""
The directories users sign in against: the site's own users and groups (always present)
and each enabled LDAP/AD source. Both answer the same three questions (authenticate, find,
list) with the same `DirectoryUser`, which is what the Identity API returns.
"""

import base64
import contextlib
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import ldap3
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from identity.crypto import SecretUnreadable, secret_decrypt
from identity.models import DirectorySource, DirectoryType, TlsMode

# Never returned by the Identity API, whatever the directory lets the search account read.
PASSWORD_ATTRIBUTES = frozenset(
    {
        "userpassword",
        "authpassword",
        "unicodepwd",
        "sambantpassword",
        "sambalmpassword",
        "ntpassword",
        "lmpassword",
        "krbprincipalkey",
        "msds-managedpassword",
        "supplementalcredentials",
        "dbcspwd",
    }
)
# Permanent ids, in order of preference: AD's objectGUID, OpenLDAP's entryUUID, nsUniqueId.
_UUID_ATTRIBUTES = ("objectGUID", "entryUUID", "nsUniqueId")
_BINARY_ATTRIBUTES = frozenset({"objectguid", "objectsid", "jpegphoto", "thumbnailphoto"})
_USER_ATTRIBUTES = ["*", *_UUID_ATTRIBUTES]
# Debian's slapd and AD both answer a member filter on these attributes.
_GROUP_CLASSES = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup)(objectClass=group))"
_LDAP_SUCCESS = 0
_LDAP_INVALID_CREDENTIALS = 49
_LDAP_NO_SUCH_OBJECT = 32
# Partial results are still results: a big directory answering a count with the first N.
_LDAP_SIZE_LIMIT_EXCEEDED = 4

# A UUIDv5 namespace for the site's own users, whose ids must survive a rename.
SITE_UUID_NAMESPACE = uuid.UUID("6f1f0d84-4f5c-5d1e-9b57-2f4f7b8c5e21")

Attributes = dict[str, list[str]]


class _VerifyingTls(ldap3.Tls):
    """
    ldap3's TLS with Python's own certificate and host name verification. ldap3 switches the
    context's check off and matches names itself, through a backport of ssl.match_hostname
    (removed in Python 3.12) that rejects IP addresses: a directory configured by IP could
    never verify. Here OpenSSL checks the chain and the name (DNS or IP) in the handshake.
    """

    def wrap_socket(self, connection, do_handshake=False):
        if self.validate == ssl.CERT_NONE:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            # cadata given: trust exactly that CA; otherwise the system store.
            context = ssl.create_default_context(cadata=self.ca_certs_data)
        connection.socket = context.wrap_socket(
            connection.socket,
            server_side=False,
            do_handshake_on_connect=do_handshake,
            server_hostname=connection.server.host,
        )


def _close(connection: ldap3.Connection) -> None:
    # After a failed handshake the socket may already be gone; closing must not raise.
    with contextlib.suppress(LDAPException, OSError):
        connection.unbind()


class DirectoryUnavailable(Exception):
    """The directory cannot be reached or refuses to work (network, TLS, timeout, config)."""


class SearchCredentialsInvalid(Exception):
    """The directory rejected the configured search account (bind DN/password)."""


@dataclass
class DirectoryGroup:
    dn: str
    id: str
    name: str
    attributes: Attributes

    def as_identity(self) -> dict:
        return {"DN": self.dn, "ID": self.id, "Name": self.name, "Attributes": self.attributes}


@dataclass
class DirectoryUser:
    dn: str
    username: str
    uuid: str
    attributes: Attributes
    groups: list[DirectoryGroup] = field(default_factory=list)
    # The stored password (a hash, or cleartext if the directory keeps it so); only the
    # provisioner may see it, and only in the format the operator chose.
    stored_password: str = field(default="", repr=False)
    is_staff: bool = False
    # A site superuser: never provisioned out (identity.provisioning), so no provisioner ever
    # receives the hash of a password that rules the site.
    is_superuser: bool = False

    def first(self, *names: str) -> str:
        lowered = {k.lower(): v for k, v in self.attributes.items()}
        for name in names:
            values = lowered.get(name.lower())
            if values:
                return values[0]
        return ""

    def as_identity(self) -> dict:
        """The Identity API body: capitalised keys, attribute values always lists of strings."""
        return {
            "DN": self.dn,
            "Username": self.username,
            "Groups": [group.as_identity() for group in self.groups],
            "Attributes": self.attributes,
        }


@dataclass
class AuthResult:
    found: bool
    user: DirectoryUser | None = None


class Directory(Protocol):
    key: str
    name: str
    hostname: str
    base_dn: str

    def authenticate(self, username: str, password: str) -> AuthResult: ...

    def find_user(self, username: str) -> DirectoryUser | None: ...

    def list_users(self) -> Iterator[DirectoryUser]: ...


def _strip_passwords(attributes: Attributes) -> Attributes:
    return {k: v for k, v in attributes.items() if k.lower() not in PASSWORD_ATTRIBUTES}


def normalize_dn(dn: str) -> str:
    """Compare DNs the way people write them: case and spaces after commas do not matter."""
    return ",".join(part.strip() for part in dn.lower().split(","))


# --- The site's own users -------------------------------------------------------------


class SiteDirectory:
    """Django's users and groups, presented as a small LDAP-shaped directory."""

    key = "site"
    name = "Site users"

    def __init__(self):
        self.hostname = settings.IDENTITY_SITE_HOSTNAME
        self.base_dn = settings.IDENTITY_SITE_BASE_DN

    def user_dn(self, username: str) -> str:
        return f"uid={escape_rdn(username)},ou=users,{self.base_dn}"

    def group_dn(self, name: str) -> str:
        return f"cn={escape_rdn(name)},ou=groups,{self.base_dn}"

    def user_uuid(self, user) -> str:
        return str(uuid.uuid5(SITE_UUID_NAMESPACE, f"{self.base_dn}:{user.pk}"))

    def _entry(self, user, *, with_groups: bool = True) -> DirectoryUser:
        username = user.get_username()
        user_uuid = self.user_uuid(user)
        attributes: Attributes = {
            "objectClass": ["inetOrgPerson"],
            "uid": [username],
            "cn": [user.get_full_name() or username],
            "entryUUID": [user_uuid],
        }
        if user.first_name:
            attributes["givenName"] = [user.first_name]
        if user.last_name:
            attributes["sn"] = [user.last_name]
        if user.email:
            attributes["mail"] = [user.email]
        groups = []
        if with_groups:
            for group in user.groups.order_by("name").prefetch_related("user_set"):
                members = sorted(self.user_dn(m.get_username()) for m in group.user_set.all())
                groups.append(
                    DirectoryGroup(
                        dn=self.group_dn(group.name),
                        id=str(group.pk),
                        name=group.name,
                        attributes={
                            "objectClass": ["groupOfNames"],
                            "cn": [group.name],
                            "member": members,
                        },
                    )
                )
        return DirectoryUser(
            dn=self.user_dn(username),
            username=username,
            uuid=user_uuid,
            attributes=attributes,
            groups=groups,
            stored_password=user.password if user.has_usable_password() else "",
            is_staff=user.is_staff,
            is_superuser=user.is_superuser,
        )

    def _active_user(self, username: str):
        User = get_user_model()
        return User.objects.filter(**{User.USERNAME_FIELD: username}, is_active=True).first()

    def authenticate(self, username: str, password: str) -> AuthResult:
        user = self._active_user(username)
        if user is None:
            # Hash anyway so an unknown name takes as long as a wrong password (Django's
            # ModelBackend does the same against user enumeration by timing).
            get_user_model()().set_password(password)
            return AuthResult(found=False)
        if not password or not user.check_password(password):
            return AuthResult(found=True)
        return AuthResult(found=True, user=self._entry(user))

    def find_user(self, username: str) -> DirectoryUser | None:
        user = self._active_user(username)
        return self._entry(user) if user is not None else None

    def list_users(self) -> Iterator[DirectoryUser]:
        User = get_user_model()
        for user in User.objects.filter(is_active=True).order_by("pk").iterator():
            yield self._entry(user, with_groups=False)

    def group_count(self) -> int:
        return Group.objects.count()


# --- LDAP / Active Directory ----------------------------------------------------------


def _decode(name: str, value: bytes) -> str:
    if name.lower() == "objectguid" and len(value) == 16:
        return str(uuid.UUID(bytes_le=value))
    if name.lower() in _BINARY_ATTRIBUTES:
        return base64.b64encode(value).decode()
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(value).decode()


def _attributes(raw: dict[str, list[bytes]]) -> Attributes:
    return {name: [_decode(name, v) for v in values] for name, values in raw.items() if values}


class LdapDirectory:
    def __init__(self, source: DirectorySource):
        self.source = source
        self.key = f"ldap:{source.pk}"
        self.name = source.name
        self.hostname = source.host
        self.base_dn = source.base_dn

    # Connections.

    def _server(self) -> ldap3.Server:
        source = self.source
        tls = None
        if source.tls_mode != TlsMode.PLAIN:
            tls = _VerifyingTls(
                validate=ssl.CERT_REQUIRED if source.verify_certificate else ssl.CERT_NONE,
                ca_certs_data=source.ca_certificate or None,
            )
        return ldap3.Server(
            source.host,
            port=source.port,
            use_ssl=source.tls_mode == TlsMode.LDAPS,
            tls=tls,
            get_info=ldap3.NONE,
            connect_timeout=source.timeout_seconds,
        )

    def _describe(self) -> str:
        return f"directory {self.source.name!r} ({self.source.host}:{self.source.port})"

    def _bind(self, user: str | None, password: str | None) -> tuple[ldap3.Connection, bool]:
        """Open (and StartTLS) a connection and bind; returns it and whether the bind worked."""
        connection = ldap3.Connection(
            self._server(),
            user=user or None,
            password=password or None,
            authentication=ldap3.SIMPLE if user else ldap3.ANONYMOUS,
            receive_timeout=self.source.timeout_seconds,
            read_only=True,
            auto_referrals=False,
            raise_exceptions=False,
        )
        try:
            connection.open()
            if self.source.tls_mode == TlsMode.STARTTLS and not connection.start_tls():
                raise DirectoryUnavailable(
                    f"StartTLS failed with {self._describe()}: {connection.result}"
                )
            bound = connection.bind()
        except LDAPException as exc:
            _close(connection)
            raise DirectoryUnavailable(
                f"Cannot reach {self._describe()}: {exc.__class__.__name__}: {exc}"
            ) from exc
        except OSError as exc:  # ssl errors during the handshake
            _close(connection)
            raise DirectoryUnavailable(f"Cannot reach {self._describe()}: {exc}") from exc
        return connection, bound

    def _search_connection(self) -> ldap3.Connection:
        try:
            password = secret_decrypt(self.source.bind_password)
        except SecretUnreadable as exc:
            raise SearchCredentialsInvalid(f"{self._describe()}: {exc}") from exc
        connection, bound = self._bind(self.source.bind_dn, password)
        if not bound:
            result = connection.result or {}
            _close(connection)
            if result.get("result") == _LDAP_INVALID_CREDENTIALS:
                raise SearchCredentialsInvalid(
                    f"{self._describe()} rejected the search account {self.source.bind_dn!r}."
                )
            raise DirectoryUnavailable(
                f"{self._describe()} refused the search bind: {result.get('description', result)}"
            )
        return connection

    def _search(
        self, connection, base: str, search_filter: str, *, scope=ldap3.SUBTREE, attributes=None
    ):
        try:
            ok = connection.search(
                base,
                search_filter,
                search_scope=scope,
                attributes=attributes or _USER_ATTRIBUTES,
                time_limit=self.source.timeout_seconds,
            )
        except LDAPException as exc:
            raise DirectoryUnavailable(f"Search failed on {self._describe()}: {exc}") from exc
        result = connection.result or {}
        if not ok and result.get("result") not in (_LDAP_SUCCESS, _LDAP_SIZE_LIMIT_EXCEEDED, None):
            if result.get("result") == _LDAP_NO_SUCH_OBJECT and scope == ldap3.BASE:
                return []
            raise DirectoryUnavailable(
                f"Search under {base!r} failed on {self._describe()}: "
                f"{result.get('description')} {result.get('message', '')}".strip()
            )
        return [e for e in connection.response or [] if e.get("type") == "searchResEntry"]

    # Filters. Every value from a caller goes through escape_filter_chars: a username of
    # `*)(uid=*` must match nothing rather than everyone.

    def _user_filter(self, username: str | None) -> str:
        attribute = self.source.username_attribute
        value = escape_filter_chars(username) if username is not None else "*"
        parts = [f"({attribute}={value})"]
        if self.source.user_object_class:
            parts.append(f"(objectClass={escape_filter_chars(self.source.user_object_class)})")
        if self.source.directory_type == DirectoryType.ACTIVE_DIRECTORY:
            # Skip computer accounts, which are users too in AD.
            parts.append("(objectCategory=person)")
        return f"(&{''.join(parts)})"

    @staticmethod
    def _member_filter(dn: str, username: str) -> str:
        dn_value = escape_filter_chars(dn)
        return (
            f"(|(member={dn_value})(uniqueMember={dn_value})"
            f"(memberUid={escape_filter_chars(username)}))"
        )

    # Entries.

    def _username_of(self, attributes: Attributes) -> str:
        wanted = self.source.username_attribute.lower()
        for name, values in attributes.items():
            if name.lower() == wanted and values:
                return values[0]
        return ""

    def _to_user(self, raw_entry: dict) -> DirectoryUser:
        attributes = _attributes(raw_entry.get("raw_attributes") or {})
        stored_password = ""
        for name, values in attributes.items():
            if name.lower() == "userpassword" and values:
                stored_password = values[0]
        attributes = _strip_passwords(attributes)
        lowered = {k.lower(): v for k, v in attributes.items()}
        permanent = next(
            (lowered[a.lower()][0] for a in _UUID_ATTRIBUTES if lowered.get(a.lower())), ""
        )
        dn = raw_entry["dn"]
        return DirectoryUser(
            dn=dn,
            username=self._username_of(attributes),
            uuid=permanent
            or str(uuid.uuid5(SITE_UUID_NAMESPACE, f"{self.key}:{normalize_dn(dn)}")),
            attributes=attributes,
            stored_password=stored_password,
        )

    def _groups(self, connection, user: DirectoryUser) -> list[DirectoryGroup]:
        entries = self._search(
            connection,
            self.source.effective_group_search_dn,
            f"(&{_GROUP_CLASSES}{self._member_filter(user.dn, user.username)})",
        )
        groups = []
        for entry in entries:
            attributes = _strip_passwords(_attributes(entry.get("raw_attributes") or {}))
            lowered = {k.lower(): v for k, v in attributes.items()}
            group_id = next(
                (lowered[a][0] for a in ("gidnumber", "objectguid", "entryuuid") if lowered.get(a)),
                entry["dn"],
            )
            name = (lowered.get("cn") or [entry["dn"]])[0]
            groups.append(
                DirectoryGroup(dn=entry["dn"], id=group_id, name=name, attributes=attributes)
            )
        return sorted(groups, key=lambda g: g.dn.lower())

    def _allowed(self, connection, user: DirectoryUser) -> bool:
        restricted = self.source.restrict_to_group_dn
        if not restricted:
            return True
        return bool(
            self._search(
                connection,
                restricted,
                self._member_filter(user.dn, user.username),
                scope=ldap3.BASE,
                attributes=["1.1"],
            )
        )

    def _lookup(self, connection, username: str) -> DirectoryUser | None:
        if not username:
            return None
        entries = self._search(
            connection, self.source.effective_user_search_dn, self._user_filter(username)
        )
        # Two entries with one login name is a directory mistake; signing in as either
        # would be a guess, so neither is let in.
        if len(entries) != 1:
            return None
        user = self._to_user(entries[0])
        if not self._allowed(connection, user):
            return None
        user.groups = self._groups(connection, user)
        return user

    # The three questions.

    def find_user(self, username: str) -> DirectoryUser | None:
        connection = self._search_connection()
        try:
            return self._lookup(connection, username)
        finally:
            _close(connection)

    def authenticate(self, username: str, password: str) -> AuthResult:
        user = self.find_user(username)
        if user is None:
            return AuthResult(found=False)
        # An empty password is an "unauthenticated bind" that LDAP servers accept: never
        # let it through as a successful sign-in.
        if not password:
            return AuthResult(found=True)
        connection, bound = self._bind(user.dn, password)
        _close(connection)
        return AuthResult(found=True, user=user if bound else None)

    def list_users(self) -> Iterator[DirectoryUser]:
        connection = self._search_connection()
        try:
            allowed_members: set[str] | None = None
            restricted = self.source.restrict_to_group_dn
            if restricted:
                entries = self._search(
                    connection,
                    restricted,
                    "(objectClass=*)",
                    scope=ldap3.BASE,
                    attributes=["member", "uniqueMember", "memberUid"],
                )
                allowed_members = set()
                for entry in entries:
                    for values in _attributes(entry.get("raw_attributes") or {}).values():
                        allowed_members.update(normalize_dn(v) for v in values)
            try:
                pages = connection.extend.standard.paged_search(
                    self.source.effective_user_search_dn,
                    self._user_filter(None),
                    search_scope=ldap3.SUBTREE,
                    attributes=_USER_ATTRIBUTES,
                    paged_size=500,
                    generator=True,
                )
                for entry in pages:
                    if entry.get("type") != "searchResEntry":
                        continue
                    user = self._to_user(entry)
                    if not user.username:
                        continue
                    if allowed_members is not None and not (
                        normalize_dn(user.dn) in allowed_members
                        or user.username.lower() in allowed_members
                    ):
                        continue
                    yield user
            except LDAPException as exc:
                raise DirectoryUnavailable(
                    f"Listing users failed on {self._describe()}: {exc}"
                ) from exc
            result = connection.result or {}
            if result.get("result") not in (_LDAP_SUCCESS, None):
                raise DirectoryUnavailable(
                    f"Listing users failed on {self._describe()}: {result.get('description')}"
                )
        finally:
            _close(connection)

    def test_connection(self) -> str:
        """Bind with the search account and count the users it can see; raises on failure."""
        connection = self._search_connection()
        try:
            entries = self._search(
                connection,
                self.source.effective_user_search_dn,
                self._user_filter(None),
                attributes=["1.1"],
            )
        finally:
            _close(connection)
        return f"Connected to {self._describe()}; the search account sees {len(entries)} user(s)."
