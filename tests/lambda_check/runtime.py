"""Run a synthesized function's bundled asset the way Lambda's Python runtime runs it.

``functions_in(assembly, stack)`` reads every Python function of a stack from the cloud assembly:
its handler, runtime, architecture, memory, timeout and environment from the template, and its code
from the asset directory the assets manifest names (the bundle CDK built, not our sources).
``LambdaProcess`` starts one execution environment: a fresh interpreter of the runtime's Python
version (``-I -S``: no PYTHONPATH, no user or site packages), the asset as working directory and
only code root, and an environment made of Lambda's documented variables, the function's own
variables from the template (unresolved CloudFormation values replaced by the caller) and what the
caller adds to reach local stand-ins for AWS. It stays up across invocations, as a warm
environment does. See tests/lambda_check/__init__.py for what this proves and what it cannot.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BOOTSTRAP = Path(__file__).resolve().parent / "bootstrap.py"
ACCOUNT = "123456789012"


@dataclass(frozen=True)
class LambdaFunction:
    logical_id: str
    handler: str
    runtime: str
    architecture: str
    memory_mb: int
    timeout_s: int
    asset: Path
    environment: Mapping[str, Any]  # values may be unresolved CloudFormation expressions
    region: str
    logging_format: str | None = None

    @property
    def python_version(self) -> str:
        return self.runtime.removeprefix("python")


def functions_in(assembly: Path, stack: str) -> list[LambdaFunction]:
    """Every Python function of ``stack`` with the asset directory its code comes from."""
    template = json.loads((assembly / f"{stack}.template.json").read_text())
    manifest = json.loads((assembly / f"{stack}.assets.json").read_text())
    cloud = json.loads((assembly / "manifest.json").read_text())["artifacts"][stack]
    region = cloud["environment"].rsplit("/", 1)[-1]
    sources = {
        destination["objectKey"]: assembly / entry["source"]["path"]
        for entry in manifest["files"].values()
        for destination in entry["destinations"].values()
    }
    found = []
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] != "AWS::Lambda::Function" or not str(props.get("Runtime", "")).startswith(
            "python"
        ):
            continue
        key = props["Code"]["S3Key"]
        found.append(
            LambdaFunction(
                logical_id=logical_id,
                handler=props["Handler"],
                runtime=props["Runtime"],
                architecture=(props.get("Architectures") or ["x86_64"])[0],
                memory_mb=int(props.get("MemorySize", 128)),
                timeout_s=int(props.get("Timeout", 3)),
                asset=sources[key if isinstance(key, str) else key["Fn::Sub"]],
                environment=props.get("Environment", {}).get("Variables", {}),
                region=region,
                logging_format=props.get("LoggingConfig", {}).get("LogFormat"),
            )
        )
    return found


def lambda_variables(function: LambdaFunction, region: str, name: str) -> dict[str, str]:
    """The variables Lambda sets for every Python function (AWS Lambda developer guide, "Defined
    runtime environment variables"), with throw-away credentials."""
    variables = {
        "_HANDLER": function.handler,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/12/07/[$LATEST]0123456789abcdef0123456789abcdef",
        "AWS_ACCESS_KEY_ID": "ASIAFAKELAMBDACHECK0",
        "AWS_SECRET_ACCESS_KEY": "fake-lambda-check-secret",
        "AWS_SESSION_TOKEN": "fake-lambda-check-session",
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
        "LAMBDA_TASK_ROOT": str(function.asset),
        "LAMBDA_RUNTIME_DIR": str(BOOTSTRAP.parent),
        "LANG": "en_US.UTF-8",
        # Not one of Lambda's variables, but without it libpq takes the home directory from the
        # passwd entry and reads the build host's ~/.pgpass and ~/.postgresql/root.crt (C code the
        # audit hook cannot see): pointing it nowhere keeps the host out.
        "HOME": "/nonexistent",
        "PATH": "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        "LD_LIBRARY_PATH": f"/lib64:/usr/lib64:{function.asset}:{function.asset}/lib",
        "TZ": ":UTC",
    }
    if function.logging_format == "JSON":
        variables |= {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"}
    return variables


@dataclass
class Invocation:
    ok: bool
    result: Any = None
    error: dict[str, Any] | None = None
    writes_refused: list[str] = field(default_factory=list)
    host_reads: list[str] = field(default_factory=list)


class LambdaProcess:
    """One execution environment of ``function``; ``invoke`` sends it events one at a time."""

    def __init__(
        self,
        function: LambdaFunction,
        interpreter: str,
        *,
        environment: Mapping[str, str],
        extra: Mapping[str, str] | None = None,
        log: Path,
    ) -> None:
        self.function = function
        self.name = f"lambda-check-{function.logical_id}"
        unresolved = [k for k, v in environment.items() if not isinstance(v, str)]
        assert not unresolved, f"resolve these template values first: {unresolved}"
        env = lambda_variables(function, function.region, self.name) | dict(environment) | dict(extra or {})
        read, write = os.pipe()
        self._log = log.open("ab")
        self._process = subprocess.Popen(
            [interpreter, "-I", "-S", str(BOOTSTRAP), str(write)],
            cwd=function.asset,
            env=env,
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            pass_fds=(write,),
            text=True,
        )
        os.close(write)
        self._answers = os.fdopen(read, encoding="utf-8")
        self.init = json.loads(self._answers.readline() or '{"init": {"ok": false}}')

    def evaluate(self, source: str) -> Invocation:
        """Run ``source`` (which sets ``result``) inside this environment, between invocations."""
        return self.invoke({}, evaluate=source)

    def invoke(
        self, event: Mapping[str, Any], *, timeout_ms: int | None = None, evaluate: str | None = None
    ) -> Invocation:
        request = {
            "event": event,
            **({"evaluate": evaluate} if evaluate is not None else {}),
            "request_id": str(uuid.uuid4()),
            "trace_id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]};Sampled=0",
            "function_arn": f"arn:aws:lambda:{self.function.region}:{ACCOUNT}:function:{self.name}",
            "timeout_ms": timeout_ms or self.function.timeout_s * 1000,
        }
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        line = self._answers.readline()
        if not line:
            raise RuntimeError(f"{self.name} exited with {self._process.wait()}; see {self._log.name}")
        answer = json.loads(line)
        return Invocation(
            ok=answer["ok"],
            result=answer.get("result"),
            error=answer.get("error"),
            writes_refused=answer["writes_refused"],
            host_reads=answer["host_reads"],
        )

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._answers.close()
        self._log.close()
