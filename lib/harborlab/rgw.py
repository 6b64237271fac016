"""An S3 endpoint for the backup runbook: Ceph's own radosgw on the lab's Ceph cluster.

radosgw stores everything in RADOS pools of the lab's single memstore OSD, so it
needs nothing but the running Ceph component and one cephx key of its own. It
serves S3 on 127.0.0.1 only (beast frontend). The lab creates one S3 user whose
keys radosgw-admin generates; they live only in ``secrets/s3-access-key`` and
``secrets/s3-secret-key`` (0600) and reach no command line. The bucket
``harbor-backups`` is created through S3 itself, signed with those keys.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from harborlab.component import DEGRADED, DOWN, OK, REPAIRED, RUNNING, STARTED, StatusRow
from harborlab.errors import LabError

if TYPE_CHECKING:
    from harborlab.lab import Lab

NAME = "radosgw"
ENTITY = "client.rgw.lab"
USER = "harborbook-backup"
BUCKET = "harbor-backups"
# radosgw's default zonegroup takes any SigV4 region; boto3 creates buckets
# without a LocationConstraint only for this one.
REGION = "us-east-1"
ACCESS_SECRET = "s3-access-key"
SECRET_SECRET = "s3-secret-key"

# cephx caps of the gateway: it creates its pools (mon rw), reads and writes
# them (osd rwx) and reports to the manager's service map (mgr rw).
CAPS = {"mon": "allow rw", "osd": "allow rwx", "mgr": "allow rw"}

# Gateway settings, as data. The defaults are sized for a production host
# (512 threads); the lab serves one client at a time.
RGW_SETTINGS = {
    "rgw_thread_pool_size": "16",
    "rgw_enable_apis": "s3",
    "rgw_dynamic_resharding": "false",
    "rgw_enable_usage_log": "false",
}


def frontend(host: str, port: int) -> str:
    return f"beast endpoint={host}:{port}"


def radosgw_argv(*, conf: Path, keyring: Path, data: Path, run: Path, log: Path, host: str, port: int) -> list[str]:
    """The gateway's command line: foreground, its own key, loopback only; no secret in it."""
    argv = [
        "/usr/bin/radosgw", "-f", "-c", str(conf), "-n", ENTITY,
        "--keyring", str(keyring),
        "--rgw-frontends", frontend(host, port),
        "--rgw-data", str(data),
        # One admin socket and log per daemon, not per pid as [client] says for the CLI tools.
        "--admin-socket", str(run / f"ceph-{ENTITY}.asok"),
        "--log-file", str(log / f"ceph-{ENTITY}.log"),
    ]
    for key, value in RGW_SETTINGS.items():
        argv += [f"--{key.replace('_', '-')}", value]
    return argv


def s3_keys(user_info: dict, uid: str = USER) -> tuple[str, str]:
    """The (access, secret) pair of ``uid`` from ``radosgw-admin user info/create`` JSON."""
    for key in user_info.get("keys", []):
        if key.get("user") == uid and key.get("access_key") and key.get("secret_key"):
            return key["access_key"], key["secret_key"]
    raise LabError(f"radosgw-admin shows no S3 key for user {uid!r}",
                   hint="harborbook lab down --purge && harborbook lab up   (recreates the Ceph cluster)")


