"""WWW-Authenticate parsing: quoted commas, several challenges, odd spacing."""

from __future__ import annotations

import pytest

from harborbook.registry import Challenge, ChallengeSyntaxError, find_challenge, parse_challenges, repository_scope

CASES = [
    (
        'Bearer realm="https://harbor.example.com/service/token",service="harbor-registry"',
        [Challenge("bearer", {"realm": "https://harbor.example.com/service/token", "service": "harbor-registry"})],
    ),
    (
        'Bearer realm="http://h/service/token",service="harbor-registry",'
        'scope="repository:library/busybox:pull,push"',
        [Challenge("bearer", {"realm": "http://h/service/token", "service": "harbor-registry",
                              "scope": "repository:library/busybox:pull,push"})],
    ),
    ('Basic realm="basic-realm"', [Challenge("basic", {"realm": "basic-realm"})]),
    (
        'Basic realm="a, b", Bearer realm="http://t",service=s',
        [Challenge("basic", {"realm": "a, b"}), Challenge("bearer", {"realm": "http://t", "service": "s"})],
    ),
    ('BEARER Realm = "x" , Service="y"', [Challenge("bearer", {"realm": "x", "service": "y"})]),
    ('Bearer realm="say \\"hi\\""', [Challenge("bearer", {"realm": 'say "hi"'})]),
    ("Basic", [Challenge("basic", {})]),
    ("Negotiate abc==, Basic realm=x", [Challenge("negotiate", {}), Challenge("basic", {"realm": "x"})]),
    (
        'Bearer realm="http://t",error="insufficient_scope",scope="repository:a:pull repository:b:pull"',
        [Challenge("bearer", {"realm": "http://t", "error": "insufficient_scope",
                              "scope": "repository:a:pull repository:b:pull"})],
    ),
    ("", []),
]


@pytest.mark.parametrize(
    ("header", "expected"),
    CASES,
    ids=["bearer", "quoted-comma-scope", "basic", "two-challenges", "spaces-and-case",
         "escaped-quote", "bare-scheme", "token68", "error-and-multiscope", "empty"],
)
def test_parse_challenges(header, expected):
    assert parse_challenges(header) == expected


@pytest.mark.parametrize("header", ['Bearer realm="unterminated', '=oops'], ids=["unterminated", "no-scheme"])
def test_parse_rejects_garbage(header):
    with pytest.raises(ChallengeSyntaxError):
        parse_challenges(header)


def test_find_challenge_across_headers():
    headers = ['Basic realm="r"', 'Bearer realm="http://t",service="svc"']
    assert find_challenge(headers, "Bearer").service == "svc"
    assert find_challenge(headers, "basic").realm == "r"
    assert find_challenge(headers, "digest") is None


@pytest.mark.parametrize(
    ("name", "actions", "expected"),
    [("library/x", ("pull",), "repository:library/x:pull"),
     ("library/x", ("pull", "push"), "repository:library/x:pull,push")],
    ids=["pull", "pull-push"],
)
def test_repository_scope(name, actions, expected):
    assert repository_scope(name, actions) == expected
