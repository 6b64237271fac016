"""CephFS: a throwaway single-host Ceph (mon, mgr, one memstore OSD, MDS) and a ceph-fuse mount.

Everything lives in <state>/ceph and binds 127.0.0.1 only. Daemons run with -f
so the pid the lab records is the daemon's own. The settings that make one
host with one OSD report HEALTH_OK are in CEPH_SETTINGS, as data.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from harborlab import procs
from harborlab.component import DEGRADED, DOWN, OK, REPAIRED, RUNNING, STARTED, StatusRow
from harborlab.lab import LabError

if TYPE_CHECKING:
    from harborlab.lab import Lab

NAME = "ceph"
FS_NAME = "cephfs"
MON_ID = "a"
MGR_ID = "x"
MDS_ID = "a"
OSD_ID = 0
PG_NUM = 16
CEPHFS_TYPES = ("ceph", "fuse.ceph-fuse")  # no ceph kernel module here: the fuse client reports the latter

# One host, one OSD, memory-backed: what it takes to be healthy and small.
CEPH_SETTINGS = {
    "auth cluster required": "cephx",
    "auth service required": "cephx",
    "auth client required": "cephx",
    "auth allow insecure global id reclaim": "false",
    "ms bind ipv6": "false",
    "ms bind ipv4": "true",
    "osd objectstore": "memstore",
    # memstore writes its contents to the OSD data dir only on a clean unmount;
    # the default fast shutdown skips that and a restarted OSD comes back empty.
    "osd fast shutdown": "false",
    "memstore device bytes": str(2 << 30),
    "osd pool default size": "1",
    "osd pool default min size": "1",
    "osd pool default pg autoscale mode": "off",
    # Pools created without a pg count (radosgw creates seven) get 8 PGs, not
    # 32 each: fewer PGs to peer on the one OSD, far below mon max pg per osd.
    "osd pool default pg num": "8",
    "osd pool default pgp num": "8",
    # The one monitor commits each map change after up to this delay (default 1 s, meant to
    # batch a busy cluster's updates). Every pool create and application enable waits for a
    # commit; radosgw's first start makes fourteen of them.
    "paxos propose interval": "0.2",
    "osd crush chooseleaf type": "0",
    "mon allow pool size one": "true",
    "mon allow pool delete": "true",
    "mon data avail warn": "1",
    "mon data avail crit": "0",
    "mon warn on pool no redundancy": "false",
    "mon max pg per osd": "500",
    "mgr initial modules": "",
    # A restarted MDS waits this long for old clients to reconnect; the
    # default 45 s is all wasted when the old client is our dead ceph-fuse.
    "mds reconnect timeout": "10",
}

# Daemons in start order: lab name -> (binary, ceph entity id argument).
DAEMONS = {
    "ceph-mon": ("/usr/bin/ceph-mon", MON_ID),
    "ceph-mgr": ("/usr/bin/ceph-mgr", MGR_ID),
    "ceph-osd": ("/usr/bin/ceph-osd", str(OSD_ID)),
    "ceph-mds": ("/usr/bin/ceph-mds", MDS_ID),
}
FUSE = "ceph-fuse"

# Keyring caps of each daemon entity, created up front with ceph-authtool and
# imported into the mon keyring before mkfs (saves one CLI round trip each).
ENTITY_CAPS = {
    "client.admin": {"mon": "allow *", "osd": "allow *", "mds": "allow *", "mgr": "allow *"},
    f"mgr.{MGR_ID}": {"mon": "allow profile mgr", "osd": "allow *", "mds": "allow *"},
    f"osd.{OSD_ID}": {"mon": "allow profile osd", "mgr": "allow profile osd", "osd": "allow *"},
    f"mds.{MDS_ID}": {"mon": "allow profile mds", "osd": "allow rwx", "mds": "allow", "mgr": "allow profile mds"},
}


def ceph_conf(*, fsid: str, host: str, mon_v2: int, mon_v1: int, ms_min: int, ms_max: int, root: Path) -> str:
    glob = {
        "fsid": fsid,
        "mon host": f"[v2:{host}:{mon_v2},v1:{host}:{mon_v1}]",
        "mon initial members": MON_ID,
        "public addr": host,
        "cluster addr": host,
        "public network": f"{host}/32",
        "cluster network": f"{host}/32",
        "ms bind port min": str(ms_min),
        "ms bind port max": str(ms_max),
        "run dir": str(root / "run"),
        "crash dir": str(root / "crash"),
        "admin socket": str(root / "run" / "$cluster-$name.asok"),
        "log file": str(root / "log" / "$cluster-$name.log"),
        "mon data": str(root / "mon" / "$cluster-$id"),
        "mgr data": str(root / "mgr" / "$cluster-$id"),
        "osd data": str(root / "osd" / "$cluster-$id"),
        "mds data": str(root / "mds" / "$cluster-$id"),
        "keyring": str(root / "keyrings" / "$cluster.$name.keyring"),
        **CEPH_SETTINGS,
    }
    # Clients get a per-process admin socket ($pid) so several can run at once.
    client = {
        "keyring": str(root / "ceph.client.admin.keyring"),
        "admin socket": str(root / "run" / "$cluster-$name.$pid.asok"),
        "log file": str(root / "log" / "$cluster-$name.$pid.log"),
    }
    lines = ["[global]"] + [f"{k} = {v}" for k, v in glob.items()]
    lines += ["", "[client]"] + [f"{k} = {v}" for k, v in client.items()]
    lines += ["", f"[mon.{MON_ID}]", f"keyring = {root / 'mon.keyring'}", ""]
    return "\n".join(lines)


def is_cephfs(fstype: str | None) -> bool:
    return fstype in CEPHFS_TYPES


def classify_health(output: str | None) -> tuple[str, str]:
    """Lab health from ``ceph health`` text (None: the mon did not answer)."""
    if output is None:
        return DOWN, "no answer from the monitor"
    text = output.strip()
    if text.startswith("HEALTH_OK"):
        return OK, "HEALTH_OK"
    return DEGRADED, text.splitlines()[0] if text else "empty answer"


def fsid_of(conf_text: str) -> str:
    for line in conf_text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "fsid":
            return value.strip()
    raise LabError("the lab's ceph.conf has no fsid", hint="run: harborbook lab down --purge, then lab up")


def stale_sessions(sessions: list[dict], mountpoint: str, alive: Callable[[int], bool]) -> list[int]:
    """MDS session ids of clients mounted at mountpoint whose process is gone.

    A dead ceph-fuse keeps its session (and its caps on the root inode) until the
    MDS times it out; a new mount of the same tree hangs behind it meanwhile.
    """
    found = []
    for session in sessions:
        meta = session.get("client_metadata", {})
        pid = meta.get("pid", "")
        if meta.get("mount_point") == mountpoint and pid.isdigit() and not alive(int(pid)):
            found.append(int(session["id"]))
    return found


def pgs_clean(pg_stat: dict) -> bool:
    """Every placement group active+clean, per ``ceph pg stat --format=json``.

    HEALTH_OK alone is not enough: right after an OSD restart the monitor can
    still report stale PGs as healthy for a while.
    """
    summary = pg_stat.get("pg_summary", {})
    total = summary.get("num_pgs", 0)
    clean = sum(s["num"] for s in summary.get("num_pg_by_state", []) if s.get("name") == "active+clean")
    return total > 0 and clean == total


def key_from_keyring(text: str) -> str:
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "key":
            return value.strip()
    raise LabError("no key in the Ceph admin keyring")


def _run(argv: list[str], what: str, timeout: float = 60) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise LabError(f"{what} failed (exit {done.returncode}): {tail}")
    return done.stdout


class Ceph:
    name = NAME

    def root(self, lab: "Lab") -> Path:
        return lab.path("ceph")

    def conf(self, lab: "Lab") -> Path:
        return self.root(lab) / "ceph.conf"

    def mountpoint(self, lab: "Lab") -> Path:
        return lab.path("cephfs")

    def keyring(self, lab: "Lab") -> Path:
        return self.root(lab) / "ceph.client.admin.keyring"

    def planned_ports(self, lab: "Lab") -> list[int]:
        if lab.pid("ceph-mon"):
            return []
        return [lab.ports["ceph-mon-v2"], lab.ports["ceph-mon-v1"]]

    def ceph(self, lab: "Lab", *args: str, timeout: float = 30) -> str:
        return _run(
            ["/usr/bin/ceph", "-c", str(self.conf(lab)), "--connect-timeout", "10", *args],
            f"ceph {' '.join(args)}",
            timeout=timeout,
        )

    def health(self, lab: "Lab") -> str | None:
        try:
            return self.ceph(lab, "health", timeout=15)
        except (LabError, subprocess.TimeoutExpired):
            return None

    # -- up ---------------------------------------------------------------------

    def up(self, lab: "Lab") -> str:
        names = [*DAEMONS, FUSE]
        alive_before = [n for n in names if lab.pid(n)]
        mounted = is_cephfs(procs.mount_type(self.mountpoint(lab)))
        if len(alive_before) == len(names) and mounted:
            return RUNNING
        if not (self.root(lab) / "mon" / f"ceph-{MON_ID}").is_dir():
            self._create(lab)
        else:
            # Rewritten each time so changed settings reach restarted daemons.
            self._write_conf(lab, fsid_of(self.conf(lab).read_text()))
            for name, (binary, ident) in DAEMONS.items():
                if lab.pid(name) is None:
                    lab.spawn(name, [binary, "-f", "-c", str(self.conf(lab)), "-i", ident])
        self._wait_pgs_clean(lab)
        self._mount(lab)
        lab.wait_for("ceph health HEALTH_OK", lambda: classify_health(self.health(lab))[0] == OK, 90, log="ceph-mon")
        self._record(lab)
        return STARTED if not alive_before else REPAIRED

    def _create(self, lab: "Lab") -> None:
        root = self.root(lab)
        for sub in ("run", "log", "crash", "keyrings", f"mon/ceph-{MON_ID}", f"mgr/ceph-{MGR_ID}",
                    f"osd/ceph-{OSD_ID}", f"mds/ceph-{MDS_ID}"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)
        fsid = str(uuid.uuid4())
        conf = self._write_conf(lab, fsid)
        authtool = "/usr/bin/ceph-authtool"
        mon_keyring = root / "mon.keyring"
        _run([authtool, "--create-keyring", str(mon_keyring), "--gen-key", "-n", "mon.", "--cap", "mon", "allow *"],
             "ceph-authtool (mon.)")
        for entity, caps in ENTITY_CAPS.items():
            path = self.keyring(lab) if entity == "client.admin" else root / "keyrings" / f"ceph.{entity}.keyring"
            argv = [authtool, "--create-keyring", str(path), "--gen-key", "-n", entity]
            for service, cap in caps.items():
                argv += ["--cap", service, cap]
            _run(argv, f"ceph-authtool ({entity})")
            os.chmod(path, 0o600)
            _run([authtool, str(mon_keyring), "--import-keyring", str(path)], f"import {entity} key")
        os.chmod(mon_keyring, 0o600)
        lab.secret("ceph-admin-key", lambda: key_from_keyring(self.keyring(lab).read_text()))
        monmap = root / "monmap"
        mon_addr = f"[v2:{lab.host}:{lab.ports['ceph-mon-v2']},v1:{lab.host}:{lab.ports['ceph-mon-v1']}]"
        _run(["/usr/bin/monmaptool", "--create", "--clobber", "--addv", MON_ID, mon_addr, "--fsid", fsid, str(monmap)],
             "monmaptool")
        _run(["/usr/bin/ceph-mon", "-c", str(conf), "--mkfs", "-i", MON_ID, "--monmap", str(monmap),
              "--keyring", str(mon_keyring)], "ceph-mon --mkfs")
        lab.spawn("ceph-mon", ["/usr/bin/ceph-mon", "-f", "-c", str(conf), "-i", MON_ID])
        lab.spawn("ceph-mgr", ["/usr/bin/ceph-mgr", "-f", "-c", str(conf), "-i", MGR_ID])
        osd_uuid = str(uuid.uuid4())
        osd_id = self.ceph(lab, "osd", "new", osd_uuid, timeout=60).strip()
        if osd_id != str(OSD_ID):
            raise LabError(f"ceph gave the lab's OSD id {osd_id!r}, expected {OSD_ID}")
        _run(["/usr/bin/ceph-osd", "-c", str(conf), "-i", str(OSD_ID), "--mkfs", "--osd-uuid", osd_uuid],
             "ceph-osd --mkfs")
        lab.spawn("ceph-osd", ["/usr/bin/ceph-osd", "-f", "-c", str(conf), "-i", str(OSD_ID)])
        lab.spawn("ceph-mds", ["/usr/bin/ceph-mds", "-f", "-c", str(conf), "-i", MDS_ID])
        for pool in ("cephfs_metadata", "cephfs_data"):
            self.ceph(lab, "osd", "pool", "create", pool, str(PG_NUM), str(PG_NUM))
        self.ceph(lab, "fs", "new", FS_NAME, "cephfs_metadata", "cephfs_data")

    def _pgs_clean(self, lab: "Lab") -> bool:
        try:
            return pgs_clean(json.loads(self.ceph(lab, "pg", "stat", "--format=json", timeout=15)))
        except (LabError, subprocess.TimeoutExpired, ValueError):
            return False

    def _wait_pgs_clean(self, lab: "Lab") -> None:
        try:
            lab.wait_for("all Ceph placement groups active+clean", lambda: self._pgs_clean(lab), 45, log="ceph-osd")
        except LabError as exc:
            # The memstore OSD saves its objects only on a clean stop; killed, it
            # comes back empty and its PGs stay stale for good.
            raise LabError(
                exc.message + " (if the OSD was killed rather than stopped, its in-memory data is gone)",
                hint="harborbook lab down --purge && harborbook lab up   (recreates the Ceph cluster)",
            ) from None

    def _write_conf(self, lab: "Lab", fsid: str) -> Path:
        conf = self.conf(lab)
        conf.write_text(
            ceph_conf(
                fsid=fsid, host=lab.host, mon_v2=lab.ports["ceph-mon-v2"], mon_v1=lab.ports["ceph-mon-v1"],
                ms_min=lab.ports["ceph-ms-min"], ms_max=lab.ports["ceph-ms-max"], root=self.root(lab),
            )
        )
        return conf

    def _mount(self, lab: "Lab") -> None:
        point = self.mountpoint(lab)
        fstype = procs.mount_type(point)
        if is_cephfs(fstype) and lab.pid(FUSE):
            return
        if fstype is not None:
            self._unmount(point)  # a stale mount left by a dead ceph-fuse
        lab.stop(FUSE)  # a ceph-fuse whose mount was taken away: replace it, never orphan it
        point.mkdir(parents=True, exist_ok=True)
        strays = sorted(p.name for p in point.iterdir())
        if strays:
            # Written while CephFS was not mounted: they would hide under the mount.
            raise LabError(
                f"{point} is not empty while CephFS is unmounted ({', '.join(strays[:5])})",
                hint=f"something wrote there while the lab was down; move those files out of {point} and run up again",
            )
        # The MDS map can still show a killed MDS as up:active; only the
        # daemon's own answer counts.
        lab.wait_for("the CephFS MDS to become active", lambda: self._mds_active(lab), 90, log="ceph-mds")
        sessions = json.loads(self.ceph(lab, "tell", f"mds.{MDS_ID}", "client", "ls", "--format=json") or "[]")
        for session_id in stale_sessions(sessions, str(point), procs.alive):
            self.ceph(lab, "tell", f"mds.{MDS_ID}", "client", "evict", f"id={session_id}")
        lab.spawn(FUSE, ["/usr/bin/ceph-fuse", "-f", "-c", str(self.conf(lab)), "--id", "admin", str(point)])
        lab.wait_for(f"ceph-fuse mount at {point}", lambda: is_cephfs(procs.mount_type(point)), 60, log=FUSE)
        os.chmod(point, 0o755)

    def _mds_active(self, lab: "Lab") -> bool:
        try:
            text = self.ceph(lab, "tell", f"mds.{MDS_ID}", "status", timeout=15)
        except (LabError, subprocess.TimeoutExpired):
            return False
        try:
            return json.loads(text).get("state") == "up:active"
        except ValueError:
            return False

    def _record(self, lab: "Lab") -> None:
        lab.record(
            NAME,
            {
                "monitors": [f"{lab.host}:{lab.ports['ceph-mon-v1']}"],
                "mon_v2": f"{lab.host}:{lab.ports['ceph-mon-v2']}",
                "conf": str(self.conf(lab)),
                "fs_name": FS_NAME,
                "mountpoint": str(self.mountpoint(lab)),
                "user": "admin",
                "keyring": str(self.keyring(lab)),
                "secret_file": str(lab.secret("ceph-admin-key")),
                "pids": {n: lab.pid(n) for n in [*DAEMONS, FUSE]},
            },
        )

    # -- status -------------------------------------------------------------------

    def status(self, lab: "Lab") -> list[StatusRow]:
        health, detail = classify_health(self.health(lab) if lab.pid("ceph-mon") else None)
        if health == DOWN:
            health = DEGRADED  # a live daemon whose cluster does not answer is degraded, not down
        rows = []
        addresses = {"ceph-mon": f"{lab.host}:{lab.ports['ceph-mon-v1']}"}
        for name in DAEMONS:
            pid = lab.pid(name)
            if pid is None:
                rows.append(StatusRow(name, None, addresses.get(name, lab.host), DOWN, "not running"))
            else:
                rows.append(StatusRow(name, pid, addresses.get(name, lab.host), health, detail))
        point = self.mountpoint(lab)
        fstype = procs.mount_type(point)
        pid = lab.pid(FUSE)
        if pid is None:
            rows.append(StatusRow(FUSE, None, str(point), DOWN, f"not running (mount: {fstype or 'none'})"))
        elif not is_cephfs(fstype):
            rows.append(StatusRow(FUSE, pid, str(point), DEGRADED, f"not mounted (fstype {fstype or 'none'})"))
        else:
            rows.append(StatusRow(FUSE, pid, str(point), health, f"mounted {fstype}; {detail}"))
        return rows

    # -- down -----------------------------------------------------------------------

    def _unmount(self, point: Path) -> None:
        if procs.mount_type(point) is None:
            return
        done = subprocess.run(["/usr/bin/fusermount3", "-u", str(point)], capture_output=True, text=True)
        if done.returncode != 0:
            # Busy (a shell cd'ed in, a stale endpoint): detach lazily so nothing stays mounted.
            subprocess.run(["/usr/bin/fusermount3", "-uz", str(point)], capture_output=True, text=True)
        if procs.mount_type(point) is not None:
            subprocess.run(["/usr/bin/umount", "-l", str(point)], capture_output=True, text=True)
        if procs.mount_type(point) is not None:
            raise LabError(f"cannot unmount {point}", hint=f"umount -l {point}")

    def tidy(self, lab: "Lab") -> None:
        """After a failed up: drop a mount whose ceph-fuse is gone."""
        if lab.pid(FUSE) is None:
            self._unmount(self.mountpoint(lab))

    def down(self, lab: "Lab") -> None:
        self._unmount(self.mountpoint(lab))
        lab.stop(FUSE)
        for name in reversed(DAEMONS):
            lab.stop(name, timeout=15)
