"""One HTTP exchange with the standard library, and HTTP failures as ``TransportError``.

The one HTTP helper of harborbook: the registry client and 05's UI checks both use it.

``http.client`` rather than urllib: we need every status back as data (a 401 is the start of
a login, not an exception), no automatic auth, and redirects followed only where we say.
Error bodies come from remote systems and may echo what we sent: they are cut short and
masked before they reach a message.
"""

from __future__ import annotations

import http.client
import ssl
import urllib.parse
from dataclasses import dataclass, field

from ..errors import TransportError, Unavailable, transport_error
from ..secrets import mask

BODY_LIMIT = 300
MAX_REDIRECTS = 5
USER_AGENT = "harborbook-registry/0.1"

# Status -> what to do about it (policy as data; the default covers the rest).
HINTS: dict[int, str] = {
    401: "the credentials were refused: check the username and password (and the token realm)",
    403: "the user is authenticated but lacks the permission (project membership, push rights)",
    404: "the repository, tag or blob does not exist on this registry (or this replica)",
    405: "the registry refused the method: is storage read-only or deletion disabled?",
    413: "a proxy in front of the registry limits the body size (nginx client_max_body_size 0)",
    502: "the proxy could not reach its upstream: are the registry/ui pods ready?",
    503: "the service is unavailable: are the pods ready?",
}
DEFAULT_HINT = "see the registry and ui logs for the request at this time"


@dataclass
class Response:
    status: int
    url: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key.lower() == name]


def short_body(body: bytes, secrets: tuple[str, ...] = ()) -> str:
    """The first few hundred characters of a body, one line, with secrets masked."""
    text = body.decode("utf-8", errors="replace")
    text = " ".join(text.split())
    text = mask(text, extra=secrets)
    if len(text) > BODY_LIMIT:
        text = text[:BODY_LIMIT] + "..."
    return text


def http_error(method: str, response: Response, secrets: tuple[str, ...] = (), what: str = "") -> TransportError:
    """A ``TransportError`` for an unexpected status: method, URL, status, short masked body."""
    body = short_body(response.body, secrets)
    prefix = f"{what}: " if what else ""
    message = f"{prefix}{method} {response.url} -> HTTP {response.status}"
    if body:
        message += f": {body}"
    return transport_error(response.status, message, hint=HINTS.get(response.status, DEFAULT_HINT))


def _connection(parts: urllib.parse.SplitResult, timeout: float,
                context: ssl.SSLContext | None) -> http.client.HTTPConnection:
    host = parts.hostname or ""  # request() refused URLs without a host
    if parts.scheme == "https":
        return http.client.HTTPSConnection(host, parts.port, timeout=timeout, context=context)
    if parts.scheme == "http":
        return http.client.HTTPConnection(host, parts.port, timeout=timeout)
    raise TransportError(f"unsupported URL scheme in {parts.geturl()}", hint="use http:// or https://")


def request(
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    *,
    timeout: float = 30.0,
    context: ssl.SSLContext | None = None,
    follow_redirects: bool = True,
) -> Response:
    """Send one request and return the response whatever its status.

    Connection failures raise ``TransportError``. GET and HEAD follow redirects (a registry
    may send blob downloads to its storage); other methods never do.
    """
    headers = {"User-Agent": USER_AGENT, **(headers or {})}
    for _hop in range(MAX_REDIRECTS + 1):
        parts = urllib.parse.urlsplit(url)
        if not parts.hostname:
            raise TransportError(f"not a URL: {url!r}", hint="give a full http:// or https:// URL")
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        conn = _connection(parts, timeout, context)
        try:
            conn.request(method, target, body=body, headers=headers)
            raw = conn.getresponse()
            data = raw.read() if method != "HEAD" else b""
            response = Response(raw.status, url, list(raw.getheaders()), data)
        except (OSError, http.client.HTTPException) as exc:
            raise Unavailable(
                f"{method} {url}: cannot reach the server ({type(exc).__name__}: {exc})",
                hint="check the address, that the service is running, and the network path to it",
            ) from exc
        finally:
            conn.close()
        location = response.header("Location")
        if (
            follow_redirects
            and method in ("GET", "HEAD")
            and response.status in (301, 302, 303, 307, 308)
            and location
        ):
            next_url = urllib.parse.urljoin(url, location)
            # Credentials are for the registry, never for wherever it redirects us.
            if urllib.parse.urlsplit(next_url).netloc != parts.netloc:
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            url = next_url
            continue
        return response
    raise TransportError(f"{method} {url}: more than {MAX_REDIRECTS} redirects", hint=DEFAULT_HINT)
