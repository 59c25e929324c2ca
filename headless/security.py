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

    def stop(self) -> None:
        self.authenticator.stop()


def secure_broker_socket(ctx: zmq.Context, sock: zmq.Socket, secret_file: Path, authorized_dir: Path) -> BrokerCurve:
    """Make `sock` a CURVE server accepting only clients whose public key is in `authorized_dir`."""
    import zmq.auth
    from zmq.auth.thread import ThreadAuthenticator

    if not curve_available():
        raise SecurityError("this libzmq has no CURVE support (zmq.has('curve') is False)")
    secret_file, authorized_dir = Path(secret_file), Path(authorized_dir)
    if not authorized_dir.is_dir():
        raise SecurityError(f"{authorized_dir}: folder of authorised worker public keys not found")
    public, secret = zmq.auth.load_certificate(secret_file)
    if secret is None:
        raise SecurityError(f"{secret_file}: not a secret key file (expected *.key_secret)")
    auth = ThreadAuthenticator(ctx, log=logging.getLogger("headless.zap"))
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
