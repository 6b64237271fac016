"""Bad params files, generated: never a traceback — a params error naming file:line, or a valid load.

Values are thrown at real key paths of the sandbox file: wrong types, unicode, huge numbers,
path traversal, SQL and shell metacharacters; sections are dropped and unknown keys added.
Whatever loads must still satisfy the grammars (a database name that loads is a MySQL
identifier), so nothing dangerous reaches SQL or the API.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from harborbook import params
from harborbook.errors import ParamsError

ROOT = Path(__file__).resolve().parents[3]
SANDBOX = YAML(typ="safe").load((ROOT / "params" / "sandbox.yaml").read_text())


def key_paths(node, prefix=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield prefix + (key,)
            yield from key_paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield prefix + (i,)
            yield from key_paths(value, prefix + (i,))


PATHS = sorted(key_paths(SANDBOX), key=str)
NASTY = st.sampled_from([
    "registry; DROP DATABASE mysql; --", "' OR 1=1 --", "`rm -rf /`", "$(reboot)", "a,b,c", "../../etc/passwd",
    "/apps/../../etc", "名前", "\u202e\u0000", "x" * 5000, "-1", "1e400", "NaN", "file:", "env:", "env:1X",
    "file:/dev/null", "yes", "~", "{}", "[]", "0o777", ":", "- item",
])
VALUES = st.one_of(
    NASTY,
    st.text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
MUTATION = st.tuples(st.sampled_from(["set", "delete", "add"]), st.sampled_from(PATHS), VALUES)


def mutate(doc, mutation):
    action, path, value = mutation
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if action == "set":
        parent[last] = value
    elif action == "delete":
        del parent[last]
    elif isinstance(parent, dict):
        parent[f"{last}_extra"] = value


def dump(doc, path: Path) -> None:
    import io

    out = io.StringIO()
    YAML().dump(doc, out)
    path.write_text(out.getvalue(), encoding="utf-8", errors="surrogateescape")


LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):? ")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(MUTATION, min_size=1, max_size=3))
@example(mutations=[("set", ("cluster",), {"\x1e": 0})])  # a control character in a key (found by CI)
@example(mutations=[("set", ("cluster", "namespace"), "a\x85b\u2028c")])
@example(mutations=[("set", ("node_pressure", "access", "kind"), "\x1e")])  # echoed in pydantic's message
def test_generated_params_never_crash(tmp_path, mutations):
    import copy

    doc = copy.deepcopy(SANDBOX)
    for mutation in mutations:
        try:
            mutate(doc, mutation)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation removed or replaced the parent
    path = tmp_path / "fuzz.yaml"
    dump(doc, path)
    try:
        loaded = params.load(path)
    except ParamsError as exc:
        for line in str(exc).splitlines():
            match = LINE.match(line)
            assert match and match.group("file") == str(path), line
        return
    # Whatever loads obeys the grammars that protect SQL and the API.
    assert re.fullmatch(r"[A-Za-z0-9_]{1,64}", loaded.database.target.database)
    assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}", loaded.database.target.user)
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", loaded.cluster.namespace)
    assert ".." not in loaded.storage.root.split("/")


@pytest.mark.parametrize("text", ["\x00", "a: !!python/object:os.system x\n", "a: &x [*x]\n", "[" * 10000,
                                  "key: " + "9" * 5000 + "\n"],
                         ids=["nul", "python-tag", "alias-loop", "deep-nesting", "huge-number"])
def test_hostile_yaml(tmp_path, text):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError) as info:
        params.load(path)
    assert str(info.value).startswith(str(path))


def test_control_characters_are_escaped_in_messages(tmp_path):
    path = tmp_path / "p.yaml"
    doc = {**SANDBOX, "cluster": {**SANDBOX["cluster"], "name\x1espace": 1}}
    dump(doc, path)
    with pytest.raises(ParamsError) as info:
        params.load(path)
    message = str(info.value)
    assert len(message.splitlines()) == 1, message
    assert "cluster.name\\x1espace: unknown key" in message
