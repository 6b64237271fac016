"""Unit files and drop-ins read as systemd reads them, down to the kubelet's argv."""

from __future__ import annotations

import pytest

from harborbook.kubelet.systemd import (UnitFileError, load_unit, parse_environment_file, service_argv,
                                split_words, unit_sources, variable_source)

BASE = "/lib/systemd/system/kubelet.service"
DROPIN = "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf"
BASE_TEXT = """[Unit]
Description=kubelet: The Kubernetes Node Agent
[Service]
ExecStart=/usr/bin/kubelet
Restart=always
"""
KUBEADM_1_7 = """[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--kubeconfig=/etc/kubernetes/kubelet.conf --require-kubeconfig=true"
Environment="KUBELET_SYSTEM_PODS_ARGS=--pod-manifest-path=/etc/kubernetes/manifests --allow-privileged=true"
Environment="KUBELET_DNS_ARGS=--cluster-dns=10.96.0.10 --cluster-domain=cluster.local"
# comment ; and another
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_SYSTEM_PODS_ARGS \\
  $KUBELET_DNS_ARGS $KUBELET_EXTRA_ARGS
"""


def argv_of(files, env_files=None):
    unit = load_unit("kubelet.service", files)
    return service_argv(unit, lambda path: (env_files or {}).get(path))


def test_kubeadm_1_7_drop_in():
    assert argv_of({BASE: BASE_TEXT, DROPIN: KUBEADM_1_7}) == [
        "/usr/bin/kubelet", "--kubeconfig=/etc/kubernetes/kubelet.conf", "--require-kubeconfig=true",
        "--pod-manifest-path=/etc/kubernetes/manifests", "--allow-privileged=true",
        "--cluster-dns=10.96.0.10", "--cluster-domain=cluster.local"]


def test_drop_in_without_exec_start_reset_is_refused_like_systemd():
    with pytest.raises(UnitFileError) as caught:
        argv_of({BASE: BASE_TEXT, DROPIN: KUBEADM_1_7.replace("ExecStart=\n", "")})
    assert "more than one ExecStart=" in caught.value.message
    assert f"{BASE}:4" in caught.value.message and f"{DROPIN}:6" in caught.value.message


def test_oneshot_keeps_several_exec_start_lines():
    unit = load_unit("x.service", {"/etc/systemd/system/x.service":
                                   "[Service]\nType=oneshot\nExecStart=/bin/a\nExecStart=/bin/b\n"})
    assert [s.value for s in unit.exec_start] == ["/bin/a", "/bin/b"]


def test_drop_in_order_and_priority():
    files = {
        BASE: BASE_TEXT,
        "/lib/systemd/system/kubelet.service.d/20-b.conf": "[Service]\nEnvironment=B=lib\n",
        "/etc/systemd/system/kubelet.service.d/20-b.conf": "[Service]\nEnvironment=B=etc\n",
        "/run/systemd/system/kubelet.service.d/20-b.conf": "[Service]\nEnvironment=B=run\n",
        "/usr/lib/systemd/system/kubelet.service.d/10-a.conf": "[Service]\nEnvironment=A=usr B=usr\n",
        "/etc/systemd/system/kubelet.service.d/30-c.conf": "[Service]\nExecStart=\nExecStart=/k $A ${B}\n",
        "/etc/systemd/system/kubelet.service.d/notes.txt": "not a drop-in",
    }
    fragment, dropins = unit_sources("kubelet.service", files)
    assert fragment == BASE
    assert dropins == ["/usr/lib/systemd/system/kubelet.service.d/10-a.conf",
                       "/etc/systemd/system/kubelet.service.d/20-b.conf",
                       "/etc/systemd/system/kubelet.service.d/30-c.conf"]
    assert argv_of(files) == ["/k", "usr", "etc"]


def test_etc_unit_overrides_lib_unit():
    files = {BASE: BASE_TEXT, "/etc/systemd/system/kubelet.service": "[Service]\nExecStart=/opt/kubelet\n"}
    assert argv_of(files) == ["/opt/kubelet"]


