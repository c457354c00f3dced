"""The local Cognito stand-in: tokens it issues verify like API Gateway's authorizer, forgeries do not."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import stat
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from ecommerce_dev.identity import (
    CLIENT_ID,
    EXPIRED,
    ISSUER,
    OPERATOR_CLIENT_ID,
    OPERATOR_ISSUER,
    TOKEN_LIFETIME,
    LocalIdentity,
    Unauthorized,
    claims_for_api_gateway,
    subject_for,
)
from handlers.api.caller import caller_of

NOW = 1544112503.0  # Thu Dec 06 16:08:23 UTC 2018, the captured event in the research notes
JAVA_DATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} UTC \d{4}$")


@pytest.fixture
def identity(tmp_path: Path) -> LocalIdentity:
    return LocalIdentity.open(tmp_path)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def rejected(identity: LocalIdentity, authorization: str | None) -> Unauthorized:
    with pytest.raises(Unauthorized) as caught:
        identity.verify(authorization, now=NOW + 60)
    return caught.value


def test_round_trip_gives_api_gateway_claims(identity: LocalIdentity) -> None:
    token = identity.issue(email="Someone@Example.com", groups=["operators"], now=NOW)

    claims = identity.verify(token, now=NOW + 60)

    assert all(isinstance(value, str) for value in claims.values())
    assert claims["sub"] == subject_for("someone@example.com")
    assert claims["cognito:username"] == claims["sub"]
    assert claims["iss"] == ISSUER
    assert claims["aud"] == CLIENT_ID
    assert claims["token_use"] == "id"
    assert claims["email"] == "Someone@Example.com"
    assert claims["email_verified"] == "true"
    assert claims["cognito:groups"] == "operators"
    assert claims["iat"] == "Thu Dec 06 16:08:23 UTC 2018"
    assert claims["exp"] == "Thu Dec 06 17:08:23 UTC 2018"
    assert JAVA_DATE.match(claims["exp"])
    assert claims["auth_time"] == "1544112503"
    assert claims["event_id"]
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": identity.jwks["keys"][0]["kid"]}


def test_groups_are_comma_joined_or_absent(identity: LocalIdentity) -> None:
    two = identity.verify(identity.issue(email="a@example.com", groups=["a", "b"], now=NOW), now=NOW)
    none = identity.verify(identity.issue(email="a@example.com", now=NOW), now=NOW)

    assert two["cognito:groups"] == "a,b"
    assert "cognito:groups" not in none


def test_operators_come_from_their_own_pool(identity: LocalIdentity) -> None:
    """Two pools, as deployed: the handlers call a token an operator's by its issuer alone."""
    operator = identity.verify(identity.issue(email="op@example.com", operator=True, now=NOW), now=NOW)
    grouped = identity.verify(identity.issue(email="op@example.com", groups=["operators"], now=NOW), now=NOW)

    assert (operator["iss"], operator["aud"]) == (OPERATOR_ISSUER, OPERATOR_CLIENT_ID)
    assert operator["sub"] == subject_for("op@example.com", operator=True) != grouped["sub"]

    def caller(claims: dict[str, str]) -> object:
        return caller_of({"requestContext": {"authorizer": {"claims": claims}}}, OPERATOR_ISSUER)

    assert caller(operator).operator is True  # type: ignore[attr-defined]
    assert caller(grouped).operator is False  # type: ignore[attr-defined]


def test_a_token_for_the_other_pools_client_is_refused(identity: LocalIdentity) -> None:
    crossed = identity.issue(email="op@example.com", operator=True, aud=CLIENT_ID, now=NOW)
    foreign = identity.issue(email="op@example.com", iss="https://cognito-idp.local.amazonaws.com/x", now=NOW)

    assert "audience" in rejected(identity, crossed).reason.lower()
    assert "not a trusted pool" in rejected(identity, foreign).reason


def test_unverified_email_is_the_string_false(identity: LocalIdentity) -> None:
    claims = identity.verify(identity.issue(email="u@example.com", email_verified=False, now=NOW), now=NOW)

    assert claims["email_verified"] == "false"
    found = caller_of({"requestContext": {"authorizer": {"claims": claims}}}, OPERATOR_ISSUER)
    assert found.email_verified is False


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_bearer_prefix_in_any_case(identity: LocalIdentity, scheme: str) -> None:
    token = identity.issue(email="a@example.com", now=NOW)

    assert identity.verify(f"{scheme} {token}", now=NOW)["sub"] == subject_for("a@example.com")


