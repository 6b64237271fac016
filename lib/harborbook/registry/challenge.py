"""``WWW-Authenticate`` challenges (RFC 7235) as the registry and the ui send them.

A registry answers ``401`` with ``Bearer realm="...",service="...",scope="repository:a/b:pull,push"``:
the scope itself contains commas, inside quotes, so the header cannot be split on commas
naively. One header may also carry several challenges (``Basic realm="x", Bearer realm="y"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True)
class Challenge:
    """One auth challenge: its scheme (lower case) and parameters (names lower case)."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scope(self) -> str | None:
        return self.params.get("scope")


class ChallengeSyntaxError(ValueError):
    """The header is not a list of challenges."""


class _Scanner:
    def __init__(self, text: str):
        self.text, self.pos = text, 0

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def skip_separators(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t,":
            self.pos += 1

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def token(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _TOKEN_CHARS:
            self.pos += 1
        return self.text[start : self.pos]

    def quoted(self) -> str:
        self.pos += 1  # opening quote
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
            elif char == '"':
                self.pos += 1
                return "".join(out)
            else:
                out.append(char)
                self.pos += 1
        raise ChallengeSyntaxError("unterminated quoted string")

    def lookahead_is_param(self) -> bool:
        """After a token: is this ``name=value`` (a parameter) rather than a new scheme?"""
        save = self.pos
        self.token()
        self.skip_space()
        is_param = self.peek() == "=" and self.text[self.pos : self.pos + 2] != "=="
        self.pos = save
        return is_param


def parse_challenges(header: str) -> list[Challenge]:
    """All challenges in one ``WWW-Authenticate`` value, in order."""
    scan = _Scanner(header)
    challenges: list[Challenge] = []
    scan.skip_separators()
    while scan.peek():
        scheme = scan.token()
        if not scheme:
            raise ChallengeSyntaxError(f"expected an auth scheme at position {scan.pos}")
        params: dict[str, str] = {}
        scan.skip_space()
        while scan.peek() and scan.lookahead_is_param():
            name = scan.token().lower()
            scan.skip_space()
            scan.pos += 1  # '='
            scan.skip_space()
            if scan.peek() == '"':
                params[name] = scan.quoted()
            else:
                params[name] = scan.token()
            scan.skip_separators()
        if scan.peek() and not params:
            # token68 form (``Negotiate abc==``): keep it, we never use it.
            scan.token()
            while scan.peek() == "=":
                scan.pos += 1
            scan.skip_separators()
        challenges.append(Challenge(scheme.lower(), params))
    return challenges


def find_challenge(headers: list[str], scheme: str) -> Challenge | None:
    """The first challenge of ``scheme`` among several header values (None when absent)."""
    for header in headers:
        for challenge in parse_challenges(header):
            if challenge.scheme == scheme.lower():
                return challenge
    return None


def repository_scope(name: str, actions: tuple[str, ...] = ("pull",)) -> str:
    """``repository:<name>:<actions>`` as the registry and token service spell it."""
    return f"repository:{name}:{','.join(actions)}"
