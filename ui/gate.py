"""The sign-in gate in front of the whole server when a password is set (``$CROSSBOARD_PASSWORD``).

Streamlit's own endpoints (the page's websocket, ``/_stcore/upload_file``, ``/media``, ``/_stcore/metrics``,
...) answer any client that reaches them, so a sign-in form drawn by the app itself would come too late:
an unsigned client could upload files or fetch an export. ``SignInGate`` is an ASGI middleware that
runs before every Streamlit route (``ui.serve`` builds the server with it): a request without a valid
session cookie gets the sign-in page (``/signin``), a 401, or a refused websocket; nothing else of the
server runs for it. The cookie holds an HMAC-SHA256 of its issue time under a key drawn at server start
(so a restart signs everyone out), is HttpOnly and SameSite=Strict, and lasts ``SESSION_S`` seconds.
Wrong passwords wait a second each and a client gets ``MAX_FAILURES`` tries a minute. A signed-in
session may upload ``MAX_UPLOADS`` files a ``UPLOAD_WINDOW_S``, each within the upload cap."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import os
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from automl.cli import PASSWORD_ENV

COOKIE = "crossboard_session"
SIGN_IN_PATH = "/signin"
SESSION_S = 12 * 3600
MAX_FAILURES = 10                 # wrong passwords a client may try a minute
MAX_UPLOADS = 50                  # uploads a session may start per window
UPLOAD_WINDOW_S = 600
MAX_FORM_BYTES = 4096             # the sign-in form's body
UPLOAD_PATH = "/_stcore/upload_file"
_KEY = secrets.token_bytes(32)    # this server's signing key

Scope = dict
ASGIApp = Callable[[Scope, Callable, Callable], Awaitable[None]]


def session_token(issued: int | None = None) -> str:
    """A signed session token "issued.signature" (issued: epoch seconds, now by default)."""
    issued = int(time.time()) if issued is None else issued
    return f"{issued}.{_signature(issued)}"


def valid_token(token: str | None, now: float | None = None) -> bool:
    """Whether ``token`` was signed by this server and is younger than SESSION_S."""
    if not isinstance(token, str):
        return False
    issued, _, signature = token.partition(".")
    if not issued.isdigit():
        return False
    age = (time.time() if now is None else now) - int(issued)
    return 0 <= age <= SESSION_S and hmac.compare_digest(signature, _signature(int(issued)))


def _signature(issued: int) -> str:
    return hmac.new(_KEY, f"crossboard-session:{issued}".encode(), hashlib.sha256).hexdigest()


def cookie_of(scope: Scope) -> str | None:
    """The session cookie of an HTTP or websocket request, or None."""
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            found = SimpleCookie()
            try:
                found.load(value.decode("latin-1"))
            except Exception:       # noqa: BLE001 - a malformed cookie header is no session
                return None
            if COOKIE in found:
                return found[COOKIE].value
    return None


class SignInGate:
    """ASGI middleware: only a request with a valid session cookie reaches ``app`` (see the module
    docstring); ``password`` is the one to sign in with, ``max_upload_bytes`` the upload cap."""

    def __init__(self, app: ASGIApp, password: str, max_upload_bytes: int):
        self.app, self.password, self.max_upload_bytes = app, password.encode(), max_upload_bytes
        self.failures: dict[str, deque] = defaultdict(deque)      # client -> times of wrong passwords
        self.uploads: dict[str, deque] = defaultdict(deque)       # session -> times of uploads

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        token = cookie_of(scope)
        if scope["type"] == "http" and path == SIGN_IN_PATH:
            await self.sign_in(scope, receive, send)
        elif not valid_token(token):
            await self.refuse(scope, send)
        elif scope["type"] == "http" and path.startswith(UPLOAD_PATH) and scope.get("method") == "PUT":
            why = self.upload_refusal(scope, token)
            if why:
                await respond(send, 413 if "bytes" in why else 429, why)
            else:
                await self.app(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def refuse(self, scope: Scope, send: Callable) -> None:
        """A request without a session: the sign-in page for a page load, else 401 (a websocket is
        closed before it is accepted, which the client sees as HTTP 403)."""
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        elif scope.get("method") == "GET" and "/_stcore/" not in scope["path"] and "/media/" not in scope["path"]:
            await redirect(send, SIGN_IN_PATH)
        else:
            await respond(send, 401, "sign in first: this CrossBoard server needs its password")

    async def sign_in(self, scope: Scope, receive: Callable, send: Callable) -> None:
        """GET: the form. POST: check the password; the cookie and a redirect to the app, else the form again."""
        if scope.get("method") != "POST":
            await page(send, 200, "")
            return
        client = (scope.get("client") or ("?",))[0]
        recent = self.failures[client]
        while recent and recent[0] < time.monotonic() - 60:
            recent.popleft()
        if len(recent) >= MAX_FAILURES:
            await page(send, 429, "Too many wrong passwords from this address; wait a minute.")
            return
        body = await read_body(receive, MAX_FORM_BYTES)
        given = parse_qs(body.decode("utf-8", "replace")).get("password", [""])[0].encode() if body else b""
        if body is not None and hmac.compare_digest(given, self.password):
            await send({"type": "http.response.start", "status": 303, "headers": [
                (b"location", b"/"), (b"set-cookie", (f"{COOKIE}={session_token()}; Path=/; HttpOnly; "
                                                      f"SameSite=Strict; Max-Age={SESSION_S}").encode())]})
            await send({"type": "http.response.body", "body": b""})
            return
        recent.append(time.monotonic())
        await asyncio.sleep(1.0)    # slows guessing
        await page(send, 401, "Wrong password.")

    def upload_refusal(self, scope: Scope, token: str) -> str | None:
        """Why this upload is refused (its declared size past the cap, or too many uploads), or None."""
        length = dict(scope.get("headers", [])).get(b"content-length", b"")
        if not length.isdigit() or int(length) > self.max_upload_bytes:
            return (f"an upload must declare its size, at most {self.max_upload_bytes:,} bytes "
                    "(CROSSBOARD_MAX_UPLOAD_MB); name a larger file by its path on the Data page instead")
        recent = self.uploads[token]
        while recent and recent[0] < time.monotonic() - UPLOAD_WINDOW_S:
            recent.popleft()
        if len(recent) >= MAX_UPLOADS:
            return f"at most {MAX_UPLOADS} uploads per {UPLOAD_WINDOW_S // 60} minutes per session; wait a little"
        recent.append(time.monotonic())
        return None


async def read_body(receive: Callable, limit: int) -> bytes | None:
    """The request's body, or None when it is longer than ``limit`` bytes."""
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
        if len(body) > limit:
            return None
    return body


async def respond(send: Callable, status: int, text: str) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
    await send({"type": "http.response.body", "body": text.encode()})


async def redirect(send: Callable, location: str) -> None:
    await send({"type": "http.response.start", "status": 303, "headers": [(b"location", location.encode())]})
    await send({"type": "http.response.body", "body": b""})


async def page(send: Callable, status: int, message: str) -> None:
    """The sign-in page (with ``message`` above the form)."""
    note = f'<p role="alert">{html.escape(message)}</p>' if message else ""
    body = (f'<!doctype html><html><head><meta charset="utf-8"><title>CrossBoard · sign in</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
            f'<body style="font-family: sans-serif; max-width: 22rem; margin: 6rem auto">'
            f'<h1>CrossBoard</h1>{note}<form method="post" action="{SIGN_IN_PATH}">'
            f'<label>Password <input type="password" name="password" autofocus required></label> '
            f'<button type="submit">Sign in</button></form></body></html>')
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/html; charset=utf-8"), (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body.encode()})


def password() -> str:
    """The server's password, "" for none."""
    return os.environ.get(PASSWORD_ENV, "")