def test_subject_is_stable_per_email(tmp_path: Path) -> None:
    first = LocalIdentity.open(tmp_path)
    again = LocalIdentity.open(tmp_path)

    one = first.verify(first.issue(email="buyer@example.com", now=NOW), now=NOW)["sub"]
    two = again.verify(again.issue(email="BUYER@example.COM", now=NOW), now=NOW)["sub"]

    assert one == two == subject_for("buyer@example.com")
    assert subject_for("buyer@example.com") != subject_for("other@example.com")
    # The subject depends on the email only, not on the data directory's key.
    other = LocalIdentity.open(tmp_path / "elsewhere")
    assert other.verify(other.issue(email="buyer@example.com", now=NOW), now=NOW)["sub"] == one
    assert subject_for(" Buyer@Example.com ") == one


def test_key_persists_across_open(tmp_path: Path) -> None:
    first = LocalIdentity.open(tmp_path)
    key = (first.directory / "key.pem").read_bytes()
    token = first.issue(email="a@example.com", now=NOW)

    again = LocalIdentity.open(tmp_path)

    assert (again.directory / "key.pem").read_bytes() == key
    assert again.jwks == first.jwks
    assert again.verify(token, now=NOW)["email"] == "a@example.com"


def test_key_file_is_private(identity: LocalIdentity) -> None:
    assert stat.S_IMODE((identity.directory / "key.pem").stat().st_mode) == 0o600


def test_jwks_is_cognito_shaped(identity: LocalIdentity) -> None:
    (key,) = identity.jwks["keys"]

    assert sorted(key) == ["alg", "e", "kid", "kty", "n", "use"]
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    assert "PRIVATE" not in (identity.directory / "jwks.json").read_text()


def test_explicit_subject_and_lifetime(identity: LocalIdentity) -> None:
    token = identity.issue(email="a@example.com", subject="fixed-sub", lifetime=60, now=NOW)

    claims = identity.verify(token, now=NOW + 59)

    assert claims["sub"] == "fixed-sub"
    assert claims["exp"] == "Thu Dec 06 16:09:23 UTC 2018"
    assert rejected(identity, token).message == EXPIRED


@pytest.mark.parametrize("authorization", [None, "", "   ", "Bearer", "Bearer "])
def test_missing_header(identity: LocalIdentity, authorization: str | None) -> None:
    assert rejected(identity, authorization).message == "Unauthorized"


@pytest.mark.parametrize(
    "authorization", ["garbage", "Bearer garbage", "a.b.c", "Basic dXNlcjpwYXNz", "Bearer x y", "...."]
)
def test_garbage(identity: LocalIdentity, authorization: str) -> None:
    assert rejected(identity, authorization).message == "Unauthorized"


def test_expired(identity: LocalIdentity) -> None:
    token = identity.issue(email="a@example.com", now=NOW)

    with pytest.raises(Unauthorized) as caught:
        identity.verify(token, now=NOW + TOKEN_LIFETIME)  # exp <= now, no leeway

    assert caught.value.message == "The incoming token has expired"
    assert identity.verify(token, now=NOW + TOKEN_LIFETIME - 1)


def test_issued_in_the_future(identity: LocalIdentity) -> None:
    token = identity.issue(email="a@example.com", now=NOW + 86400)

    assert rejected(identity, token).message == "Unauthorized"


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param(
            {"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"}, id="wrong-issuer"
        ),
        pytest.param({"aud": "someotherclient"}, id="wrong-client"),
        pytest.param({"aud": [CLIENT_ID, "someotherclient"]}, id="aud-list"),
        pytest.param({"token_use": "access"}, id="access-token"),
        pytest.param(
            {"token_use": "access", "aud": None, "client_id": CLIENT_ID, "scope": "openid"},
            id="access-token-shaped",
        ),
        pytest.param({"sub": None}, id="missing-sub"),
        pytest.param({"sub": ""}, id="empty-sub"),
        pytest.param({"exp": None}, id="missing-exp"),
        pytest.param({"exp": "9999999999"}, id="string-exp"),
        pytest.param({"iat": None}, id="missing-iat"),
        pytest.param({"header": {"kid": "unknown"}}, id="unknown-kid"),
        pytest.param({"header": {"kid": None}}, id="no-kid"),
    ],
)
def test_invalid_claims_or_header(identity: LocalIdentity, overrides: dict[str, Any]) -> None:
    token = identity.issue(email="a@example.com", now=NOW, **overrides)

    assert rejected(identity, token).message == "Unauthorized"


def test_tampered_signature(identity: LocalIdentity) -> None:
    header, payload, signature = identity.issue(email="a@example.com", now=NOW).split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]

    assert rejected(identity, f"{header}.{payload}.{flipped}").message == "Unauthorized"


