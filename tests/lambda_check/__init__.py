"""``make lambda-check``: every function's bundled asset, run the way Lambda's Python runtime runs it.

What it proves, for the asset a synth built for this machine's architecture (Lambda runs arm64; the
arm64 bundle holds the same files apart from native wheels, checked by tests/e2e/test_lambda_check.py):

- each handler imports and answers with nothing from the build host or our dev runtime: a fresh
  interpreter of the runtime's Python version (``-I -S``), the asset as the only code root, an
  environment of Lambda's documented variables plus the function's own from the template, no
  ``HOME``, no trust-store variables; writes outside /tmp are refused and reported, and so are files
  read from outside the asset, the interpreter and a handful of system files;
- database traffic goes over TLS with ``verify-full`` to a DSQL-shaped endpoint name (a proxy in
  front of the embedded PostgreSQL, serving a test CA's certificate, accepting direct TLS with ALPN
  ``postgresql`` or an SSLRequest, refusing plaintext), and fails against the roots the asset ships,
  which do not include the test CA;
- the production default of the trust-file setting is a file inside the asset holding Amazon Root
  CA 1;
- real events reach every entry point: API Gateway proxy events for the routes, CloudFormation
  custom-resource events for the setup and cluster handlers (the DSQL control plane is our
  botocore-model-validating fake, over HTTP), the scheduled event for the edge health checker.

What it cannot prove: the arm64 runtime itself (native wheels are the other architecture's; their
ELF machine is checked, not run), the Lambda service around the handler (its runtime API, init
and SnapStart phases, timeouts, memory, X-Ray tracing, the read-only file system beyond what the
audit hook refuses: the hook sees Python's file access only, not what libpq or OpenSSL open in C),
the host's own interpreter and OpenSSL standing in for the runtime's, real DSQL (the SQL runs on
PostgreSQL behind the proxy, which rewrites DSQL-only statements), real AWS APIs (fakes validated
against botocore's models, over plain HTTP: botocore's own TLS to AWS is not exercised), and a
handshake with the Amazon roots the asset ships (they are shown to be the ones used, and to refuse
the test CA; only a real endpoint can complete a handshake with them).

Environment variables beyond Lambda's: ``HOME=/nonexistent`` (without it libpq reads the build
host's ~/.pgpass and ~/.postgresql through the passwd entry), ``PGHOSTADDR``/``PGPORT`` (libpq's own:
where the endpoint name "resolves"), ``AWS_ENDPOINT_URL_<SERVICE>`` (botocore's own: where API calls
go), ``HTTP_PROXY``/``NO_PROXY`` (the health checker only: KeyValueStore's host carries the account
id, which no resolver knows) and ``ECOMMERCE_TRUST_FILE`` (``handlers.contract.Env``: trust the test
CA, everywhere but the checks that the shipped roots are used and refuse it).
"""