ENVIRONMENT = [
    ("two-per-line", 'Environment="A=1" B=2', {"A": "1", "B": "2"}),
    ("unquoted-two", "Environment=A=1 B=2", {"A": "1", "B": "2"}),
    ("quoted-with-space", 'Environment="A=x y"', {"A": "x y"}),
    ("quote-mid-word", 'Environment=A="x y" B=z', {"A": "x y", "B": "z"}),
    ("single-quotes", "Environment='A=x \"y\"'", {"A": 'x "y"'}),
    ("escapes", r'Environment="A=tab\there"', {"A": "tab\there"}),
    ("later-wins", "Environment=A=1\nEnvironment=A=2", {"A": "2"}),
    ("empty-resets", "Environment=A=1\nEnvironment=\nEnvironment=B=2", {"B": "2"}),
    ("invalid-name-ignored", "Environment=1A=x B=y", {"B": "y"}),
]


@pytest.mark.parametrize("case,lines,expected", ENVIRONMENT, ids=[e[0] for e in ENVIRONMENT])
def test_environment_quoting(case, lines, expected):
    unit = load_unit("k.service", {"/etc/systemd/system/k.service": f"[Service]\n{lines}\nExecStart=/k\n"})
    assert dict(unit.environment) == expected


EXPANSION = [
    ("dollar-splits", "A=--a --b", "/k $A", ["/k", "--a", "--b"]),
    ("braces-keep-one-word", "A=--a --b", "/k ${A}", ["/k", "--a --b"]),
    ("braces-inside-word", "A=5%%", "/k --x=${A}", ["/k", "--x=5%"]),
    ("dollar-inside-word-literal", "A=5", "/k --x=$A", ["/k", "--x=$A"]),
    ("unset-dollar-vanishes", "A=1", "/k $UNSET end", ["/k", "end"]),
    ("unset-braces-empty", "A=1", "/k x${UNSET}y", ["/k", "xy"]),
    ("double-dollar", "A=1", "/k $$A", ["/k", "$A"]),
    ("quoted-arg", "A=1", '/k "--flag=a b" \'c d\'', ["/k", "--flag=a b", "c d"]),
    ("prefix-dash", "A=1", "-/k $A", ["/k", "1"]),
    ("colon-no-expansion", "A=1", ":/k $A", ["/k", "$A"]),
    ("percent-escape", "A=1", "/k 50%%", ["/k", "50%"]),
]


@pytest.mark.parametrize("case,env,exec_start,expected", EXPANSION, ids=[e[0] for e in EXPANSION])
def test_exec_start_expansion(case, env, exec_start, expected):
    files = {"/etc/systemd/system/k.service": f'[Service]\nEnvironment="{env}"\nExecStart={exec_start}\n'}
    assert argv_of_unit("k.service", files) == expected


def argv_of_unit(name, files, env_files=None):
    return service_argv(load_unit(name, files), lambda path: (env_files or {}).get(path))


MODERN = """[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
"""


def test_modern_drop_in_with_environment_files():
    files = {BASE: BASE_TEXT, "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf": MODERN}
    env_files = {"/var/lib/kubelet/kubeadm-flags.env":
                 'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///run/containerd/containerd.sock"\n'}
    argv = argv_of(files, env_files)
    assert argv[-2:] == ["--config=/var/lib/kubelet/config.yaml",
                         "--container-runtime-endpoint=unix:///run/containerd/containerd.sock"]
    unit = load_unit("kubelet.service", files)
    with_extra = {**env_files, "/etc/default/kubelet": "KUBELET_EXTRA_ARGS=--v=2\n"}
    assert variable_source(unit, "KUBELET_EXTRA_ARGS", with_extra.get) == "/etc/default/kubelet"
    assert variable_source(unit, "KUBELET_EXTRA_ARGS", env_files.get) is None


