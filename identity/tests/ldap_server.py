"""
A real OpenLDAP server for the tests: Debian's slapd on a loopback port, with its own
temporary config and database, seeded with a small directory. Skips when slapd is missing.
"""

import base64
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SLAPADD = shutil.which("slapadd") or "/usr/sbin/slapadd"
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")

BASE_DN = "dc=example,dc=test"
ROOT_DN = f"cn=admin,{BASE_DN}"
ROOT_PASSWORD = "root-secret"
READER_DN = f"cn=reader,ou=services,{BASE_DN}"
READER_PASSWORD = "reader-secret"
USERS_DN = f"ou=people,{BASE_DN}"
GROUPS_DN = f"ou=groups,{BASE_DN}"
# username -> (given name, surname, password)
SEED_USERS = {
    "alice": ("Alice", "Liddell", "alice-password"),
    "bob": ("Bob", "Builder", "bob-password"),
    "carol": ("Carol", "Danvers", "carol-password"),
}
# group -> (gidNumber, members)
SEED_GROUPS = {"engineers": ("5001", ["alice", "bob"]), "admins": ("5002", ["alice"])}


@dataclass(frozen=True)
class LdapServer:
    host: str
    port: int
    # Set for the TLS server: its LDAPS port and the PEM of the CA that signed its certificate.
    ldaps_port: int | None = None
    ca_pem: str = ""
    base_dn: str = BASE_DN
    users_dn: str = USERS_DN
    groups_dn: str = GROUPS_DN
    reader_dn: str = READER_DN
    reader_password: str = READER_PASSWORD

    def user_dn(self, username: str) -> str:
        return f"uid={username},{USERS_DN}"

    def group_dn(self, name: str) -> str:
        return f"cn={name},{GROUPS_DN}"


def ssha(password: str) -> str:
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def seed_ldif() -> str:
    entries = [
        f"dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example",
        f"dn: {USERS_DN}\nobjectClass: organizationalUnit\nou: people",
        f"dn: {GROUPS_DN}\nobjectClass: organizationalUnit\nou: groups",
        f"dn: ou=services,{BASE_DN}\nobjectClass: organizationalUnit\nou: services",
        f"dn: {READER_DN}\nobjectClass: person\ncn: reader\nsn: reader\n"
        f"userPassword: {ssha(READER_PASSWORD)}",
    ]
    for uid_number, (username, (given, surname, password)) in enumerate(
        SEED_USERS.items(), start=10001
    ):
        entries.append(
            f"dn: uid={username},{USERS_DN}\nobjectClass: inetOrgPerson\n"
            f"objectClass: posixAccount\nuid: {username}\ncn: {given} {surname}\n"
            f"givenName: {given}\nsn: {surname}\nmail: {username}@example.test\n"
            f"uidNumber: {uid_number}\ngidNumber: 5001\nhomeDirectory: /home/{username}\n"
            f"userPassword: {ssha(password)}"
        )
    for name, (gid, members) in SEED_GROUPS.items():
        lines = [f"dn: cn={name},{GROUPS_DN}", "objectClass: groupOfNames", f"cn: {name}"]
        lines += [f"member: uid={m},{USERS_DN}" for m in members]
        entries.append("\n".join(lines))
        # A posix group with the same members by uid, as many OpenLDAP sites have.
        entries.append(
            "\n".join(
                [f"dn: cn={name}-posix,{GROUPS_DN}", "objectClass: posixGroup", f"cn: {name}-posix"]
                + [f"gidNumber: {gid}"]
                + [f"memberUid: {m}" for m in members]
            )
        )
    return "\n\n".join(entries) + "\n"


