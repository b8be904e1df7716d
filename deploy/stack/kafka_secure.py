"""The local broker's secure mode (`itscam stack up --secure`): SCRAM identities and ACLs, nothing anonymous.

- Clients: one SASL_SSL listener on loopback, SCRAM-SHA-512 only, no PLAINTEXT listener. TLS uses a self-signed CA
  made with `cryptography` under <home>/secrets/kafka (ca.pem; the broker's key and certificate for 127.0.0.1 in
  Kafka's PEM keystore format). ITS_STACK_KAFKA_TLS=false gives SASL_PLAINTEXT instead.
- Inter-broker traffic uses that listener as the `its-broker` user, whose SCRAM credential is written into the
  metadata log when the storage is formatted (`--add-scram`), like `its-admin`'s.
- The KRaft controller listener (TLS too) takes SASL/PLAIN with one static user (`controller`, random password): KRaft
  cannot check SCRAM there (its credentials live in the metadata the controller serves), but it is not an open door.
- StandardAuthorizer with allow.everyone.if.no.acl.found=false; super users: its-broker, controller, its-admin.
- One SCRAM user per deployable (eventbus.identities) with random passwords, ACLs from the same table. Each
  identity's client settings are written to <home>/secrets/kafka/<identity>.env (ITS_KAFKA_* lines, mode 0600):
  `set -a; . .stack/secrets/kafka/ingest.env; set +a` before starting a stage.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from deploy.stack.settings import StackSettings
from eventbus.config import KafkaSecurity, admin_config
from eventbus.identities import ADMIN, IDENTITIES, apply_identities

__all__ = [
    "BROKER_USER",
    "CONTROLLER_USER",
    "SecureKafka",
    "listener_lines",
]

BROKER_USER = "its-broker"
CONTROLLER_USER = "controller"
MECHANISM = "SCRAM-SHA-512"


def _private(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


class SecureKafka:
    """Passwords (made once per stack home, kept under <home>/secrets/kafka), the broker's listener settings, the
    storage-format SCRAM arguments and the per-identity env files."""

    def __init__(self, s: StackSettings) -> None:
        self.s = s
        self.dir = s.home / "secrets" / "kafka"

    def password(self, user: str) -> str:
        path = self.dir / f"{user}.password"
        if path.exists():
            return path.read_text().strip()
        pw = secrets.token_urlsafe(24)
        _private(path, pw + "\n")
        return pw

    def passwords(self) -> dict[str, str]:
        """Identity name -> password, for every deployable (admin included)."""
        return {i.name: self.password(i.username) for i in IDENTITIES}

    @property
    def protocol(self) -> Literal["SASL_SSL", "SASL_PLAINTEXT"]:
        return "SASL_SSL" if self.s.kafka_tls else "SASL_PLAINTEXT"

    @property
    def ca_file(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def keystore_file(self) -> Path:
        return self.dir / "broker-keystore.pem"

    def ensure_tls(self) -> None:
        """A self-signed CA and the broker's certificate (127.0.0.1, localhost), made once per stack home."""
        if self.ca_file.exists() and self.keystore_file.exists():
            return
        ca_pem, keystore_pem = make_tls_material()
        _private(self.ca_file, ca_pem)
        _private(self.keystore_file, keystore_pem)

    def security(self, name: str = ADMIN.name) -> KafkaSecurity:
        ident = next(i for i in IDENTITIES if i.name == name)
        return KafkaSecurity(
            security_protocol=self.protocol,
            sasl_mechanism=MECHANISM,
            sasl_username=ident.username,
            sasl_password=SecretStr(self.password(ident.username)),
            ssl_ca_location=str(self.ca_file) if self.s.kafka_tls else "",
        )

    def admin_config(self) -> dict[str, Any]:
        return admin_config(self.s.kafka_bootstrap, **self.security().librdkafka())

    def env_file(self, name: str) -> Path:
        return self.dir / f"{name}.env"

    def write_env_files(self) -> list[Path]:
        out = []
        for i in IDENTITIES:
            path = self.env_file(i.name)
            _private(
                path,
                "\n".join(
                    [
                        f"ITS_KAFKA_BOOTSTRAP={self.s.kafka_bootstrap}",
                        f"ITS_KAFKA_SECURITY_PROTOCOL={self.protocol}",
                        f"ITS_KAFKA_SASL_MECHANISM={MECHANISM}",
                        f"ITS_KAFKA_SASL_USERNAME={i.username}",
                        f"ITS_KAFKA_SASL_PASSWORD={self.password(i.username)}",
                        *([f"ITS_KAFKA_SSL_CA_LOCATION={self.ca_file}"] if self.s.kafka_tls else []),
                        "",
                    ]
                ),
            )
            out.append(path)
        return out

    def listener_lines(self) -> list[str]:
        lines = listener_lines(self.s, self.password(BROKER_USER), self.password(CONTROLLER_USER))
        if not self.s.kafka_tls:
            return lines
        self.ensure_tls()
        return [
            *(line.replace("SASL_PLAINTEXT", "SASL_SSL") for line in lines),
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={self.keystore_file}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={self.ca_file}",
            "ssl.client.auth=none",
            "ssl.endpoint.identification.algorithm=https",
        ]

    def format_args(self) -> list[str]:
        """`kafka-storage format` arguments that write the broker's and the admin's SCRAM credentials."""
        args: list[str] = []
        for user in (BROKER_USER, ADMIN.username):
            args += ["--add-scram", f"{MECHANISM}=[name={user},password={self.password(user)}]"]
        return args

    def apply(self) -> None:
        """Create every deployable's SCRAM user and ACLs (idempotent)."""
        apply_identities(self.admin_config(), self.passwords())


def make_tls_material(days: int = 3650) -> tuple[str, str]:
    """(CA certificate PEM, broker keystore PEM = unencrypted PKCS#8 key + certificate chain) for 127.0.0.1."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "its local stack CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    ca_pem = ca.public_bytes(pem).decode()
    return ca_pem, key_pem.decode() + cert.public_bytes(pem).decode() + ca_pem


def listener_lines(s: StackSettings, broker_password: str, controller_password: str) -> list[str]:
    """The server.properties lines of the secure listeners (they replace the PLAINTEXT ones)."""
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
    return [
        f"listeners=CLIENT://127.0.0.1:{s.kafka_port},CONTROLLER://127.0.0.1:{s.kafka_controller_port}",
        f"advertised.listeners=CLIENT://127.0.0.1:{s.kafka_port}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,CLIENT:SASL_PLAINTEXT",
        "inter.broker.listener.name=CLIENT",
        f"sasl.enabled.mechanisms={MECHANISM}",
        f"listener.name.client.sasl.enabled.mechanisms={MECHANISM}",
        "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
        f"sasl.mechanism.inter.broker.protocol={MECHANISM}",
        "sasl.mechanism.controller.protocol=PLAIN",
        f"listener.name.client.{MECHANISM.lower()}.sasl.jaas.config={scram} required "
        f'username="{BROKER_USER}" password="{broker_password}";',
        f"listener.name.controller.plain.sasl.jaas.config={plain} required "
        f'username="{CONTROLLER_USER}" password="{controller_password}" '
        f'user_{CONTROLLER_USER}="{controller_password}";',
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found=false",
        f"super.users=User:{BROKER_USER};User:{CONTROLLER_USER};User:{ADMIN.username}",
    ]
