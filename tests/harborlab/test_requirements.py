"""The lab's programs and the Debian packages that hold them. No root, no daemons."""

from __future__ import annotations

import pytest

from harborlab.requirements import PROGRAMS, MissingProgramsError, check_programs, missing_programs, packages_for


def test_missing_programs_name_each_package_once():
    absent = {"/usr/bin/ceph-mon", "/usr/lib/galera/libgalera_smm.so", "/usr/bin/mount", "/usr/bin/umount"}
    assert missing_programs(lambda p: p not in absent) == [p for p in PROGRAMS if p in absent]
    assert packages_for(missing_programs(lambda p: p not in absent)) == ["ceph-mon", "galera-4", "mount"]


def test_check_programs_names_programs_packages_and_the_command():
    absent = {"/usr/bin/docker-registry", "/usr/sbin/nginx"}
    with pytest.raises(MissingProgramsError) as err:
        check_programs(lambda p: p not in absent)
    assert err.value.message == ("the lab cannot start: missing programs: docker-registry, nginx "
                                 "(Debian packages: docker-registry nginx)")
    assert "apt-get install -y --no-install-recommends docker-registry nginx" in err.value.hint


def test_check_programs_passes_when_all_present():
    check_programs(lambda p: True)
