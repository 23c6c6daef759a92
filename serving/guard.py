"""The gate in front of ``/v1``: API key first, then request size, before any body is parsed.

A pure ASGI middleware (no per-request task or body buffering), so an unauthenticated or
oversized request costs a header look-up, never a JSON parse. Keys are checked here rather than
in a route dependency because FastAPI parses the body before it runs dependencies: a caller
without a key must get 401, not a validation error about a body it was not allowed to send.
"""

from __future__ import annotations

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.auth import KEY_HEADER, KeyRing, check_key
from serving.errors import error_body, error_json

PROTECTED_PREFIX = "/v1/"
ADMIN_PREFIX = "/v1/admin/"
_KEY_HEADER = KEY_HEADER.lower().encode("latin-1")


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit (no Content-Length)."""


def too_large_message(limit: int) -> str:
    return f"request body exceeds the limit of {limit} bytes"


class Guard:
    """Wraps the app: ``/v1/*`` needs a key (``/v1/admin/*`` the admin key) and a body of at most
    ``max_bytes``; anything else passes untouched."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        refused = _key_refusal(scope)
        if refused is not None:
            await _answer(send, *refused)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _answer(send, 413, too_large_message(self.max_bytes))
            return
        unsupported = _unsupported_body(headers)
        if unsupported is not None:
            await _answer(send, 415, unsupported)
            return
        await self.app(scope, self._limited(receive), send)

    def _limited(self, receive: Receive) -> Receive:
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(413, too_large_message(self.max_bytes))
            return message

        return limited_receive


def _key_refusal(scope: Scope) -> tuple[int, str] | None:
    """Why the request's key is refused (status, message), or None. Its own frame: the keys sent
    and the key ring are never locals of the frame the app's errors pass through."""
    state = scope["app"].state
    ring: KeyRing | None = (
        state.admin_keys if scope["path"].startswith(ADMIN_PREFIX) else state.api_keys
    )
    keys_sent = [value for name, value in scope["headers"] if name == _KEY_HEADER]
    if len(keys_sent) > 1:
        return 400, f"{len(keys_sent)} {KEY_HEADER} headers; send one"
    refused = check_key(ring, _key_text(keys_sent[0]) if keys_sent else None)
    return None if refused is None else (refused.status, refused.message)


def _key_text(value: bytes) -> str:
    """The key as sent: UTF-8 (as configured keys are read), without the optional whitespace
    HTTP allows around a header value. Bytes that are not UTF-8 match no key."""
    try:
        return value.decode("utf-8").strip(" \t")
    except UnicodeDecodeError:
        return "\ufffd"


def _unsupported_body(headers: dict[bytes, bytes]) -> str | None:
    """Why a request body cannot be read as JSON, or ``None``: one with content must say
    ``application/json`` (or a ``+json`` type) and come uncompressed. FastAPI would otherwise
    read it as no JSON at all and answer a puzzling 422 about a dictionary."""
    length = headers.get(b"content-length")
    has_body = b"transfer-encoding" in headers or (length is not None and length != b"0")
    if not has_body:
        return None
    encoding = headers.get(b"content-encoding", b"identity").decode("latin-1").strip().lower()
    if encoding not in ("", "identity"):
        return f"Content-Encoding {encoding} is not supported; send the JSON body uncompressed"
    kind = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
    if kind != "application/json" and not (
        kind.startswith("application/") and kind.endswith("+json")
    ):
        shown = kind or "none"
        return (
            f"Content-Type {shown} is not supported; send the body as JSON with "
            "Content-Type: application/json"
        )
    return None


async def _answer(send: Send, status: int, message: str) -> None:
    body = error_json(error_body(status, message))
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if status == 401:
        headers.append((b"www-authenticate", KEY_HEADER.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
