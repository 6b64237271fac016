"""Fixtures for the pod runner's lab tests: the API emulator as a subprocess with the runner as its
node agent, a private MariaDB and Redis (harborlab.ui.fixtures), and Harbor rendered from
params/sandbox.yaml with the addresses of those services and a NodePort the test allocates.

CephFS: most tests do not start Ceph. The emulator's state gets a lab.json whose ceph
mountpoint is a plain directory, accepted only because HARBORLAB_PODRUNNER_PLAIN_CEPHFS=1 is
set; the runner resolves the CephFS PVs exactly as it would on the real mount.
test_real_cephfs_lab.py starts the lab's real Ceph (ports shifted by 2000) and pushes onto it.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from harborbook import params as params_mod
from harborbook import cephfs as storage
from harborbook.kube import Kube
from harborbook.render import Credentials, generate, render
from harborlab import procs
from harborlab.ui.backing import PrivateMariaDB, PrivateRedis, free_port
from harborlab.ui.fixtures import ADMIN_PASSWORD, require_lab, service_dir

ROOT = Path(__file__).resolve().parents[3]
NAMESPACE = "harbor"


@dataclass
class Emulator:
    state: Path
    proc: subprocess.Popen
    kube: Kube
    cephfs: Path

    def log(self) -> str:
        path = self.state / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""


def start_emulator(state: Path, cephfs: Path, backoff: float = 1.0, plain_cephfs: bool = True) -> Emulator:
    """The emulator with the pod runner on ``state``. ``plain_cephfs``: write a lab.json whose
    CephFS mount is the plain directory ``cephfs``; otherwise ``state`` is a real lab's, whose
    lab.json names its ceph-fuse mount."""
    state.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HARBORLAB_PODRUNNER_BACKOFF": str(backoff), "PYTHONPATH": str(ROOT / "lib")}
    env.pop("HARBORLAB_PODRUNNER_PLAIN_CEPHFS", None)
    if plain_cephfs:
        (state / "lab.json").write_text(json.dumps({"ceph": {"mountpoint": str(cephfs)}}))
        env["HARBORLAB_PODRUNNER_PLAIN_CEPHFS"] = "1"
    with open(state / "server.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "harborlab.kube", "--state", str(state), "--port", "0",
                                 "--pod-ready-delay", "0.2", "--agent-factory", "harborlab.podrunner:agents"],
                                stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 30
    while not (state / "kubeconfig").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_emulator(proc)
            raise RuntimeError("emulator did not start: " + (state / "server.log").read_text()[-2000:])
        time.sleep(0.05)
    return Emulator(state, proc, Kube(state / "kubeconfig"), cephfs)


def stop_emulator(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def pod_processes(state: Path) -> list[int]:
    """Live processes recorded by the runner under ``state`` (empty after a clean stop)."""
    run = state / "podrunner" / "run"
    out = []
    for path in run.glob("*.pid") if run.is_dir() else []:
        pid, _, ticks = path.read_text().partition(" ")
        if procs.is_ours(int(pid), int(ticks) if ticks.strip().isdigit() else None):
            out.append(int(pid))
    return out


@pytest.fixture(scope="module")
def backing():
    """MariaDB (database registry_k8s, user harbork8s as sandbox.yaml names them) and Redis."""
    require_lab()
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed")
    db = PrivateMariaDB(service_dir("hb-pr-mariadb-") / "db", database="registry_k8s", user="harbork8s")
    redis = PrivateRedis(service_dir("hb-pr-redis-") / "redis")
    try:
        db.start()
        redis.start()
        yield db, redis
    finally:
        redis.stop()
        db.stop()
        shutil.rmtree(db.base.parent, ignore_errors=True)
        shutil.rmtree(redis.base.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def generated():
    return generate(dt.datetime.now(dt.timezone.utc))


def harbor_params(folder: Path, db, redis, node_port: int, **harbor_extra):
    """params/sandbox.yaml pointed at the test's services and NodePort."""
    yaml = YAML(typ="safe", pure=True)
    data = yaml.load((ROOT / "params" / "sandbox.yaml").read_text())
    data["harbor"].update(hostname=f"127.0.0.1:{node_port}", node_port=node_port,
                          replicas={"adminserver": 1, "ui": 3, "registry": 3, "nginx": 3, "jobservice": 1},
                          **harbor_extra)
    data["database"]["target"]["endpoints"] = [{"host": "127.0.0.1", "port": db.port}]
    data["redis"]["port"] = redis.port
    path = folder / "params.yaml"
    with path.open("w") as fh:
        yaml.dump(data, fh)
    return params_mod.load(path)


def credentials(db, redis) -> Credentials:
    return Credentials(db_password=db.password, admin_password=ADMIN_PASSWORD, redis_password=redis.password,
                       email_password="not-used-mail-pw")


def deploy(emulator: Emulator, params, generated, creds, drop_redis_url: bool = False) -> list[dict]:
    """Namespace, CephFS directories, PVs/PVCs, then every rendered Harbor object."""
    kube = emulator.kube
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    for volume in ("registry", "log"):
        directory = emulator.cephfs / params.storage.root.lstrip("/") / volume
        directory.mkdir(parents=True, exist_ok=True)
        kube.apply(storage.pv_manifest(params.storage, NAMESPACE, volume))
        kube.apply(storage.pvc_manifest(params.storage, NAMESPACE, volume))
    objects = render(params, generated, creds)
    if drop_redis_url:
        objects = [_without_redis_url(o) for o in objects]
    for obj in objects:
        kube.apply(obj)
    return objects


def _without_redis_url(obj: dict) -> dict:
    if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "ui":
        for container in obj["spec"]["template"]["spec"]["containers"]:
            container["env"] = [e for e in container.get("env", []) if e["name"] != "_REDIS_URL"]
    return obj


def ready_pods(kube: Kube, name: str) -> list[dict]:
    pods = kube.list("v1", "Pod", NAMESPACE, label_selector=f"name={name}-apps")
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")
            and (p.get("status") or {}).get("phase") == "Running"
            and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]


def wait_until(predicate, timeout: float, what: str, log=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{log()[-3000:]}")


def wait_rolled_out(emulator: Emulator, replicas: dict[str, int], timeout: float = 120) -> None:
    for name, count in replicas.items():
        wait_until(lambda: len(ready_pods(emulator.kube, name)) == count, timeout,
                   f"{count} ready {name} pods", emulator.log)


@pytest.fixture
def node_port() -> int:
    return free_port(32100 + secrets.randbelow(600), 32767)  # clear of the sandbox labs' NodePorts (317xx, 318xx)
