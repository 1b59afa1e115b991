"""Local stand-ins for Slack and a mail relay that record what they get: an HTTP receiver on 127.0.0.1 and an
aiosmtpd server, with STARTTLS and login when asked (a self-signed certificate made with `cryptography`)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from datafactory_assets.launcher import free_port


class SlackReceiver:
    """Accepts POSTs of JSON on 127.0.0.1 and keeps each with its path; answers `status` (200 unless told)."""

    def __init__(self):
        self.posts: list[dict] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the base class's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.posts.append({"path": self.path, "json": json.loads(body)})
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok" if receiver.status == 200 else b"invalid_token")

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def texts(self) -> list[str]:
        return [post["json"]["text"] for post in self.posts]

    def __enter__(self) -> SlackReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


class SmtpReceiver:
    """An aiosmtpd server on 127.0.0.1 keeping every message; with `cert_dir`, STARTTLS and login are required."""

    def __init__(self, *, cert_dir: Path | None = None, user: str = "", password: str = ""):
        self.inbox = _Inbox()
        self.port = free_port()
        self.ca_file = None
        self.logins: list[str] = []
        options = {}
        if cert_dir is not None:
            self.ca_file = self_signed_certificate(cert_dir)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert_dir / "cert.pem", cert_dir / "key.pem")
            options = {"tls_context": context, "require_starttls": True, "auth_required": True,
                       "auth_require_tls": True, "authenticator": self._authenticator(user, password)}
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **options)

    @property
    def messages(self):
        return self.inbox.messages

    def _authenticator(self, user: str, password: str):
        def authenticate(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and (auth_data.login.decode(), auth_data.password.decode()) \
                == (user, password)
            self.logins.append(f"{mechanism}:{'ok' if ok else 'refused'}")
            return AuthResult(success=ok, handled=False)

        return authenticate

    def __enter__(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()


def self_signed_certificate(directory: Path) -> str:
    """cert.pem and key.pem for 127.0.0.1 in `directory`; returns the certificate's path (its own CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    return str(directory / "cert.pem")
