"""FakeServer over TLS: a loopback HTTPS server whose certificate a throwaway CA signs for 127.0.0.1."""

from __future__ import annotations

import contextlib
import ipaddress
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.fakes.http_server import App, FakeServer
from tests.fixtures.tls import Authority


@dataclass(frozen=True)
class LoopbackTls:
    """A CA file a client trusts (`verify=ca_path`) and the server context it vouches for."""

    ca_path: Path
    context: ssl.SSLContext

    @classmethod
    def create(cls, directory: Path) -> LoopbackTls:
        """A new CA and a leaf for `127.0.0.1` and `localhost` (an IP URL needs an IP SAN: tls.py's leaf has a DNS one)."""
        directory.mkdir(parents=True, exist_ok=True)
        authority = Authority.create(directory)
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(authority.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(authority.key, hashes.SHA256())
        )
        cert_path, key_path = directory / "loopback.pem", directory / "loopback.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_path, key_path)
        return cls(authority.path, context)

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts only this CA."""
        return ssl.create_default_context(cafile=str(self.ca_path))


class HttpsFakeServer(FakeServer):
    """`FakeServer` whose accepted sockets speak TLS; the handshake runs in the request's thread, so a
    client that never completes it (or distrusts the CA) cannot stall the accept loop."""

    def __init__(self, app: App, context: ssl.SSLContext) -> None:
        super().__init__(app)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True, do_handshake_on_connect=False)
        finish = self.httpd.finish_request

        def handshake_then_finish(request: Any, client_address: Any) -> None:
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError):
                with contextlib.suppress(OSError):
                    request.close()
                return
            finish(request, client_address)

        self.httpd.finish_request = handshake_then_finish  # type: ignore[method-assign]  # one instance's TLS handshake, per connection

    @property
    def url(self) -> str:
        """Base URL (https)."""
        return f"https://127.0.0.1:{self.port}"
