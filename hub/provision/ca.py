"""The site CA and the servers' certificates (the broker's, the hub's), with
``cryptography``.

The CA signs the servers' certificates; agents and the hub trust the CA alone, so a server
certificate can be renewed without touching a Pi. The CA's key stays in the site folder,
which only root reads (docs/provisioning.md); a server's key is written beside its
certificate wherever that server reads them. Keys are written readable by their owner only.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hub.errors import ConfigError

CA_YEARS = 10
SERVER_DAYS = 825  # the longest validity clients commonly accept for a server certificate


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "scantrail site"),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def init(directory: Path, now: datetime | None = None) -> None:
    """``ca.crt``/``ca.key`` in ``directory``. Refuses to replace a CA."""
    now = now or datetime.now(UTC)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)  # the CA's key, the hub's secrets and the bundles: root only
    if (directory / "ca.key").exists():
        raise ConfigError(f"{directory}/ca.key exists: a site has one CA; remove it to start over")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("scantrail site CA"))
        .issuer_name(_name("scantrail site CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(directory / "ca.key", ca_key)
    (directory / "ca.crt").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))


def issue(
    ca_dir: Path, out: Path, stem: str, hosts: list[str], now: datetime | None = None
) -> None:
    """``<stem>.crt``/``<stem>.key`` in ``out``, signed by the site's CA in ``ca_dir``, valid
    from ``now`` (less five minutes) for each of ``hosts`` (names or addresses): a server's
    certificate (the broker's, the hub's), first or renewed. The agents trust the CA, so
    none of them changes."""
    now = now or datetime.now(UTC)
    ca_key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{ca_dir}/ca.key is not the site CA's key")
    ca_cert = x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    out.mkdir(parents=True, exist_ok=True)
    _write_key(out / f"{stem}.key", key)
    (out / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