def test_tampered_payload(identity: LocalIdentity) -> None:
    header, payload, signature = identity.issue(email="a@example.com", now=NOW).split(".")
    claims = json.loads(unb64(payload))
    claims["sub"] = subject_for("victim@example.com")
    forged = b64(json.dumps(claims).encode())

    assert rejected(identity, f"{header}.{forged}.{signature}").message == "Unauthorized"


def test_alg_none(identity: LocalIdentity) -> None:
    good = identity.verify(identity.issue(email="a@example.com", now=NOW), now=NOW)
    claims = {**good, "exp": int(NOW) + 3600, "iat": int(NOW)}
    kid = identity.jwks["keys"][0]["kid"]
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": kid})

    assert rejected(identity, unsigned).message == "Unauthorized"
    # The same with an empty signature but a header claiming RS256 is just a bad signature.
    header = b64(json.dumps({"alg": "RS256", "kid": kid}).encode())
    assert rejected(identity, f"{header}.{unsigned.split('.')[1]}.").message == "Unauthorized"


def test_alg_confusion_hs256_with_public_key(identity: LocalIdentity) -> None:
    """An HMAC keyed with the public key (which anyone can fetch from the JWKS) must not pass."""
    token = identity.issue(email="a@example.com", now=NOW)
    _, payload, _ = token.split(".")
    public_pem = jwt.PyJWK(identity.jwks["keys"][0]).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kid = identity.jwks["keys"][0]["kid"]
    header = b64(json.dumps({"alg": "HS256", "kid": kid}).encode())
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()

    assert rejected(identity, f"{header}.{payload}.{b64(mac)}").message == "Unauthorized"


def test_token_from_another_pool(tmp_path: Path) -> None:
    mine = LocalIdentity.open(tmp_path / "mine")
    theirs = LocalIdentity.open(tmp_path / "theirs")
    foreign = theirs.issue(email="a@example.com", now=NOW)
    # Even claiming our kid does not help: the signature is checked with our key.
    spoofed = theirs.issue(email="a@example.com", now=NOW, header={"kid": mine.jwks["keys"][0]["kid"]})

    assert rejected(mine, foreign).message == "Unauthorized"
    assert rejected(mine, spoofed).message == "Unauthorized"


def test_reason_is_for_logs_only(identity: LocalIdentity) -> None:
    error = rejected(identity, identity.issue(email="a@example.com", now=NOW, token_use="access"))

    assert error.message == "Unauthorized"
    assert "token_use" in error.reason


@pytest.mark.parametrize("groups", ["operators", "a,operators", "[operators]", ["operators"], None])
def test_no_group_spelling_makes_a_customer_an_operator(groups: object) -> None:
    claims = {"sub": "s", "iss": ISSUER, "cognito:groups": groups}
    event = {"requestContext": {"authorizer": {"claims": claims}}}
    assert caller_of(event, OPERATOR_ISSUER).operator is False
    claims["iss"] = OPERATOR_ISSUER
    assert caller_of(event, OPERATOR_ISSUER).operator is True
    # No operators' pool configured: nobody is one.
    assert caller_of(event, "").operator is False


def test_claims_flattening() -> None:
    claims = claims_for_api_gateway(
        {
            "exp": 1544116103,
            "iat": 1544112503.0,
            "auth_time": 1544112503,
            "email_verified": False,
            "cognito:groups": ["admin", "staging-manager"],
            "identities": [{"providerName": "Facebook"}],
            "custom:tier": 3,
            "sub": "s",
        }
    )

    assert claims == {
        "exp": "Thu Dec 06 17:08:23 UTC 2018",
        "iat": "Thu Dec 06 16:08:23 UTC 2018",
        "auth_time": "1544112503",
        "email_verified": "false",
        "cognito:groups": "admin,staging-manager",
        "identities": '[{"providerName":"Facebook"}]',
        "custom:tier": "3",
        "sub": "s",
    }


def test_sample_customers_are_the_identities_their_emails_sign_in_as() -> None:
    """sample_data.sql carries subject_for(email) of each sample customer, so
    `ecommerce dev token --customer john.doe@example.com` is John."""
    from handlers.db.migrate import default_migrations_dir

    text = (default_migrations_dir().parent / "sample_data.sql").read_text(encoding="utf-8")
    rows = re.findall(r"\('(c1[0-9a-f-]+)', '([^']+@[^']+)', .*?'([0-9a-f-]{36})'\)", text)
    assert len(rows) == 3
    for customer_id, email, subject in rows:
        assert subject == subject_for(email), email
        assert f"identity_subject = '{subject}'\n    WHERE customer_id = '{customer_id}'" in text
