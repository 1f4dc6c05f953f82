"""Who is asking: one ``Authenticator`` per deployment, chosen once from the settings.

- No tokens or users file, bound to loopback: every request is the OS user who started the
  dashboard (``getpass.getuser()``, or ``local`` when there is none). Anyone who can reach
  127.0.0.1 on this machine acts as that user; that is the trade for a laptop or a demo.
- A tokens file and/or a users file: every page, the event stream and the ack endpoint need
  ``Authorization: Bearer <token>`` or ``Authorization: Basic ...``; the name on the matching
  line is the user, and the only source of an ack's ``by``.
- Bound to any other address without either file: refused at start (``AuthConfigError``).

OpenID Connect fits as one more ``Authenticator`` (a session cookie set by a login callback);
nothing else changes. Bearer-token requests are not subject to the cross-site checks, because a
browser never attaches such a header by itself; basic auth and the loopback user are ambient
credentials and are (``User.ambient``).
"""

from __future__ import annotations

import base64
import binascii
import getpass
import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from monitor.web.passwords import is_hash, verify_password
from monitor.web.settings import WebSettings, is_loopback

MIN_TOKEN_LENGTH = 16
MAX_NAME_LENGTH = 128  # AckEvent.by


class AuthConfigError(Exception):
    """The authentication settings are unusable; the dashboard must not start."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    method: Literal["local", "bearer", "basic"]

    @property
    def ambient(self) -> bool:
        """Sent by a browser on its own (so a cross-site page could make it send it)."""
        return self.method != "bearer"


class Authenticator(Protocol):
    challenge: str | None

    def authenticate(self, authorization: str | None) -> User | None: ...


class LocalUser:
    """Loopback without configured authentication: everyone is the dashboard's OS user."""

    challenge: str | None = None

    def __init__(self, name: str) -> None:
        self.user = User(name, "local")

    def authenticate(self, authorization: str | None) -> User | None:
        return self.user


class Credentials:
    """Bearer tokens and basic-auth users from files."""

    def __init__(self, tokens: Mapping[str, str], users: Mapping[str, str]) -> None:
        # Tokens are looked up by their SHA-256, compared in constant time.
        self._tokens = {hashlib.sha256(t.encode()).digest(): u for t, u in tokens.items()}
        self._users = dict(users)
        self._verified: OrderedDict[bytes, str] = OrderedDict()
        self.challenge: str | None = (
            'Basic realm="nms-monitor", charset="UTF-8"' if users else "Bearer"
        )

    def authenticate(self, authorization: str | None) -> User | None:
        if not authorization:
            return None
        scheme, _, value = authorization.partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and self._tokens:
            digest = hashlib.sha256(value.encode()).digest()
            for known, name in self._tokens.items():
                if hmac.compare_digest(known, digest):
                    return User(name, "bearer")
            return None
        if scheme.lower() == "basic" and self._users:
            return self._basic(value)
        return None

    def _basic(self, value: str) -> User | None:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        name, sep, password = decoded.partition(":")
        encoded = self._users.get(name)
        if not sep or encoded is None:
            return None
        # scrypt costs ~50 ms: remember a verified pair (by its hash) for the next requests.
        key = hashlib.sha256(f"{name}\0{password}".encode()).digest()
        if self._verified.get(key) == encoded:
            self._verified.move_to_end(key)
            return User(name, "basic")
        if not verify_password(password, encoded):
            return None
        self._verified[key] = encoded
        if len(self._verified) > 256:
            self._verified.popitem(last=False)
        return User(name, "basic")


def _lines(path: str, what: str) -> list[tuple[int, str, str]]:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise AuthConfigError(f"{what} {path}: cannot read it ({exc.strerror})") from None
    rows = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, secret = line.partition(":")
        name, secret = name.strip(), secret.strip()
        if not sep or not name or not secret or len(name) > MAX_NAME_LENGTH:
            # The line may hold a secret: say where, never what.
            raise AuthConfigError(f"{what} {path}:{n}: expected 'user:secret'")
        rows.append((n, name, secret))
    return rows


def load_tokens(path: str) -> dict[str, str]:
    tokens: dict[str, str] = {}
    for n, name, token in _lines(path, "tokens file"):
        if len(token) < MIN_TOKEN_LENGTH:
            raise AuthConfigError(
                f"tokens file {path}:{n}: token shorter than {MIN_TOKEN_LENGTH} characters"
            )
        if token in tokens:
            raise AuthConfigError(f"tokens file {path}:{n}: the same token twice")
        tokens[token] = name
    return tokens


def load_users(path: str) -> dict[str, str]:
    users: dict[str, str] = {}
    for n, name, encoded in _lines(path, "users file"):
        if not is_hash(encoded):
            raise AuthConfigError(
                f"users file {path}:{n}: not a password hash (make one with "
                "'python -m monitor.web.passwords USER')"
            )
        users[name] = encoded
    return users


def local_user_name() -> str:
    try:
        name = getpass.getuser()
    except (OSError, KeyError):
        return "local"
    return name[:MAX_NAME_LENGTH] or "local"


def authenticator(web: WebSettings) -> Authenticator:
    """The authenticator for these settings; refuses a non-loopback bind without credentials."""
    if web.tokens_file or web.users_file:
        tokens = load_tokens(web.tokens_file) if web.tokens_file else {}
        users = load_users(web.users_file) if web.users_file else {}
        if not tokens and not users:
            raise AuthConfigError("authentication is configured but the files name nobody")
        return Credentials(tokens, users)
    if not is_loopback(web.host):
        raise AuthConfigError(
            f"refusing to listen on {web.host} without authentication: set NMS_WEB_TOKENS_FILE "
            "or NMS_WEB_USERS_FILE, or bind to 127.0.0.1"
        )
    return LocalUser(local_user_name())
