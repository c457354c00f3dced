"""Our botocore-model-validating fakes, served over HTTP for a function running in another process.

The fakes answer ``AWSPreparedRequest`` objects in-process (a ``before-send`` hook). A function run
by ``lambda_check.runtime`` is a separate interpreter with its own boto3, so here each fake sits
behind a loopback HTTP server; the function reaches it through botocore's documented
service-specific endpoint variables (``AWS_ENDPOINT_URL_<SERVICE>``, boto3 guide "Service-specific
endpoints"), which change where requests go and nothing else, or through ``HTTP_PROXY`` (boto3
guide, "Proxies") where the endpoint rules prefix the host (KeyValueStore puts the account id in
front of it, a name no resolver knows). The front rebuilds the request with
the URL botocore would have used without the override, so the fake's checks of host, region and
signature run unchanged.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse

Answer = Callable[[str, AWSPreparedRequest], AWSResponse]
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/(?P<region>[a-z0-9-]+)/")


class AwsFront:
    """``http://127.0.0.1:<port>`` answering with ``answer(region, request)``; ``host`` is the
    endpoint host botocore would have used (``{region}`` is filled in)."""

    def __init__(self, host: str, answer: Answer) -> None:
        front = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                front._handle(self)

            do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

            def log_message(self, *_: Any) -> None:
                return

        self.host = host
        self.answer = answer
        self.errors: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, http: BaseHTTPRequestHandler) -> None:
        length = int(http.headers.get("Content-Length") or 0)
        body = http.rfile.read(length) if length else b""
        scope = _SCOPE.search(http.headers.get("Authorization", ""))
        region = scope["region"] if scope else "us-east-1"
        path = http.path
        if path.startswith("http://"):  # sent through HTTP_PROXY: the absolute URL botocore built
            parts = urlsplit(path)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
        request = AWSPreparedRequest(
            method=http.command,
            url=f"https://{self.host.format(region=region)}{path}",
            headers=dict(http.headers.items()),
            body=body,
            stream_output=False,
        )
        try:
            response = self.answer(region, request)
        except AssertionError as exc:  # a fake's own check failed: the function sent something wrong
            self.errors.append(str(exc))
            http.send_response(500)
            http.end_headers()
            return
        content = response.content
        http.send_response(response.status_code)
        for key, value in response.headers.items():
            if key.lower() not in ("content-length", "transfer-encoding"):
                http.send_header(key, value)
        http.send_header("Content-Length", str(len(content)))
        http.end_headers()
        http.wfile.write(content)
