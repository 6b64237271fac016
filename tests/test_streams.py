"""make test's four streams (tests/conftest.py): which tests go where, and that pytest-xdist really
keeps a stream on one worker with the pytest installed (pytest 9.2 broke that silently, so two
procedure modules could have run on one sandbox lab at once)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.slots import A, B, slot_of

ROOT = Path(__file__).resolve().parents[1]


def test_each_procedure_module_has_one_slot_and_the_slots_share_no_port():
    procedure = sorted((ROOT / "tests" / "procedure").glob("test_*.py"))
    on_b = [p.name for p in procedure if slot_of(str(p)) is B]
    assert on_b == ["test_backup_restore.py", "test_e2e.py", "test_version.py"]
    assert not set(A.ports.values()) & set(B.ports.values())
    assert A.node_port != B.node_port


def test_slot_b_params_name_its_own_state_and_ports():
    text = B.params_text()
    assert "../.lab/" not in text and f"{B.state}/secrets/" in text
    assert f"port: {B.ports['harbor-db']}" in text and f"127.0.0.1:{B.node_port}" in text
    assert "13306" not in text and "31777" not in text and "31778" not in text
    # Numbers that are not ports stay as they are.
    assert "session_requests: 30" in text and "rollout_timeout: 180" in text


def test_a_second_process_is_refused_a_held_slot(tmp_path, monkeypatch):
    import subprocess
    import sys

    from tests.support import slots

    monkeypatch.setattr(slots, "SLOTS_DIR", tmp_path)
    mine = slots.Slot("t", tmp_path / "state", 0, 0)
    mine.lock()
    other = subprocess.run([sys.executable, "-c", (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[1] + '/lib']\n"
        "from pathlib import Path\nfrom tests.support import slots\n"
        "slots.SLOTS_DIR = Path(sys.argv[2])\n"
        "slots.Slot('t', Path(sys.argv[2]) / 'state', 0, 0).lock()"), str(ROOT), str(tmp_path)],
        capture_output=True, text=True, timeout=60)
    assert other.returncode != 0
    assert f"sandbox slot t ({tmp_path}/state) is in use by pid {__import__('os').getpid()}" in other.stderr


@pytest.mark.parametrize("stream_of_b", ["same", "other"])
def test_xdist_keeps_a_group_on_one_worker(pytester, stream_of_b):
    pytester.makeconftest(f"""
import pytest
def pytest_itemcollected(item):
    item.add_marker(pytest.mark.xdist_group("same" if "test_a" in item.nodeid else "{stream_of_b}"))
""")
    pytester.makepyfile(test_a="def test_1(): pass\ndef test_2(): pass\n",
                        test_b="def test_1(): pass\ndef test_2(): pass\n")
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "loadgroup", "-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    workers = {re.search(r"\[(gw\d)\]", line).group(1) for line in result.outlines
               if "PASSED" in line and "[gw" in line}
    assert len(workers) == (1 if stream_of_b == "same" else 2), result.outlines
