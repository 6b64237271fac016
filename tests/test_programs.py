"""Every program the project executes is declared, and every declared package is used.

Three tables name the external programs: the lab's (``harborlab.requirements``), the product's
(``harborbook.programs``) and the test suite's (``tests/suite_programs.py``). Each row says which Debian
package provides the program; here ``dpkg -S`` must agree, and the package must be in one of the
lists ``make demo``/``make test`` install — or be Essential (on every Debian system). Conversely a
listed package that no row needs is dead weight on a newcomer's machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harborbook import programs as product
from harborlab import requirements as lab

from tests import suite_programs as suite

ROOT = Path(__file__).resolve().parents[1]
LISTS = [
    ROOT / "lib" / "harborlab" / "data" / "debian-packages.txt",
    ROOT / "lib" / "harborbook" / "data" / "debian-packages.txt",
    ROOT / "tests" / "debian-packages.txt",
]


def listed(path: Path) -> list[str]:
    names = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [name for name in names if name]


def declared() -> set[str]:
    return {pkg for path in LISTS for pkg in listed(path)}


def rows() -> list[tuple[str, str, str]]:
    """(table, program path or name, package the table claims)."""
    out = [("harborlab.requirements", path, pkg) for path, (pkg, _) in lab.PROGRAMS.items()]
    out += [("harborbook.programs", name, pkg) for name, (pkg, _) in product.PROGRAMS.items()]
    out += [("tests/suite_programs.py", path, pkg) for path, (pkg, _) in suite.PROGRAMS.items()]
    return out


def dpkg_owner(program: str) -> str | None:
    """The package that ships ``program`` (a path or a name on PATH), as ``dpkg -S`` says.

    With merged /usr, dpkg's database may know the file under /bin or /sbin (or the path a
    symlink points to), so each spelling is tried.
    """
    path = program if os.path.isabs(program) else shutil.which(program)
    if path is None:
        return None
    spellings = [path, os.path.realpath(path)]
    spellings += [s.removeprefix("/usr") for s in list(spellings) if s.startswith("/usr/")]
    for spelling in dict.fromkeys(spellings):
        done = subprocess.run(["dpkg-query", "-S", spelling], capture_output=True, text=True)
        if done.returncode == 0:
            return done.stdout.split(":", 1)[0].split(",")[0].strip()
    return None


def is_essential(package: str) -> bool:
    done = subprocess.run(["dpkg-query", "-W", "-f=${Essential}", package], capture_output=True, text=True)
    return done.stdout.strip() == "yes"


def problems(table_rows, declared_packages, owner, essential) -> list[str]:
    """What is wrong with the tables: a program absent, a wrong package, an undeclared package."""
    found = []
    for table, program, claimed in table_rows:
        actual = owner(program)
        if actual is None:
            found.append(f"{table}: {program}: not installed (or no package ships it)")
        elif actual != claimed:
            found.append(f"{table}: {program}: dpkg -S says {actual}, the table says {claimed}")
        elif actual not in declared_packages and not essential(actual):
            found.append(f"{table}: {program}: package {actual} is in no debian-packages.txt")
    return found


def unused(table_rows, declared_packages) -> list[str]:
    needed = {pkg for _, _, pkg in table_rows}
    return sorted(declared_packages - needed)


# -- the tests of the project's own tables (need dpkg and the installed packages) ---------------

@pytest.fixture(scope="module")
def dpkg():
    if shutil.which("dpkg-query") is None:
        pytest.fail("dpkg-query is not available: these checks need a Debian system (make test installs the lists)")


def test_every_program_is_shipped_by_a_declared_package(dpkg):
    assert problems(rows(), declared(), dpkg_owner, is_essential) == []


def test_no_declared_package_is_unused():
    assert unused(rows(), declared()) == []


def test_no_package_is_declared_twice():
    seen = [pkg for path in LISTS for pkg in listed(path)]
    assert sorted(p for p in set(seen) if seen.count(p) > 1) == []


def test_the_lab_reads_its_own_list():
    assert lab.declared_packages() == listed(LISTS[0])


def test_the_makefile_installs_every_list():
    make = (ROOT / "Makefile").read_text()
    assert all(str(path.relative_to(ROOT)) in make for path in LISTS)


# -- the checks themselves catch what they are meant to catch ----------------------------------

def fake_owner(program: str) -> str | None:
    return {"/usr/bin/newtool": "newtool", "/usr/bin/nginx": "nginx", "/bin/sh": "dash"}.get(program)


def test_an_undeclared_program_is_caught():
    table = [("lab", "/usr/bin/nginx", "nginx"), ("lab", "/usr/bin/newtool", "newtool")]
    assert problems(table, {"nginx"}, fake_owner, lambda pkg: False) == [
        "lab: /usr/bin/newtool: package newtool is in no debian-packages.txt"]


def test_a_wrong_package_claim_and_a_missing_program_are_caught():
    table = [("lab", "/usr/bin/nginx", "nginx-light"), ("lab", "/usr/bin/gone", "gone")]
    assert problems(table, {"nginx-light", "gone"}, fake_owner, lambda pkg: False) == [
        "lab: /usr/bin/nginx: dpkg -S says nginx, the table says nginx-light",
        "lab: /usr/bin/gone: not installed (or no package ships it)"]


def test_an_essential_package_needs_no_declaration():
    table = [("product", "/bin/sh", "dash")]
    assert problems(table, set(), fake_owner, lambda pkg: pkg == "dash") == []
    assert problems(table, set(), fake_owner, lambda pkg: False) != []


def test_an_unused_package_is_caught():
    assert unused([("lab", "/usr/bin/nginx", "nginx")], {"nginx", "leftover"}) == ["leftover"]
