"""A local Cognito user pool and API Gateway Cognito authorizer for the dev runtime.

In AWS, API Gateway's ``COGNITO_USER_POOLS`` authorizer (REST API, no OAuth scopes on the methods)
checks the caller's **ID token** before the Lambda runs. It then hands the token's claims to the
function in ``event["requestContext"]["authorizer"]["claims"]`` as a flat string->string map. The
local runtime must have the same security model, so this module issues Cognito-shaped ID tokens with
a key kept in the data directory. It also verifies them as strictly as the authorizer does and
flattens the claims the same way, so handler code sees locally what it will see in AWS.

Only the private key file (``<data dir>/identity/key.pem``, mode 0600) holds the signing key; the
public half is published as ``jwks.json`` next to it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from handlers.contract import LOCAL_OPERATOR_ISSUER

#: The local customers' pool (self sign-up, optional MFA) and its storefront client.
ISSUER: Final = "https://cognito-idp.local.amazonaws.com/local_ecommerce"
CLIENT_ID: Final = "localdevclient"
#: The local operators' pool (admin-created users, MFA required when deployed) and its client: the
#: handlers treat a token as an operator's because this pool issued it (``iss``), as deployed.
OPERATOR_ISSUER: Final = LOCAL_OPERATOR_ISSUER
OPERATOR_CLIENT_ID: Final = "localoperatorsclient"
#: Pool (issuer) -> the app client its tokens are for: what the authorizer trusts.
AUDIENCES: Final = {ISSUER: CLIENT_ID, OPERATOR_ISSUER: OPERATOR_CLIENT_ID}
TOKEN_LIFETIME: Final = 3600
ALGORITHM: Final = "RS256"

# An iat this far ahead of the verifier's clock means a token from the future, not clock skew.
IAT_SKEW: Final = 300

# Messages of API Gateway's 401 gateway responses.
UNAUTHORIZED: Final = "Unauthorized"
EXPIRED: Final = "The incoming token has expired"

KEY_FILE: Final = "key.pem"
JWKS_FILE: Final = "jwks.json"

_SUBJECT_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, ISSUER)
_OPERATOR_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, OPERATOR_ISSUER)

_DAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Claims API Gateway renders as Java Date.toString(); auth_time stays an epoch string.
_DATE_CLAIMS: Final = frozenset({"exp", "iat"})
_GROUPS: Final = "cognito:groups"
_REQUIRED: Final = ["sub", "iss", "aud", "exp", "iat", "token_use"]


class Unauthorized(Exception):
    """The 401 API Gateway returns before the function runs.

    `message` is the response body's message; `reason` says why, for the dev server's log only
    (API Gateway never tells the caller).
    """

    def __init__(self, message: str = UNAUTHORIZED, *, reason: str = "") -> None:
        super().__init__(message if not reason else f"{message} ({reason})")
        self.message = message
        self.reason = reason


def subject_for(email: str, *, operator: bool = False) -> str:
    """The same email always yields the same identity: uuid5 of a fixed namespace and the lower-cased email.

    Independent of the signing key, so a new key (a wiped data directory) keeps users' orders theirs.
    An operator is another identity than a customer with the same email (another pool, another sub).
    """
    namespace = _OPERATOR_NAMESPACE if operator else _SUBJECT_NAMESPACE
    return str(uuid.uuid5(namespace, email.strip().lower()))


def _java_date(epoch: float) -> str:
    """Java's Date.toString() in UTC, as API Gateway renders exp/iat: "Thu Dec 06 17:08:23 UTC 2018".

    Built by hand rather than with strftime so the locale cannot change the names.
    """
    t = time.gmtime(int(epoch))
    return (
        f"{_DAYS[t.tm_wday]} {_MONTHS[t.tm_mon - 1]} {t.tm_mday:02d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} UTC {t.tm_year}"
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _claim_string(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if name in _DATE_CLAIMS and _is_number(value):
        return _java_date(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if name == _GROUPS and isinstance(value, list):
        return ",".join(str(group) for group in value)
    return json.dumps(value, separators=(",", ":"))


def claims_for_api_gateway(payload: Mapping[str, Any]) -> dict[str, str]:
    """Flatten a verified JWT payload the way API Gateway REST does: every value a string.

    exp/iat become Java Date.toString() strings, auth_time an epoch string, booleans "true"/"false",
    cognito:groups a comma-joined string (one group is just its name), other lists and objects JSON.
    """
    return {name: _claim_string(name, value) for name, value in payload.items()}


def _kid_of(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638 thumbprint: a stable kid that changes whenever the key does."""
    numbers = public_key.public_numbers()

    def b64(number: int) -> str:
        raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    canonical = json.dumps(
        {"e": b64(numbers.e), "kty": "RSA", "n": b64(numbers.n)}, separators=(",", ":"), sort_keys=True
    )
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def _jwks_for(public_key: rsa.RSAPublicKey) -> dict[str, Any]:
    jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
    # Cognito's JWKS entries carry exactly these fields.
    entry = {"kty": "RSA", "kid": _kid_of(public_key), "use": "sig", "alg": ALGORITHM}
    entry.update(n=jwk["n"], e=jwk["e"])
    return {"keys": [entry]}


