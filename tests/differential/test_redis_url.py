"""Differential: Redis settings -> the ``_REDIS_URL`` the product renders -> what the lab's ui reads.

Product side: ``harborbook.beego.build_redis_url`` and the ui Secret ``harborbook.render`` writes.
Lab side: the ui Deployment's environment resolved the kubelet's way (``harborlab.podrunner``),
then ``harborlab.ui.redisurl`` (beego v1.6.1 ``SessionInit``, as Harbor 1.2's ui uses it).
The settings the lab reads back must be the settings the operator gave. Both parsers are also
compared on arbitrary save paths: the product's lint judges ``_REDIS_URL`` with its own parser,
so where it reads a value differently from beego its verdict is about a different Redis.
"""

from __future__ import annotations

import dataclasses
import functools
import datetime as dt
from pathlib import Path

import pytest
from hypothesis import example, given, settings, strategies as st

from harborbook import beego, params as params_mod
from harborbook.render import Credentials, generate, render
from harborlab.podrunner.environment import container_env
from harborlab.ui import redisurl

from .masking import product_masking_untouched

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)

_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
HOSTS = st.one_of(
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t))),
    st.lists(_LABEL, min_size=1, max_size=3).map(".".join),
)
# Odd characters: spaces at either end, ':', '@', '%', '#', quotes, '$(X)', non-ASCII; never ','
# (the format cannot carry it: tested separately) nor surrogates (not text).
PASSWORDS = st.text(st.characters(blacklist_characters=",", blacklist_categories=("Cs",)), max_size=40)
SETTINGS = dict(host=HOSTS, port=st.integers(1, 65535), password=PASSWORDS, db=st.integers(0, 15),
                pool=st.integers(1, 10000))


@functools.cache
def world():
    # Not a fixture: a falsifying example must not print the generated token key.
    with product_masking_untouched():
        return params_mod.load(ROOT / "params" / "sandbox.yaml"), generate(NOW)


def lab_reads(url: str) -> tuple[str, int, str, int, int]:
    got = redisurl.parse_save_path(url)
    host, port = redisurl.split_host_port(got.address)
    return host, port, got.password, got.db, got.pool_size


@given(**SETTINGS)
@example(host="redis", port=6379, password=" p@ss:w0rd# ", db=0, pool=1)
@example(host="10.0.0.5", port=6379, password="", db=15, pool=10000)
def test_product_url_reads_back_in_the_lab(host, port, password, db, pool):
    url = beego.build_redis_url(host, port, password, db, pool)
    assert lab_reads(url) == (host, port, password, db, pool)


@settings(max_examples=40, deadline=None)
@given(**SETTINGS)
@example(host="redis.harbor", port=6380, password="$(HOME) 'q' \"dq\" ümlaut", db=3, pool=7)
def test_rendered_ui_deployment_reads_back_in_the_lab(host, port, password, db, pool):
    params, generated = world()
    with product_masking_untouched():
        redis = params.redis.model_copy(update=dict(host=host, port=port, db=db, pool_size=pool))
        creds = Credentials(db_password="db-pw", admin_password="admin-pw", redis_password=password)
        manifests = render(params.model_copy(update={"redis": redis}), generated, creds)
    ui = next(o for o in manifests if o["kind"] == "Deployment" and o["metadata"]["name"] == "ui")
    pod = {"metadata": {"namespace": ui["metadata"].get("namespace", "default"), "name": "ui-0"},
           "spec": ui["spec"]["template"]["spec"]}
    objects = {(o["kind"], o["metadata"].get("namespace", "default"), o["metadata"]["name"]): o for o in manifests}
    env = container_env(pod, pod["spec"]["containers"][0], lambda k, ns, n: objects.get((k, ns, n)))
    assert not env.errors
    assert lab_reads(env.env["_REDIS_URL"]) == (host, port, password, db, pool)


@given(host=HOSTS, port=st.integers(1, 65535), head=PASSWORDS, tail=PASSWORDS, db=st.integers(0, 15))
def test_a_comma_in_the_password_is_refused_because_beego_would_misread_it(host, port, head, tail, db):
    password = f"{head},{tail}"
    with pytest.raises(beego.RedisUrlError):
        beego.build_redis_url(host, port, password, db)
    misread = redisurl.parse_save_path(f"{host}:{port},100,{password},{db}")
    assert misread.password == head  # the rest of the password lands in the db field


# Save paths as an operator (or a hand-edited Secret) might write them: the product's lint reads
# them with harborbook.beego.parse_redis_url; beego reads them with SessionInit.
_FIELD = st.text(st.sampled_from("0123456789+-_ abc٣"), max_size=6)
_ADDRESS = st.builds(lambda h, p: f"{h}:{p}", HOSTS, st.integers(1, 65535))


@given(address=_ADDRESS, pool=_FIELD, password=st.text(st.sampled_from("pw ;:@"), max_size=6), db=_FIELD,
       lead=st.sampled_from(["", " ", "\t"]), trail=st.sampled_from(["", " ", "\n"]))
@example(address="redis:6379", pool="abc", password="pw", db="1", lead=" ", trail=" ")  # was test_beego "junk-pool"
@example(address="redis:6379", pool="1_0", password="", db="2", lead="", trail="")
@example(address="redis:6379", pool="10", password="", db=" 3", lead="", trail="")
@example(address="redis:6379", pool="10", password="", db="٣", lead="", trail="")
def test_product_parser_reads_save_paths_as_beego_does(address, pool, password, db, lead, trail):
    text = f"{lead}{address},{pool},{password},{db}{trail}"
    try:
        product = beego.parse_redis_url(text)
    except beego.RedisUrlError:
        return  # the product refuses it outright: the lint fails it, no verdict about a Redis
    lab = redisurl.parse_save_path(text)
    assert (product.address, product.pool_size, product.password, product.db) == \
        (lab.address, lab.pool_size, lab.password, lab.db)


# -- the tests' own test: a lab that reads wrongly makes the properties fail ---------------------------
def _later_beego_pool_rule(value: str) -> redisurl.SessionSavePath:
    # SessionInit from beego 1.10 on: only a pool size < 0 is defaulted, so 0 is kept.
    pool = redisurl.go_atoi(value.split(",")[1])
    return dataclasses.replace(_REAL_PARSE(value), pool_size=pool if pool is not None and pool >= 0 else 100)


def _db_off_by_one(value: str) -> redisurl.SessionSavePath:
    right = _REAL_PARSE(value)
    return redisurl.SessionSavePath(right.address, right.pool_size, right.password, right.db + 1)


_REAL_PARSE = redisurl.parse_save_path


@pytest.mark.parametrize("wrong", [_db_off_by_one], ids=["db-off-by-one"])
def test_a_wrong_lab_fails_the_round_trip(monkeypatch, wrong):
    monkeypatch.setattr(redisurl, "parse_save_path", wrong)
    with pytest.raises(AssertionError):
        settings(database=None, max_examples=20)(test_product_url_reads_back_in_the_lab)()


def test_a_lab_with_later_beegos_pool_rule_disagrees_with_the_product_parser(monkeypatch):
    monkeypatch.setattr(redisurl, "parse_save_path", _later_beego_pool_rule)
    with pytest.raises(AssertionError):
        test_product_parser_reads_save_paths_as_beego_does.hypothesis.inner_test(
            address="redis:6379", pool="0", password="pw", db="1", lead="", trail="")
