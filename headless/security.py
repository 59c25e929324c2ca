"""CurveZMQ for remote workers; loopback-only without it.

`create_certificates(folder)` writes a broker key pair and worker key pairs::

    FOLDER/broker.key  broker.key_secret       the broker's identity (keep the secret on the broker)
    FOLDER/authorized/worker-1.key ...         public keys the broker accepts (copy in new ones)
    FOLDER/workers/worker-1.key_secret ...     one secret per worker (copy to that machine)

The broker authenticates every connection against the public keys in `authorized/` (ZAP,
zmq.auth); a worker needs its own secret and the broker's public key. Without CURVE the
broker refuses to bind anything but a loopback address (unless told `--insecure`).
"""
from __future__ import annotations

import ipaddress
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import zmq

log = logging.getLogger("headless.security")


class SecurityError(RuntimeError):
    pass


def curve_available() -> bool:
    return bool(zmq.has("curve"))


def create_certificates(folder: Path, workers: int = 1, names: list[str] | None = None) -> dict[str, Path]:
    """Create (or add to) a certificate folder; existing keys are kept."""
    import zmq.auth

    if not curve_available():
        raise SecurityError("this libzmq has no CURVE support (zmq.has('curve') is False)")
    folder = Path(folder)
    (folder / "authorized").mkdir(parents=True, exist_ok=True)
    (folder / "workers").mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    if not (folder / "broker.key_secret").exists():
        zmq.auth.create_certificates(folder, "broker")
    out["broker_public"] = folder / "broker.key"
    out["broker_secret"] = folder / "broker.key_secret"
    for name in names or [f"worker-{i + 1}" for i in range(workers)]:
        secret = folder / "workers" / f"{name}.key_secret"
        if not secret.exists():
            pub, sec = zmq.auth.create_certificates(folder / "workers", name)
            shutil.move(pub, folder / "authorized" / f"{name}.key")
        out[name] = secret
    for p in (folder / "workers").glob("*.key_secret"):
        p.chmod(0o600)
    (folder / "broker.key_secret").chmod(0o600)
    return out


def is_loopback_endpoint(endpoint: str) -> bool:
    """tcp://127.0.0.1:5555, tcp://[::1]:5555, tcp://localhost:5555, ipc:// and inproc:// are local."""
    if endpoint.startswith(("ipc://", "inproc://")):
        return True
    if not endpoint.startswith("tcp://"):
        return False
    host = endpoint[len("tcp://"):].rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # an interface name or '*': not loopback


@dataclass
class BrokerCurve:
    """A running ZAP authenticator; stop it when the broker stops."""

    authenticator: object

    @property
    def refused(self) -> int:
        """CURVE handshakes refused so far (unknown keys)."""
        return getattr(self.authenticator, "refused", 0)

    def stop(self) -> None:
        self.authenticator.stop()


def _logging_authenticator_class():
    """A ThreadAuthenticator that logs every refused handshake (key, peer address), rate-limited,
    and counts them for `status`. Built lazily: zmq.auth is imported only with CURVE."""
    import threading
    import time

    import zmq.utils.z85
    from zmq.auth.thread import ThreadAuthenticator

    class LoggingAuthenticator(ThreadAuthenticator):
        refused = 0
        _current: tuple[str, str] = ("?", "?")
        _last_log = 0.0
        _suppressed = 0
        _lock = threading.Lock()

        async def handle_zap_message(self, msg):
            address, key = "?", "?"
            try:
                address = bytes(msg[3]).decode("utf-8", "replace")[:80]
                if len(msg) > 6 and bytes(msg[5]) == b"CURVE" and len(msg[6]) == 32:
                    key = zmq.utils.z85.encode(bytes(msg[6])).decode()
            except Exception:  # a malformed request: pyzmq answers it; we only label it
                pass
            self._current = (key, address)
            await super().handle_zap_message(msg)

        def _send_zap_reply(self, request_id, status_code, status_text, user_id="anonymous"):
            if status_code != b"200":
                key, address = self._current
                with self._lock:
                    self.refused += 1
                    now = time.monotonic()
                    if now - self._last_log >= 1.0:  # rate-limited: a scan must not flood the log
                        more = f" (+{self._suppressed} more since the last report)" if self._suppressed else ""
                        log.warning("refused a CURVE handshake from %s: key %s not authorised (%s)%s", address, key,
                                    bytes(status_text).decode("utf-8", "replace")[:80], more)
                        self._last_log, self._suppressed = now, 0
                    else:
                        self._suppressed += 1
            super()._send_zap_reply(request_id, status_code, status_text, user_id)

    return LoggingAuthenticator


def secure_broker_socket(ctx: zmq.Context, sock: zmq.Socket, secret_file: Path, authorized_dir: Path) -> BrokerCurve:
    """Make `sock` a CURVE server accepting only clients whose public key is in `authorized_dir`."""
    import zmq.auth

    if not curve_available():
        raise SecurityError("this libzmq has no CURVE support (zmq.has('curve') is False)")
    secret_file, authorized_dir = Path(secret_file), Path(authorized_dir)
    if not authorized_dir.is_dir():
        raise SecurityError(f"{authorized_dir}: folder of authorised worker public keys not found")
    public, secret = zmq.auth.load_certificate(secret_file)
    if secret is None:
        raise SecurityError(f"{secret_file}: not a secret key file (expected *.key_secret)")
    auth = _logging_authenticator_class()(ctx, log=logging.getLogger("headless.zap"))
    auth.start()
    auth.configure_curve(domain="*", location=str(authorized_dir))
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.curve_server = True
    return BrokerCurve(auth)


def secure_worker_socket(sock: zmq.Socket, secret_file: Path, broker_public_file: Path) -> None:
    """Make `sock` a CURVE client with its own key pair, trusting the broker's public key."""
    import zmq.auth

    if not curve_available():
        raise SecurityError("this libzmq has no CURVE support (zmq.has('curve') is False)")
    public, secret = zmq.auth.load_certificate(Path(secret_file))
    if secret is None:
        raise SecurityError(f"{secret_file}: not a secret key file (expected *.key_secret)")
    server_public, _ = zmq.auth.load_certificate(Path(broker_public_file))
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.curve_serverkey = server_public