def test_missing_required_environment_file_fails():
    files = {"/etc/systemd/system/k.service": "[Service]\nEnvironmentFile=/etc/k.env\nExecStart=/k $A\n"}
    with pytest.raises(UnitFileError) as caught:
        argv_of_unit("k.service", files)
    assert "/etc/k.env" in caught.value.message
    assert argv_of_unit("k.service", files, {"/etc/k.env": "A=1"}) == ["/k", "1"]


def test_environment_file_overrides_environment_regardless_of_order():
    files = {"/etc/systemd/system/k.service":
             "[Service]\nEnvironmentFile=/e\nEnvironment=A=unit\nExecStart=/k $A\n"}
    assert argv_of_unit("k.service", files, {"/e": "A=file"}) == ["/k", "file"]


ENV_FILES = [
    ("plain", "A=1\nB=two words\n", {"A": "1", "B": "two words"}),
    ("double-quoted", 'A="x y"\n', {"A": "x y"}),
    ("single-quoted", "A='x \"y\"'\n", {"A": 'x "y"'}),
    ("comments", "# c\n; c\nA=1\n", {"A": "1"}),
    ("continuation", "A=one \\\ntwo\n", {"A": "one two"}),
    ("bad-name-ignored", "export A=1\nB=2\n", {"B": "2"}),
]


@pytest.mark.parametrize("case,text,expected", ENV_FILES, ids=[e[0] for e in ENV_FILES])
def test_environment_file_parsing(case, text, expected):
    assert parse_environment_file(text, "/e") == expected


SYNTAX = [
    ("missing-equals", "[Service]\nExecStart /k\n", "/etc/systemd/system/k.service:2"),
    ("bad-section", "[Service\nExecStart=/k\n", "/etc/systemd/system/k.service:1"),
    ("unbalanced-quote", '[Service]\nEnvironment="A=1\nExecStart=/k\n', "/etc/systemd/system/k.service:2"),
    ("bad-escape", "[Service]\nExecStart=/k \\q\n", "/etc/systemd/system/k.service:2"),
]


@pytest.mark.parametrize("case,text,where", SYNTAX, ids=[s[0] for s in SYNTAX])
def test_syntax_errors_name_file_and_line(case, text, where):
    with pytest.raises(UnitFileError) as caught:
        argv_of_unit("k.service", {"/etc/systemd/system/k.service": text})
    assert where in caught.value.message


def test_continuation_skips_comment_lines_and_reports_first_line():
    text = "[Service]\nExecStart=/k \\\n# a comment\n  --a \\\n  --b\n"
    assert argv_of_unit("k.service", {"/etc/systemd/system/k.service": text}) == ["/k", "--a", "--b"]


def test_assignment_outside_section_is_ignored_with_warning():
    unit = load_unit("k.service", {"/etc/systemd/system/k.service": "A=1\n[Service]\nExecStart=/k\n"})
    assert unit.warnings and ":1" in unit.warnings[0]


def test_unit_not_found():
    with pytest.raises(UnitFileError):
        load_unit("kubelet.service", {})


def test_split_words_keeps_empty_quoted_word():
    assert split_words('a "" b') == ["a", "", "b"]


def test_unknown_specifier_ignores_the_setting_like_current_systemd():
    text = '[Service]\nEnvironment="E=--eviction-hard=nodefs.available<5%"\nExecStart=/k $E\n'
    files = {"/etc/systemd/system/k.service": text}
    unit = load_unit("k.service", files)
    assert unit.environment == () and "k.service:2" in unit.warnings[0]
    legacy = load_unit("k.service", files, legacy_specifiers=True)
    assert service_argv(legacy, lambda p: None) == ["/k", "--eviction-hard=nodefs.available<5%"]
    escaped = {"/etc/systemd/system/k.service": text.replace("5%", "5%%")}
    assert argv_of_unit("k.service", escaped) == ["/k", "--eviction-hard=nodefs.available<5%"]
