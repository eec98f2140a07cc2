"""Who a connection is: signed tokens (JWT, HS256, through PyJWT), checked as pure functions.

A token's claims:

- ``sub``: the user, who is their nickname in the chat (1 to 32 ASCII letters, digits,
  ``_`` or ``-``); required;
- ``aud``: the gateway's audience (``WSLAB_TOKEN_AUDIENCE``); required;
- ``exp``: when it expires (Unix time); required;
- ``rooms``: the chat rooms it may enter, as patterns (``*`` matches any run of
  characters: ``team-*``); without it, every room.

A client presents it in the ``Authorization: Bearer`` header, or, from a browser, which
cannot set headers on a WebSocket, in the ``token`` query parameter, which the gateway
removes before the query reaches any service. The clock is passed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qsl, urlencode

import jwt

__all__ = [
    "AUTH_MODES",
    "Authentication",
    "Identity",
    "TokenRefused",
    "TokenVerifier",
    "presented",
    "without_token",
]

#: ``WSLAB_AUTH``: ``anonymous`` lets anyone in (a token, if presented, is checked);
#: ``token`` lets in only clients with a good token.
AUTH_MODES = ("anonymous", "token")

#: The query parameter a browser presents its token in.
QUERY_PARAMETER = "token"
# A subject is a nickname: the chat shows it and compares it.
_SUBJECT = re.compile(r"[A-Za-z0-9_-]{1,32}")


@dataclass(frozen=True)
class Identity:
    """Who a verified token says the client is.

    Attributes:
        subject: the user, their nickname.
        rooms: the room patterns they may enter; None: any room.
    """

    subject: str
    rooms: tuple[str, ...] | None = None


class TokenRefused(Exception):
    """A token is missing or not good here: the handshake's status and reason."""

    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def presented(headers: Iterable[tuple[bytes, bytes]], query: str) -> str | None:
    """The token a request presents: its ``Authorization: Bearer`` header's, else its
    ``token`` query parameter's; None without either."""
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    for parameter, given in parse_qsl(query):
        if parameter == QUERY_PARAMETER and given:
            return given
    return None


def without_token(query: str) -> str:
    """``query`` without its ``token`` parameter: a secret stays in the gateway."""
    if QUERY_PARAMETER not in query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(name, value) for name, value in pairs if name != QUERY_PARAMETER])


@dataclass(frozen=True)
class TokenVerifier:
    """Checks tokens signed with ``secret`` (HS256) for ``audience``.

    Args:
        secret: the shared signing secret.
        audience: the ``aud`` a token must name.
        leeway: seconds of clock difference tolerated around ``exp`` and ``nbf``.
    """

    secret: str
    audience: str = "wslab"
    leeway: float = 30.0

    def verify(self, token: str | None, now: float) -> Identity:
        """The identity ``token`` proves at Unix time ``now``.

        Raises:
            TokenRefused: 401 when it is missing, malformed, forged, expired or for
                another audience; 403 when its claims are not usable here.
        """
        if token is None:
            raise TokenRefused(HTTPStatus.UNAUTHORIZED, "a token is required")
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                audience=self.audience,
                # Times are checked below, against the clock given.
                options={
                    "require": ["exp", "sub", "aud"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidAudienceError:
            raise TokenRefused(
                HTTPStatus.UNAUTHORIZED, "the token is not for this gateway"
            ) from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenRefused(HTTPStatus.UNAUTHORIZED, f"the token has no {exc.claim!r}") from None
        except jwt.InvalidTokenError:
            raise TokenRefused(HTTPStatus.UNAUTHORIZED, "the token is invalid") from None
        expires, starts = claims["exp"], claims.get("nbf")
        if not isinstance(expires, int | float) or expires + self.leeway <= now:
            raise TokenRefused(HTTPStatus.UNAUTHORIZED, "the token has expired")
        if isinstance(starts, int | float) and starts - self.leeway > now:
            raise TokenRefused(HTTPStatus.UNAUTHORIZED, "the token is not valid yet")
        subject, rooms = claims["sub"], claims.get("rooms")
        if not isinstance(subject, str) or not _SUBJECT.fullmatch(subject):
            raise TokenRefused(HTTPStatus.FORBIDDEN, "the token's subject is not a nickname")
        if rooms is not None and not (
            isinstance(rooms, list) and all(isinstance(room, str) for room in rooms)
        ):
            raise TokenRefused(HTTPStatus.FORBIDDEN, "the token's rooms are not a list of names")
        return Identity(subject, None if rooms is None else tuple(rooms))


@dataclass(frozen=True)
class Authentication:
    """Who may connect: anyone, or only token holders.

    Args:
        verifier: checks tokens; None: the gateway knows no secret, and a token presented
            is not looked at.
        required: True: a connection without a good token is refused.
    """

    verifier: TokenVerifier | None = None
    required: bool = False

    def __post_init__(self) -> None:
        if self.required and self.verifier is None:
            raise ValueError("tokens cannot be required without a secret to check them")

    def identify(
        self, headers: Iterable[tuple[bytes, bytes]], query: str, now: float
    ) -> Identity | None:
        """Who a request says it is at Unix time ``now``: the identity its token proves,
        or None for an anonymous client.

        Raises:
            TokenRefused: a token is required and missing, or a token presented is bad.
        """
        token = presented(headers, query)
        if self.verifier is None or (token is None and not self.required):
            return None
        return self.verifier.verify(token, now)
