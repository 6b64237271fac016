"""pytest fixtures for tests that run the ui stand-in with real backing services.

Imported by ``tests/harborlab/ui/conftest.py`` and ``tests/harborbook/registry/conftest.py``. Everything started
here is a child process on a private loopback address, stopped by PID at teardown.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from ..programs import PodLayout, ui_launch
from .backing import PrivateMariaDB, PrivateRedis, Processes, loopback_block
from .libtrust import key_id
from .redisurl import format_save_path

ADMIN_PASSWORD = "Harbor12345-lab"
REQUIRED_PROGRAMS = ("mariadbd", "mariadb-install-db", "redis-server", "docker-registry", "nginx")


def require_lab() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (MariaDB as user mysql, port 80 on loopback)")
    missing = [p for p in REQUIRED_PROGRAMS if shutil.which(p) is None]
    if missing:
        pytest.skip(f"missing programs: {', '.join(missing)}")


def service_dir(prefix: str) -> Path:
    # Not under pytest's tmp_path: that is 0700 root, and mariadbd runs as mysql.
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


@dataclass(frozen=True)
class TokenKeys:
    key_pem: bytes
    cert_pem: bytes
    kid: str


def make_token_keys(bits: int = 4096, now: dt.datetime | None = None) -> TokenKeys:
    """What Harbor 1.2's ``make/prepare`` ``create_root_cert`` made: ``openssl genrsa 4096`` (a
    PKCS#1 key, the form libtrust reads) and ``openssl req -new -x509 -days 3650`` from it."""
    now = now or dt.datetime.now(dt.timezone.utc)
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "harbor-token-issuer")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)  # openssl's v3_ca
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    return TokenKeys(key_pem, cert.public_bytes(serialization.Encoding.PEM), key_id(key.public_key()))


@pytest.fixture(scope="session")
def token_keys() -> TokenKeys:
    return make_token_keys()  # the production size: 4096 bits


@pytest.fixture(scope="session")
def mariadb():
    require_lab()
    db = PrivateMariaDB(service_dir("hb-mariadb-") / "db")
    db.start()
    try:
        yield db
    finally:
        db.stop()
        shutil.rmtree(db.base.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server():
    require_lab()
    server = PrivateRedis(service_dir("hb-redis-") / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.base.parent, ignore_errors=True)


@pytest.fixture
def redis_url(redis_server) -> str:
    return format_save_path("127.0.0.1", redis_server.port, redis_server.password, db=3)


@pytest.fixture
def procs(tmp_path):
    processes = Processes(tmp_path / "logs")
    try:
        yield processes
    finally:
        processes.stop_all()


@pytest.fixture
def ips():
    """Pod addresses for one test: ``ips(n)`` is the n-th address of a random 127.79.X.0/24."""
    block = loopback_block()
    return lambda n: f"{block}{n}"


def ui_pod(root: Path, ip: str, keys: TokenKeys, redis_url: str | None = None) -> PodLayout:
    """A ui pod: its /etc/ui files under ``root``, its env as the rendered manifests set it."""
    etc = root / "etc" / "ui"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "private_key.pem").write_bytes(keys.key_pem)
    (etc / "app.conf").write_text("appname = registry\nrunmode = dev\n\n[dev]\nhttpport = 80\n")
    env = {"CONFIG_PATH": "/etc/ui/app.conf", "LOG_LEVEL": "debug"}
    if redis_url:
        env["_REDIS_URL"] = redis_url
    return PodLayout(root.name, ip, root, env=env)


def start_ui(procs: Processes, root: Path, ip: str, keys: TokenKeys, db: PrivateMariaDB,
             redis_url: str | None = None, admin_password: str = ADMIN_PASSWORD) -> PodLayout:
    pod = ui_pod(root, ip, keys, redis_url)
    procs.run(pod.name, ui_launch(pod, {**db.env(), "HARBOR_ADMIN_PASSWORD": admin_password}))
    return pod
