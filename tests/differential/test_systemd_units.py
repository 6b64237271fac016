"""Differential: kubelet.service + drop-ins + environment files -> the effective environment and
ExecStart argv, as the product (harborbook.kubelet.systemd) reads them and as the lab's systemd does
(harborlab.kubelet.systemd, from systemd.unit(5), systemd.service(5), systemd.exec(5)).

Generated units mix what kubeadm-style drop-ins do: Environment= with quoted values, empty
resets, EnvironmentFile= with and without "-", ExecStart= resets, $VAR / ${VAR} / $$, comments,
backslash continuations, drop-ins of the same and different names in /etc, /run and /lib.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from harborbook.kubelet import systemd as product
from harborbook.errors import HarborbookError
from harborlab.errors import LabError
from harborlab.kubelet import systemd as lab

UNIT = "kubelet.service"
BASE = "/lib/systemd/system/kubelet.service"
DIRS = ("/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system")
NAMES = ("05-early.conf", "10-kubeadm.conf", "20-extra.conf")
ENV_FILES = ("/etc/default/kubelet", "/var/lib/kubelet/kubeadm-flags.env")

words = st.sampled_from(["--v=2", "--root-dir=/data/kubelet", "--eviction-hard=nodefs.available<5%%",
                         "--node-labels=a=b", "x", "--max-pods=110", "--node-labels='a b'", "'--v=3'"])
names = st.sampled_from(["KUBELET_A", "KUBELET_B", "KUBELET_EXTRA_ARGS"])
values = st.lists(words, min_size=0, max_size=3).map(" ".join)
dropin_lines = st.one_of(
    st.builds(lambda n, v: f'Environment="{n}={v}"', names, values),
    st.builds(lambda n, v: f"Environment={n}={v.split(' ')[0]}", names, values),
    st.builds(lambda n1, v1, n2, v2: f'Environment="{n1}={v1}" "{n2}={v2}"', names, values, names, values),
    st.just("Environment="),
    st.sampled_from([f"EnvironmentFile=-{ENV_FILES[0]}", f"EnvironmentFile={ENV_FILES[1]}",
                     f"EnvironmentFile=-{ENV_FILES[1]}", "EnvironmentFile=", "EnvironmentFile=-/etc/missing"]),
    st.just("ExecStart="),
    st.just("ExecStart=/usr/bin/kubelet $KUBELET_A ${KUBELET_B} $KUBELET_EXTRA_ARGS"),
    st.just("ExecStart=/usr/bin/kubelet --flag=${KUBELET_A} $$KUBELET_B \\\n  $KUBELET_EXTRA_ARGS"),
    st.just("# ExecStart=/usr/bin/commented-out"),
    st.just("; a comment"),
)
env_lines = st.one_of(
    st.builds(lambda n, v: f'{n}="{v}"', names, values),
    st.builds(lambda n, v: f"{n}='{v}'", names, values),
    st.builds(lambda n, v: f"{n}={v}", names, values),
    st.builds(lambda n, v: f"{n}={v.replace(' ', '   ')}", names, values),
    st.sampled_from(["# comment", "", "  ", "export KUBELET_A=1", "NOEQUALS"]),
)
dropins = st.dictionaries(st.tuples(st.sampled_from(DIRS), st.sampled_from(NAMES)),
                          st.lists(dropin_lines, max_size=5), max_size=3)
env_files = st.dictionaries(st.sampled_from(ENV_FILES), st.lists(env_lines, max_size=4).map("\n".join), max_size=2)


def layout(base_exec: str | None, units: dict, envs: dict) -> tuple[dict[str, str], dict[str, str]]:
    files = {BASE: "[Unit]\nDescription=kubelet\n\n[Service]\n"
             + (f"ExecStart={base_exec}\n" if base_exec else "") + "Restart=always\n"}
    for (directory, name), lines in units.items():
        files[f"{directory}/{UNIT}.d/{name}"] = "[Service]\n" + "\n".join(lines) + "\n"
    return files, dict(envs)


def run_product(files, envs):
    try:
        unit = product.load_unit(UNIT, files, legacy_specifiers=False)
        return "ok", product.service_environment(unit, envs.get), product.service_argv(unit, envs.get)
    except HarborbookError as err:
        return "refused", err.message


def run_lab(files, envs, load=lab.load):
    try:
        unit = load(UNIT, files, legacy_specifiers=False)
        return "ok", lab.environment(unit, envs.get), lab.argv(unit, envs.get)
    except LabError as err:
        return "refused", err.message


def check(base_exec, units, envs, load=lab.load):
    """The property: both refuse the unit, or both give the same environment and argv."""
    files, envs = layout(base_exec, units, envs)
    theirs, ours = run_product(files, envs), run_lab(files, envs, load)
    assert theirs[0] == ours[0], (files, envs, theirs, ours)
    assert theirs[0] == "refused" or theirs[1:] == ours[1:], (files, envs, theirs, ours)


PINNED = [
    # The kubeadm shape: reset then a new ExecStart with $VAR words split and ${VAR} kept whole.
    ("/usr/bin/kubelet", {("/etc/systemd/system", "10-kubeadm.conf"): [
        'Environment="KUBELET_A=--v=2 --max-pods=110"', "ExecStart=",
        "ExecStart=/usr/bin/kubelet $KUBELET_A ${KUBELET_B} $KUBELET_EXTRA_ARGS"]}, {}),
    # A second ExecStart without a reset: refused (not Type=oneshot).
    ("/usr/bin/kubelet", {("/etc/systemd/system", "10-kubeadm.conf"): [
        "ExecStart=/usr/bin/kubelet $KUBELET_A"]}, {}),
    # Drop-ins apply by file name across directories; the same name in /etc hides the one in /lib.
    ("/usr/bin/kubelet $KUBELET_A", {("/etc/systemd/system", "20-extra.conf"): ['Environment="KUBELET_A=etc"'],
                                     ("/lib/systemd/system", "05-early.conf"): ['Environment="KUBELET_A=lib"'],
                                     ("/lib/systemd/system", "20-extra.conf"): ['Environment="KUBELET_A=hidden"']},
     {}),
    # EnvironmentFile= wins over Environment=; "-" makes a missing file fine, without it refused.
    ("/usr/bin/kubelet $KUBELET_A", {("/etc/systemd/system", "10-kubeadm.conf"): [
        'Environment="KUBELET_A=from-unit"', f"EnvironmentFile=-{ENV_FILES[0]}"]},
     {ENV_FILES[0]: 'KUBELET_A="from file"'}),
    ("/usr/bin/kubelet", {("/etc/systemd/system", "10-kubeadm.conf"): [f"EnvironmentFile={ENV_FILES[1]}"]}, {}),
    # By name across directories: /etc's 05-early.conf comes before /lib's 20-extra.conf.
    ("/usr/bin/kubelet $KUBELET_A", {("/etc/systemd/system", "05-early.conf"): ['Environment="KUBELET_A=etc"'],
                                     ("/lib/systemd/system", "20-extra.conf"): ['Environment="KUBELET_A=lib"']},
     {}),
    # An environment file keeps interior whitespace of an unquoted value (systemd.exec(5)).
    ("/usr/bin/kubelet ${KUBELET_A}", {("/etc/systemd/system", "10-kubeadm.conf"): [
        f"EnvironmentFile=-{ENV_FILES[0]}"]}, {ENV_FILES[0]: "KUBELET_A=--v=2   x"}),
    # ...a quote after the first character of an unquoted value is kept, even after a quoted part.
    ("/usr/bin/kubelet ${KUBELET_A}", {("/etc/systemd/system", "10-kubeadm.conf"): [
        f"EnvironmentFile=-{ENV_FILES[0]}"]}, {ENV_FILES[0]: "KUBELET_A='--node-labels='a b''"}),
    # ...and in a value that starts unquoted.
    ("/usr/bin/kubelet ${KUBELET_A}", {("/etc/systemd/system", "10-kubeadm.conf"): [
        f"EnvironmentFile=-{ENV_FILES[0]}"]}, {ENV_FILES[0]: 'KUBELET_A=a"b c"'}),
]


@pytest.mark.parametrize("case", PINNED, ids=[str(i) for i in range(len(PINNED))])
def test_pinned_units_agree(case):
    check(*case)


@settings(max_examples=300, deadline=None)
@given(base_exec=st.sampled_from([None, "/usr/bin/kubelet", "/usr/bin/kubelet $KUBELET_A"]),
       units=dropins, envs=env_files)
@example(base_exec=PINNED[6][0], units=PINNED[6][1], envs=PINNED[6][2])
@example(base_exec=PINNED[7][0], units=PINNED[7][1], envs=PINNED[7][2])
@example(base_exec=PINNED[8][0], units=PINNED[8][1], envs=PINNED[8][2])
def test_units_give_the_same_environment_and_argv(base_exec, units, envs):
    check(base_exec, units, envs)


def by_directory(sources):
    """A wrong lab: drop-ins applied directory by directory (lowest priority first), not by name."""
    def ordered(name, files):
        fragment, dropins = sources(name, files)
        return fragment, sorted(dropins, key=lambda p: (-lab.SEARCH_PATH.index(p.rsplit("/", 2)[0]), p))
    return ordered


def test_the_property_catches_a_lab_that_orders_drop_ins_by_directory(monkeypatch):
    check(*PINNED[5])
    monkeypatch.setattr(lab, "sources", by_directory(lab.sources))
    with pytest.raises(AssertionError):
        check(*PINNED[5])