def _write_atomically(path: Path, data: bytes, mode: int) -> Path:
    """Write to a private temporary file in the same directory; the caller links or renames it."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return Path(name)


def _load_private_key(path: Path) -> rsa.RSAPrivateKey:
    """The key in `path`; loading validates the RSA key (~40 ms), so the result is cached per file version."""
    status = path.stat()
    return _load_key_version(path, status.st_ino, status.st_mtime_ns, status.st_size)


@functools.lru_cache(maxsize=8)
def _load_key_version(path: Path, inode: int, mtime_ns: int, size: int) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError(f"{path} does not hold an RSA private key")
    return key


@dataclass(frozen=True)
class LocalIdentity:
    """The local user pool: its signing key and JWKS under ``<data dir>/identity/``.

    Created on first use (RSA 2048) and reused afterwards, so tokens stay valid across restarts of
    the dev server. Several processes may open the same directory at once: the key is published with
    an atomic link, so they all end up with the same one.
    """

    directory: Path

    @classmethod
    def open(cls, data_dir: Path) -> LocalIdentity:
        """The identity of a data directory, creating key.pem (0600) and jwks.json if missing."""
        directory = Path(data_dir) / "identity"
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        identity = cls(directory)
        key_path = directory / KEY_FILE
        if not key_path.exists():
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            temporary = _write_atomically(key_path, pem, 0o600)
            try:
                os.link(temporary, key_path)  # fails if another process won the race: use its key
            except FileExistsError:
                pass
            finally:
                temporary.unlink()
        public_key = _load_private_key(key_path).public_key()
        jwks = _jwks_for(public_key)
        jwks_path = directory / JWKS_FILE
        try:
            current = json.loads(jwks_path.read_text())
        except (OSError, ValueError):
            current = None
        if current != jwks:
            data = (json.dumps(jwks, indent=2) + "\n").encode()
            os.replace(_write_atomically(jwks_path, data, 0o644), jwks_path)
        return identity

    @property
    def key_path(self) -> Path:
        return self.directory / KEY_FILE

    @property
    def jwks_path(self) -> Path:
        return self.directory / JWKS_FILE

    @property
    def jwks(self) -> dict[str, Any]:
        """The public keys, shaped like Cognito's ``/.well-known/jwks.json``."""
        jwks: dict[str, Any] = json.loads(self.jwks_path.read_text())
        return jwks

    def issue(
        self,
        *,
        email: str,
        operator: bool = False,
        email_verified: bool = True,
        groups: Sequence[str] = (),
        subject: str | None = None,
        lifetime: int = TOKEN_LIFETIME,
        now: float | None = None,
        **overrides: Any,
    ) -> str:
        """A Cognito-shaped ID token for `email`, signed with the local key: from the operators' pool
        when `operator`, else from the customers' pool. `email_verified` False models a customer who
        changed (or never confirmed) their email; `groups` a ``cognito:groups`` claim (which grants
        nothing: tests show it).

        `overrides` replace or add claims (a value of None removes the claim) or, under the key
        "header", header fields; they exist for tests of broken tokens.
        """
        issued = int(time.time() if now is None else now)
        sub = subject if subject is not None else subject_for(email, operator=operator)
        issuer = OPERATOR_ISSUER if operator else ISSUER
        claims: dict[str, Any] = {
            "sub": sub,
            "iss": issuer,
            "aud": AUDIENCES[issuer],
            "token_use": "id",
            "auth_time": issued,
            "iat": issued,
            "exp": issued + lifetime,
            "email": email,
            "email_verified": email_verified,
            # Pools that sign in by email use the sub as the username, as Cognito does.
            "cognito:username": sub,
            "event_id": str(uuid.uuid4()),
        }
        if groups:
            claims[_GROUPS] = list(groups)
        private_key = _load_private_key(self.key_path)
        # Cognito's header is just kid and alg; PyJWT drops a falsy typ.
        header: dict[str, Any] = {"kid": _kid_of(private_key.public_key()), "typ": None}
        header.update(overrides.pop("header", None) or {})
        claims.update(overrides)
        payload = {name: value for name, value in claims.items() if value is not None}
        headers = {name: value for name, value in header.items() if value is not None or name == "typ"}
        return jwt.encode(payload, private_key, algorithm=ALGORITHM, headers=headers)

    def verify(self, authorization: str | None, *, now: float | None = None) -> dict[str, str]:
        """What API Gateway's Cognito authorizer does with the Authorization header.

        Returns the claims exactly as the authorizer hands them to the function. Accepts the raw
        token or "Bearer <token>". Raises Unauthorized for anything the authorizer would reject:
        the algorithm is pinned to RS256 and the key chosen by kid from this pool's JWKS only, so
        neither "none" nor an HMAC keyed with the public key (alg confusion) can pass. Two pools are
        trusted, as the deployed authorizer trusts the customers' and the operators' pools: the
        audience must be the client of the pool that issued the token.
        """
        token = _token_from(authorization)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as error:
            raise Unauthorized(reason=f"malformed token: {error}") from None
        if header.get("alg") != ALGORITHM:
            raise Unauthorized(reason=f"algorithm {header.get('alg')!r} is not {ALGORITHM}")
        kid = header.get("kid")
        entry = next((key for key in self.jwks["keys"] if key.get("kid") == kid), None)
        if entry is None:
            raise Unauthorized(reason=f"unknown kid {kid!r}")
        try:
            claimed = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.InvalidTokenError as error:
            raise Unauthorized(reason=f"malformed token: {error}") from None
        if not isinstance(claimed, str) or claimed not in AUDIENCES:
            raise Unauthorized(reason=f"issuer {claimed!r} is not a trusted pool")
        try:
            payload = jwt.decode(
                token,
                jwt.PyJWK(entry, ALGORITHM).key,
                algorithms=[ALGORITHM],
                audience=AUDIENCES[claimed],
                issuer=claimed,
                # Times are checked below against `now`, which PyJWT cannot be given.
                options={
                    "require": _REQUIRED,
                    "strict_aud": True,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidTokenError as error:
            raise Unauthorized(reason=f"invalid token: {error}") from None
        _check_claims(payload, time.time() if now is None else now)
        return claims_for_api_gateway(payload)


def _token_from(authorization: str | None) -> str:
    parts = (authorization or "").split()
    if not parts:
        raise Unauthorized(reason="no Authorization header")
    if len(parts) == 2 and parts[0].lower() == "bearer":
        return parts[1]
    if len(parts) == 1:
        return parts[0]
    raise Unauthorized(reason="malformed Authorization header")


def _check_claims(payload: Mapping[str, Any], now: float) -> None:
    if payload.get("token_use") != "id":
        raise Unauthorized(reason=f"token_use {payload.get('token_use')!r} is not an ID token")
    sub = payload.get("sub")
    if not isinstance(sub, str) or not sub:
        raise Unauthorized(reason="no subject")
    for name in ("exp", "iat", "auth_time", "nbf"):
        if name in payload and not _is_number(payload[name]):
            raise Unauthorized(reason=f"{name} is not a number")
    if payload["iat"] > now + IAT_SKEW or payload.get("nbf", now) > now + IAT_SKEW:
        raise Unauthorized(reason="token is not valid yet")
    if payload["exp"] <= now:
        raise Unauthorized(EXPIRED, reason="expired")
