"""The HTTP surface of the ui stand-in: what the runbooks use from Harbor 1.2's ui.

``GET /`` (a page), ``POST /login`` (``principal``, ``password`` -> cookie ``beegosessionID``),
``GET /api/users/current``, ``GET /service/token`` (the Docker token service) and
``POST /service/notifications`` (registry events, counted). Blocking calls (MySQL, Redis)
run in threads so one slow database does not stall every request.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time

from aiohttp import web

from .errors import LabError
from .sessions import COOKIE_NAME, new_session_id
from .settings import UiSettings
from .tokens import issue_token
from .users import User, UserStore

log = logging.getLogger("harborlab.ui")

SETTINGS = web.AppKey("settings", UiSettings)
USERS = web.AppKey("users", UserStore)
SESSIONS = web.AppKey("sessions", object)
EVENTS = web.AppKey("events", list)

INDEX_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Harbor</title></head>
<body><h1>Harbor</h1><p>harborlab ui stand-in (Harbor 1.2 ui API subset)</p>
<form method="post" action="/login"><input name="principal"><input name="password" type="password">
<button>Log in</button></form></body></html>
"""


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = raw.partition(":")
    return (user, password) if sep else None


def _unavailable(exc: LabError) -> web.Response:
    # The message names the backend and address, never a credential.
    log.error("%s", exc.render())
    return web.json_response({"error": exc.message}, status=503)


async def index(_request: web.Request) -> web.Response:
    return web.Response(text=INDEX_HTML, content_type="text/html")


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    principal, password = str(form.get("principal", "")), str(form.get("password", ""))
    try:
        user = await asyncio.to_thread(request.app[USERS].authenticate, principal, password)
        if user is None:
            return web.Response(status=401)
        sid = new_session_id()
        await asyncio.to_thread(request.app[SESSIONS].save, sid,
                                {"userId": user.user_id, "username": user.username})
    except LabError as exc:
        return _unavailable(exc)
    response = web.Response(status=200)
    response.set_cookie(COOKIE_NAME, sid, path="/", httponly=True)
    return response


async def current_user(request: web.Request) -> web.Response:
    sid = request.cookies.get(COOKIE_NAME)
    if not sid:
        return web.Response(status=401)
    try:
        data = await asyncio.to_thread(request.app[SESSIONS].load, sid)
        if not data or "userId" not in data:
            return web.Response(status=401)
        user = await asyncio.to_thread(request.app[USERS].by_id, int(data["userId"]))
    except LabError as exc:
        return _unavailable(exc)
    if user is None:
        return web.Response(status=401)
    return web.json_response(user.as_json())


async def token(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    service = request.query.get("service", "")
    scopes = request.query.getall("scope", [])
    credentials = _basic_credentials(request.headers.get("Authorization"))
    user: User | None = None
    if credentials is not None:
        try:
            user = await asyncio.to_thread(request.app[USERS].authenticate, *credentials)
        except LabError as exc:
            return _unavailable(exc)
        if user is None:
            return web.json_response({"errors": [{"code": "UNAUTHORIZED", "message": "invalid credentials"}]},
                                     status=401)
    subject, role = (user.username, user.role) if user else ("", "anonymous")
    body = issue_token(settings.signing_key, subject, role, service, scopes, int(time.time()),
                       settings.token_expiration_minutes)
    return web.json_response(body)


async def notifications(request: web.Request) -> web.Response:
    try:
        envelope = json.loads(await request.read() or b"{}")
    except ValueError:
        return web.Response(status=400, text="not JSON")
    events = envelope.get("events", []) if isinstance(envelope, dict) else []
    request.app[EVENTS].extend(events)
    log.info("notification: %d event(s)", len(events))
    return web.Response(status=200)


def build_app(settings: UiSettings, users: UserStore, sessions: object) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    app[USERS] = users
    app[SESSIONS] = sessions
    app[EVENTS] = []
    app.router.add_get("/", index)
    app.router.add_post("/login", login)
    app.router.add_get("/api/users/current", current_user)
    app.router.add_get("/service/token", token)
    app.router.add_post("/service/notifications", notifications)
    return app