def write_secret(path: Path, value: str) -> None:
    """Create or replace a 0600 secret file atomically (the value never passes through argv)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    os.replace(tmp, path)


def _run(argv: list[str], what: str, timeout: float = 60) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise LabError(f"{what} did not finish within {timeout:.0f}s") from None


def _failed(done: subprocess.CompletedProcess, what: str) -> LabError:
    # stderr only: radosgw-admin prints keys on stdout, never on stderr.
    tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
    return LabError(f"{what} failed (exit {done.returncode}): {tail}")


class Radosgw:
    name = NAME

    # -- layout -----------------------------------------------------------------

    def ceph_root(self, lab: "Lab") -> Path:
        return lab.path("ceph")  # the Ceph component's directory: its conf, keyrings, logs

    def conf(self, lab: "Lab") -> Path:
        return self.ceph_root(lab) / "ceph.conf"

    def keyring(self, lab: "Lab") -> Path:
        return self.ceph_root(lab) / "keyrings" / f"ceph.{ENTITY}.keyring"

    def endpoint(self, lab: "Lab") -> str:
        return f"http://{lab.host}:{lab.ports[NAME]}"

    def planned_ports(self, lab: "Lab") -> list[int]:
        return [] if lab.pid(NAME) else [lab.ports[NAME]]

    # -- probes -----------------------------------------------------------------

    def _serving(self, lab: "Lab") -> bool:
        """Any S3 answer at all (the anonymous bucket list): the gateway is up and listening."""
        # No proxy from the environment: the gateway is on this host's loopback.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(self.endpoint(lab) + "/", timeout=2) as response:
                return response.status == 200
        except urllib.error.HTTPError:
            return True  # an S3 error document is still radosgw answering
        except OSError:
            return False

    def _client(self, lab: "Lab"):
        import boto3  # imported here: the rest of the lab does without it
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint(lab),
            region_name=REGION,
            aws_access_key_id=lab.secret_value(ACCESS_SECRET),
            aws_secret_access_key=lab.secret_value(SECRET_SECRET),
            config=Config(s3={"addressing_style": "path"}, connect_timeout=2, read_timeout=10,
                          retries={"max_attempts": 1}),
        )

    def _bucket_probe(self, lab: "Lab") -> tuple[bool, str]:
        """A signed HEAD of the bucket with the lab's keys: user, keys and bucket all work."""
        if not (lab.secret(ACCESS_SECRET).exists() and lab.secret(SECRET_SECRET).exists()):
            return False, "no S3 keys in the lab's secrets"
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client(lab).head_bucket(Bucket=BUCKET)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            return False, f"HEAD /{BUCKET}: HTTP {status} {exc.response.get('Error', {}).get('Code', '')}".strip()
        except BotoCoreError as exc:
            return False, f"HEAD /{BUCKET}: {type(exc).__name__}"
        return True, f"signed HEAD /{BUCKET}: 200"

    # -- up ---------------------------------------------------------------------

    def up(self, lab: "Lab") -> str:
        alive = lab.pid(NAME) is not None
        if alive and self._bucket_probe(lab)[0]:
            self._record(lab)
            return RUNNING
        if not alive:
            self._ensure_key(lab)
            data = self.ceph_root(lab) / "rgw"
            data.mkdir(parents=True, exist_ok=True)
            lab.spawn(NAME, radosgw_argv(
                conf=self.conf(lab), keyring=self.keyring(lab), data=data, run=self.ceph_root(lab) / "run",
                log=self.ceph_root(lab) / "log", host=lab.host, port=lab.ports[NAME]))
        # The first start creates the gateway's pools and its default zone: slow.
        lab.wait_for(f"radosgw on {self.endpoint(lab)}", lambda: self._serving(lab), 180, log=NAME)
        if not self._bucket_probe(lab)[0]:
            self._ensure_user(lab)
            self._ensure_bucket(lab)
        self._record(lab)
        return REPAIRED if alive else STARTED

    def _ensure_key(self, lab: "Lab") -> None:
        if self.keyring(lab).exists():
            return
        argv = ["/usr/bin/ceph", "-c", str(self.conf(lab)), "--connect-timeout", "10",
                "auth", "get-or-create", ENTITY]
        for service, cap in CAPS.items():
            argv += [service, cap]
        argv += ["-o", str(self.keyring(lab))]
        done = _run(argv, f"ceph auth get-or-create {ENTITY}")
        if done.returncode != 0:
            raise _failed(done, f"ceph auth get-or-create {ENTITY}")
        os.chmod(self.keyring(lab), 0o600)

    def _admin(self, lab: "Lab", *args: str) -> subprocess.CompletedProcess:
        return _run(["/usr/bin/radosgw-admin", "-c", str(self.conf(lab)), "-n", "client.admin", *args],
                    f"radosgw-admin {' '.join(args[:2])}", timeout=120)

    def _ensure_user(self, lab: "Lab") -> None:
        """The S3 user, created once; its keys (generated by radosgw) copied to the secret files."""
        done = self._admin(lab, "user", "info", f"--uid={USER}")
        if done.returncode != 0:
            done = self._admin(lab, "user", "create", f"--uid={USER}", "--display-name=harborbook backups")
            if done.returncode != 0:
                raise _failed(done, "radosgw-admin user create")
        try:
            info = json.loads(done.stdout)
        except ValueError:
            raise LabError("radosgw-admin printed no JSON user record") from None
        access, secret = s3_keys(info)
        for name, value in ((ACCESS_SECRET, access), (SECRET_SECRET, secret)):
            path = lab.secret(name)
            if not path.exists() or path.read_text().strip() != value:
                write_secret(path, value)

    def _ensure_bucket(self, lab: "Lab") -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._client(lab)
        try:
            client.create_bucket(Bucket=BUCKET)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise LabError(f"cannot create bucket {BUCKET!r} on radosgw: {code}",
                               hint=f"see {lab.path('ceph', 'log', f'ceph-{ENTITY}.log')}") from None
        except BotoCoreError as exc:
            raise LabError(f"cannot create bucket {BUCKET!r} on radosgw: {type(exc).__name__}") from None
        ok, detail = self._bucket_probe(lab)
        if not ok:
            raise LabError(f"radosgw bucket {BUCKET!r} does not answer after creation: {detail}")

    def _record(self, lab: "Lab") -> None:
        lab.record(
            NAME,
            {
                "endpoint": self.endpoint(lab),
                "bucket": BUCKET,
                "region": REGION,
                "user": USER,
                "access_key_file": str(lab.secret(ACCESS_SECRET)),
                "secret_key_file": str(lab.secret(SECRET_SECRET)),
                "pid": lab.pid(NAME),
            },
        )

    # -- status / down ------------------------------------------------------------

    def status(self, lab: "Lab") -> list[StatusRow]:
        pid = lab.pid(NAME)
        address = f"{lab.host}:{lab.ports[NAME]}"
        if pid is None:
            return [StatusRow(NAME, None, address, DOWN, "not running")]
        ok, detail = self._bucket_probe(lab)
        return [StatusRow(NAME, pid, address, OK if ok else DEGRADED, detail)]

    def down(self, lab: "Lab") -> None:
        lab.stop(NAME, timeout=15)
