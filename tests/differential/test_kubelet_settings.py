"""Differential: the thresholds in force after kubelet flags, a config file and their combinations,
as the product (harborbook.kubelet.config) computes them and as the lab's kubelet does
(harborlab.kubelet.settings, written from the kubelet's source of each era).

Both must refuse the same inputs and, when the kubelet starts, agree on the hard thresholds and
the pressure transition period. Every case where they disagreed is pinned with @example; the
report of issue #14 says which side the primary source proved wrong.
"""

from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harborbook.kubelet import config as kubeletconfig
from harborbook.errors import HarborbookError
from harborlab.errors import LabError
from harborlab.kubelet import settings as lab_settings

ARTICLE, MODERN = (1, 7), (1, 30)
SIGNALS = ("memory.available", "nodefs.available", "nodefs.inodesFree", "imagefs.available")
CONFIG = "/var/lib/kubelet/config.yaml"

values = st.one_of(
    st.sampled_from(["10%", "5%", "15%", "0%", "100%", "150%", "-5%", "12.5%", "100Mi", "1Gi", "1.5Gi",
                     "500M", "0", "-1Gi", "abc", "5 %"]),
    st.integers(1, 99).map(lambda n: f"{n}%"),
)
statement = st.tuples(st.sampled_from(SIGNALS), values)
flag_value = st.lists(statement, min_size=1, max_size=3).map(lambda pairs: ",".join(f"{s}<{v}" for s, v in pairs))
config_file = st.one_of(
    st.none(),
    st.fixed_dictionaries({}, optional={
        "evictionHard": st.dictionaries(st.sampled_from(SIGNALS), values, max_size=3),
        "evictionPressureTransitionPeriod": st.sampled_from(["0s", "30s", "5m0s", "1m30s"]),
    }),
)
durations = st.sampled_from(["0s", "2s", "5m0s", "90s"])


def run_product(argv, version, files):
    try:
        result = kubeletconfig.effective_eviction(argv, version, files.get, lambda _path: [])
    except HarborbookError as err:
        return ("refused", err.message)
    return ("started", dict(result.hard), result.transition_period.total_seconds())


def run_lab(argv, version, files, assemble=lab_settings.assemble):
    try:
        result = assemble(argv, version, files.get)
    except LabError as err:
        return ("refused", err.message)
    return ("started", dict(result.hard), result.transition)


def check(version, hard_flags, transition_flag, config, assemble=lab_settings.assemble):
    """The property: both refuse, or both start with the same thresholds and transition period."""
    argv = ["/usr/bin/kubelet", "--kubeconfig=/etc/kubernetes/kubelet.conf"]
    files = {}
    if config is not None:
        argv.append(f"--config={CONFIG}")
        files[CONFIG] = yaml.safe_dump({"kind": "KubeletConfiguration", **config})
    argv += [f"--eviction-hard={value}" for value in hard_flags]
    if transition_flag:
        argv.append(f"--eviction-pressure-transition-period={transition_flag}")
    product, lab = run_product(argv, version, files), run_lab(argv, version, files, assemble)
    assert product[0] == lab[0], (argv, config, product, lab)
    assert product[1:] == lab[1:] or product[0] == "refused", (argv, config, product, lab)


# Disagreements found, pinned (the product was wrong in each, fixed from the kubelet's source):
PINNED = [
    # 1.7: one flag naming a signal twice is refused ("found duplicate eviction threshold").
    (ARTICLE, ["nodefs.available<5%,nodefs.available<10%"], None, None),
    # 1.7: "0%" is refused ("must be positive"); 0%/100% switch a signal off only from 1.10.
    (ARTICLE, ["nodefs.available<0%"], None, None),
    # 1.7: no upper bound on a percentage (150% is taken: always met).
    (ARTICLE, ["nodefs.available<150%"], None, None),
    # 1.7: a trailing comma is an empty statement, refused ("invalid eviction threshold syntax").
    (ARTICLE, ["nodefs.available<5%,"], None, None),
    # 1.7: no trimming: "nodefs.available " is an unsupported signal.
    (ARTICLE, ["nodefs.available <5%"], None, None),
    # 1.7 had no --config flag: pflag refuses it ("unknown flag: --config").
    (ARTICLE, [], None, {"evictionHard": {"nodefs.available": "5%"}}),
    # A --eviction-pressure-transition-period=0s flag is applied after defaulting: 0, not 5m.
    (MODERN, [], "0s", None),
    (ARTICLE, [], "0s", None),
    # 1.10-1.20 compared the fraction with 100; from 1.21 (kubernetes#97321) with 1: 150% refused.
    (MODERN, ["nodefs.available<150%"], None, None),
    # The gotcha, both eras: a flag with one signal replaces the whole map.
    (MODERN, ["nodefs.available<5%"], None, {"evictionHard": {"memory.available": "200Mi"}}),
    (ARTICLE, ["nodefs.available<5%"], None, None),
    # Config file: an unset map gets the defaults, an empty one stays empty, a zero period is 5m.
    (MODERN, [], None, {"evictionPressureTransitionPeriod": "0s"}),
    (MODERN, [], None, {"evictionHard": {}}),
]


@pytest.mark.parametrize("case", PINNED, ids=[str(i) for i in range(len(PINNED))])
def test_pinned_cases_agree(case):
    check(*case)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(version=st.sampled_from([ARTICLE, (1, 12), (1, 25), MODERN]),
       hard_flags=st.lists(flag_value, max_size=2), transition_flag=st.one_of(st.none(), durations),
       config=config_file)
@example(version=ARTICLE, hard_flags=["nodefs.available<5%,nodefs.available<10%"], transition_flag=None, config=None)
@example(version=ARTICLE, hard_flags=["nodefs.available<0%"], transition_flag=None, config=None)
@example(version=ARTICLE, hard_flags=["nodefs.available<150%"], transition_flag=None, config=None)
@example(version=MODERN, hard_flags=[], transition_flag="0s", config=None)
@example(version=MODERN, hard_flags=["nodefs.available<5%"], transition_flag=None,
         config={"evictionHard": {"memory.available": "200Mi"}})
def test_flags_and_config_give_the_same_thresholds(version, hard_flags, transition_flag, config):
    check(version, hard_flags, transition_flag, config)


def merging_defaults(argv, version, read):
    """A wrong lab: a flag merges into the defaults instead of replacing the map."""
    result = lab_settings.assemble(argv, version, read)
    result.hard = {**lab_settings.default_hard(version), **result.hard}
    return result


def test_the_property_catches_a_lab_that_merges_flags_into_the_defaults():
    with pytest.raises(AssertionError):
        check(MODERN, ["nodefs.available<5%"], None, {"evictionHard": {"memory.available": "200Mi"}},
              assemble=merging_defaults)
    with pytest.raises(AssertionError):
        check(ARTICLE, ["nodefs.available<5%"], None, None, assemble=merging_defaults)
