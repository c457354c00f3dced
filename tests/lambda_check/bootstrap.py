"""The stand-in for Lambda's Python runtime loop: runs one function's handler as Lambda does.

Started by ``lambda_check.runtime`` as ``python3.13 -I -S bootstrap.py`` in the asset directory with
an environment of Lambda's documented variables and the function's own, so the asset is the only
code root (``-S``: not even the interpreter's site-packages) and nothing of the host's Python setup
leaks in. Standard library only, like Lambda's own bootstrap.

The handler is imported once (the init phase), then each invocation request read from stdin is
answered on the file descriptor named by the first argument, one JSON line each; what the handler
prints goes to stdout and stderr like a function's logs. A request carrying ``evaluate`` (Python
source setting ``result``) runs that source in the warm process instead of the handler, so a test
can read what the function's own code computes from its real environment. An audit hook refuses
every write outside /tmp (Lambda's file system is read-only but /tmp) and records it, together
with files read from outside the asset, the interpreter and the few system files a process needs
(reliance on the build host).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback

TASK_ROOT = os.environ["LAMBDA_TASK_ROOT"]
WRITABLE = ("/tmp/",)
#: System files any process may read (name resolution, time zones, randomness, its own /proc).
SYSTEM_READS = (
    "/dev/",
    "/proc/",
    "/sys/",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/host.conf",
    "/etc/protocols",
    "/etc/services",
    "/etc/localtime",
    "/usr/share/zoneinfo/",
    "/etc/mime.types",
)
FINDINGS: dict[str, list[str]] = {"writes_refused": [], "host_reads": []}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_PATH_EVENTS = {
    "os.mkdir": 0,
    "os.rmdir": 0,
    "os.remove": 0,
    "os.rename": 0,
    "os.symlink": 1,
    "os.link": 1,
    "os.chmod": 0,
    "os.chown": 0,
    "os.truncate": 0,
    "os.utime": 0,
    "shutil.rmtree": 0,
}


def _roots() -> tuple[str, ...]:
    paths = {TASK_ROOT, sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(__file__)}
    return tuple(os.path.realpath(p).rstrip("/") + "/" for p in paths if p)


READ_ROOTS = _roots()


def _resolve(path: object) -> str | None:
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, str):
        return None  # a file descriptor
    return os.path.realpath(os.path.abspath(path))


def _writable(path: str) -> bool:
    return any((path + "/").startswith(root) for root in WRITABLE)


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event == "open":
        path = _resolve(args[0])
        if path is None:
            return
        mode, flags = args[1], args[2]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS
        )
        if writing and not _writable(path):
            FINDINGS["writes_refused"].append(path)
            raise PermissionError(30, "Read-only file system", path)  # EROFS, as on Lambda
        if not writing and not _writable(path) and not path.startswith(READ_ROOTS + SYSTEM_READS):
            FINDINGS["host_reads"].append(path)
    elif event in _PATH_EVENTS:
        path = _resolve(args[_PATH_EVENTS[event]])
        if path is not None and not _writable(path):
            FINDINGS["writes_refused"].append(f"{event} {path}")
            raise PermissionError(30, "Read-only file system", path)


class LambdaContext:
    """The attributes and method Lambda's Python context object documents."""

    def __init__(self, request: dict[str, object]) -> None:
        env = os.environ
        self.function_name = env["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = env["AWS_LAMBDA_FUNCTION_VERSION"]
        self.memory_limit_in_mb = int(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        self.log_group_name = env["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = env["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.aws_request_id = str(request["request_id"])
        self.invoked_function_arn = str(request["function_arn"])
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + float(str(request["timeout_ms"])) / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _error(exc: BaseException) -> dict[str, object]:
    return {
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc),
    }


def main() -> None:
    sys.path[:0] = [TASK_ROOT]
    sys.addaudithook(_audit)
    answers = os.fdopen(int(sys.argv[1]), "w", buffering=1, encoding="utf-8")
    module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
        init: dict[str, object] = {"ok": True}
    except BaseException as exc:  # an init error: Lambda reports it on every invocation
        handler, init = None, {"ok": False, "error": _error(exc)}
    answers.write(json.dumps({"init": init, **FINDINGS}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        reply: dict[str, object]
        os.environ["_X_AMZN_TRACE_ID"] = str(request["trace_id"])
        if "evaluate" in request:
            try:
                namespace: dict[str, object] = {}
                exec(str(request["evaluate"]), namespace)
                reply = {"ok": True, "result": json.loads(json.dumps(namespace.get("result")))}
            except BaseException as exc:
                reply = {"ok": False, "error": _error(exc)}
        elif handler is None:
            reply = {"ok": False, "error": init["error"]}
        else:
            try:
                result = handler(request["event"], LambdaContext(request))
                reply = {"ok": True, "result": json.loads(json.dumps(result))}
            except BaseException as exc:
                reply = {"ok": False, "error": _error(exc)}
        sys.stdout.flush()
        sys.stderr.flush()
        answers.write(json.dumps({**reply, **FINDINGS}, default=str) + "\n")


if __name__ == "__main__":
    main()
