"""The roots every asset that connects to DSQL ships, pinned: a dependency bump cannot change them.

Regenerate only on purpose (say why in the commit): the file's digest and each certificate's
SHA-256 fingerprint are pinned here, Amazon Root CA 1 first among them (DSQL user guide,
"Configuring SSL/TLS certificates for Aurora DSQL connections": clients must trust it).
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from handlers.contract import Env
from handlers.db.connection import DEFAULT_CA_FILE, DatabaseSettings, aws_connect_kwargs
from handlers.settings import Settings

TRUST_FILE = Path(__file__).resolve().parents[2] / "src" / "handlers" / "amazon-trust-services.pem"
FILE_SHA256 = "66419f20c9d44184e749598df11ac9706b7c79f759a0c8f9b235c45ff8fbbc12"
ROOTS = {  # Amazon Trust Services' published fingerprints (https://www.amazontrust.com/repository/)
    "Amazon Root CA 1": "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e",
    "Amazon Root CA 2": "1ba5b2aa8c65401a82960118f80bec4f62304d83cec4713a19c39c011ea46db4",
    "Amazon Root CA 3": "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4",
    "Amazon Root CA 4": "e35d28419ed02025cfa69038cd623962458da5c695fbdea3c22b0bfb25897092",
    "Starfield Services Root Certificate Authority - G2": (
        "568d6905a2c88708a4b3025190edcfedb1974a606a13c6e5290fcb2ae63edab5"
    ),
}
ENDPOINT = "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws"


def test_the_shipped_file_is_exactly_the_pinned_roots() -> None:
    assert hashlib.sha256(TRUST_FILE.read_bytes()).hexdigest() == FILE_SHA256
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        certificates = x509.load_pem_x509_certificates(TRUST_FILE.read_bytes())
    found = {
        cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value: cert.fingerprint(
            hashes.SHA256()
        ).hex()
        for cert in certificates
    }
    assert found == ROOTS


def test_connections_verify_the_full_chain_and_name_against_the_shipped_file() -> None:
    assert Path(DEFAULT_CA_FILE) == TRUST_FILE
    kwargs = aws_connect_kwargs(DatabaseSettings(endpoint=ENDPOINT, region="us-east-1"), "token")
    assert kwargs["sslmode"] == "verify-full"
    assert kwargs["sslrootcert"] == str(TRUST_FILE)
    assert kwargs["sslrootcert"] != "system"
    assert kwargs["host"] == ENDPOINT  # libpq verifies the certificate for it and sends it as SNI
    # libpq's default 5432, DSQL's; leaving port and address out is also the seam make lambda-check
    # uses (PGHOSTADDR/PGPORT point the real endpoint name at a local proxy).
    assert "port" not in kwargs and "hostaddr" not in kwargs
    assert kwargs["gssencmode"] == "disable"  # DSQL: TLS and IAM only, no GSSAPI attempt first


def test_the_trust_file_is_a_setting() -> None:
    settings = Settings.from_env({Env.DSQL_ENDPOINT: ENDPOINT, Env.TRUST_FILE: "/tmp/test-ca.pem"})
    assert settings.database().ca_file == "/tmp/test-ca.pem"
    assert Settings.from_env({Env.DSQL_ENDPOINT: ENDPOINT}).database().ca_file == DEFAULT_CA_FILE


def test_libpq_s_default_port_is_dsqls() -> None:
    import psycopg

    defaults = {d.keyword: d.compiled for d in psycopg.pq.Conninfo.get_defaults()}
    assert defaults[b"port"] == b"5432"


def test_a_certificate_that_does_not_verify_is_not_retried() -> None:
    import psycopg

    from handlers.db.transactions import is_retryable_connect_error

    for message in (
        'connection to server at "127.0.0.1", port 5432 failed: SSL error: certificate verify failed',
        'connection failed: root certificate file "/var/task/x.pem" does not exist',
    ):
        assert not is_retryable_connect_error(psycopg.OperationalError(message))
    assert is_retryable_connect_error(psycopg.OperationalError("connection timeout expired"))
