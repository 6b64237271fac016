"""The lab's radosgw component without a cluster: its command line, keys and registration."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from harborlab.lab import PORTS, LabError, default_components, shifted_ports
from harborlab.rgw import ENTITY, USER, Radosgw, radosgw_argv, s3_keys, write_secret


def argv(port: int = 17480) -> list[str]:
    root = Path("/lab/ceph")
    return radosgw_argv(conf=root / "ceph.conf", keyring=root / "k", data=root / "rgw", run=root / "run",
                        log=root / "log", host="127.0.0.1", port=port)


def test_radosgw_listens_on_loopback_only_in_the_foreground_as_its_own_entity():
    line = argv(16480)
    assert line[:2] == ["/usr/bin/radosgw", "-f"]
    assert line[line.index("-n") + 1] == ENTITY
    assert line[line.index("--rgw-frontends") + 1] == "beast endpoint=127.0.0.1:16480"
    assert line[line.index("--rgw-thread-pool-size") + 1] == "16"
    assert not [arg for arg in line if "key" in arg.lower() and arg != "--keyring"]  # no secret on the command line


def test_its_port_is_in_the_table_and_shifts_with_the_others():
    assert PORTS["radosgw"] == 17480
    assert shifted_ports(-1000)["radosgw"] == 16480


def test_it_runs_right_after_ceph():
    names = [c.name for c in default_components()]
    assert names.index("radosgw") == names.index("ceph") + 1


def test_the_s3_keys_are_read_from_radosgw_admin_json():
    info = {"user_id": USER, "keys": [{"user": "other", "access_key": "X", "secret_key": "Y"},
                                      {"user": USER, "access_key": "AK", "secret_key": "SK"}]}
    assert s3_keys(info) == ("AK", "SK")
    with pytest.raises(LabError, match="no S3 key"):
        s3_keys({"keys": [{"user": "other", "access_key": "X", "secret_key": "Y"}]})
    with pytest.raises(LabError, match="no S3 key"):
        s3_keys({"keys": [{"user": USER, "access_key": "AK", "secret_key": ""}]})


def test_secret_files_are_replaced_atomically_with_mode_0600(tmp_path):
    path = tmp_path / "secrets" / "s3-secret-key"
    write_secret(path, "first")
    path.chmod(0o644)  # even a file someone loosened comes back 0600
    write_secret(path, "second")
    assert path.read_text() == "second"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["s3-secret-key"]


def test_nothing_to_probe_without_keys_is_a_degraded_answer_not_a_crash(tmp_path):
    from harborlab.lab import Lab

    lab = Lab(tmp_path, components=[])
    ok, detail = Radosgw()._bucket_probe(lab)
    assert (ok, detail) == (False, "no S3 keys in the lab's secrets")