def tls_material(workdir: Path) -> str:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost; returns the CA's PEM."""
    from datetime import UTC, datetime, timedelta
    from ipaddress import IPv4Address

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("Integration Site test CA"))
        .issuer_name(name("Integration Site test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        # Python 3.13 verifies strictly (VERIFY_X509_STRICT): the AKI must be there.
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_pem = ca.public_bytes(pem).decode()
    (workdir / "ca.pem").write_text(ca_pem)
    (workdir / "server.pem").write_bytes(cert.public_bytes(pem))
    (workdir / "server.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_pem


def slapd_config(workdir: Path, *, tls: bool = False) -> str:
    schemas = "\n".join(
        f"include {SCHEMA_DIR / name}.schema" for name in ("core", "cosine", "inetorgperson", "nis")
    )
    tls_lines = (
        f"TLSCACertificateFile {workdir / 'ca.pem'}\n"
        f"TLSCertificateFile {workdir / 'server.pem'}\n"
        f"TLSCertificateKeyFile {workdir / 'server.key'}\n"
        if tls
        else ""
    )
    return f"""{schemas}
{tls_lines}modulepath {MODULE_DIR}
moduleload back_mdb
pidfile {workdir / "slapd.pid"}
argsfile {workdir / "slapd.args"}

database mdb
maxsize 16777216
suffix "{BASE_DN}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PASSWORD}
directory {workdir / "data"}

access to attrs=userPassword
    by self write
    by anonymous auth
    by * none
access to *
    by dn.exact="{READER_DN}" read
    by users read
    by * none
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def slapd_available() -> bool:
    return os.path.exists(SLAPD) and os.path.exists(SLAPADD) and SCHEMA_DIR.is_dir()


def _slapd(*, tls: bool):
    """Run slapd on free loopback ports (plus LDAPS when `tls`) until the generator closes."""
    if not slapd_available():
        pytest.skip("slapd is not installed (apt-get install -y slapd ldap-utils)")
    workdir = Path(tempfile.mkdtemp(prefix="slapd-test-"))
    (workdir / "data").mkdir()
    ca_pem = tls_material(workdir) if tls else ""
    config = workdir / "slapd.conf"
    config.write_text(slapd_config(workdir, tls=tls))
    seed = workdir / "seed.ldif"
    seed.write_text(seed_ldif())
    subprocess.run([SLAPADD, "-f", str(config), "-l", str(seed)], check=True, capture_output=True)

    port = free_port()
    ldaps_port = free_port() if tls else None
    urls = f"ldap://127.0.0.1:{port}/" + (f" ldaps://127.0.0.1:{ldaps_port}/" if tls else "")
    # -d 0 keeps slapd in the foreground, so the fixture owns the process.
    process = subprocess.Popen(
        [SLAPD, "-f", str(config), "-h", urls, "-d", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        for listening in [port] + ([ldaps_port] if tls else []):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", listening), timeout=0.5).close()
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        err = (
                            process.stderr.read().decode(errors="replace") if process.stderr else ""
                        )
                        pytest.fail(f"slapd did not start: {err}")
                    time.sleep(0.1)
        yield LdapServer(host="127.0.0.1", port=port, ldaps_port=ldaps_port, ca_pem=ca_pem)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def slapd():
    """A running slapd on 127.0.0.1:<free port>, stopped at the end of the session."""
    yield from _slapd(tls=False)


@pytest.fixture(scope="session")
def slapd_tls():
    """slapd with a certificate from a throwaway CA: StartTLS on `port`, LDAPS on `ldaps_port`."""
    yield from _slapd(tls=True)


@pytest.fixture
def ldap_source(db, slapd):
    from identity.models import DirectorySource
    from identity.services import directory_source_set_bind_password

    source = DirectorySource(
        name="Test OpenLDAP",
        host=slapd.host,
        port=slapd.port,
        base_dn=slapd.base_dn,
        user_search_dn=slapd.users_dn,
        group_search_dn=slapd.groups_dn,
        bind_dn=slapd.reader_dn,
        user_object_class="inetOrgPerson",
        timeout_seconds=3,
    )
    directory_source_set_bind_password(source=source, password=slapd.reader_password)
    source.save()
    return source
