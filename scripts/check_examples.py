"""``make examples``: every app in docs/examples synthesized the way a new user meets the library.

One wheel built from this checkout is installed into a fresh virtualenv in a temporary directory
(nothing of the repository on any path); each example is copied next to it with its own cdk.json
(``{"app": "python app.py"}``, no context flags) and its own decoy ``handlers`` package, and
``cdk synth`` runs there with bundling on, offline: ``PIP_NO_INDEX=1`` and the wheelhouse
(``ECOMMERCE_WHEELHOUSE``, filled by ``make wheelhouse``). Extras are installed only for the example
that names them (``extras.txt``), after the others ran without them. Each cloud assembly must have:

- no ``Export``, ``Fn::ImportValue`` or ``Custom::CrossRegionExportWriter/Reader`` anywhere;
- no asset holding the app's decoy ``handlers`` package;
- for apps made only of the library's stacks, no "No cross-stack-reference strength" warning;
- a clean cdk-nag run where the example opts in (synth fails otherwise).

Also: the README's "Use the constructs in your own app" code is docs/examples/readme-user-app/app.py.
Exit status 1 with one line per failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"
WHEELHOUSE = ROOT / "build" / "wheelhouse"
ACCOUNT = "123456789012"
DECOY = "users-own-handlers-package-never-bundled"
STRONG = ("Fn::ImportValue", "Custom::CrossRegionExportWriter", "Custom::CrossRegionExportReader")
STRENGTH_WARNING = "No cross-stack-reference strength configured"
#: Examples that add stacks of their own: CDK warns about *their* references, rightly.
OWN_STACKS: set[str] = set()


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    # Fixed argv of this script, no shell.
    return subprocess.run(command, text=True, capture_output=True, check=False, **kwargs)  # type: ignore[call-overload]  # noqa: S603


def build_wheel(out: Path) -> Path:
    """From a clean copy of the sources: an in-tree build reuses build/lib, where a file deleted
    from src/ would live on in the wheel."""
    source = out.parent / "source"
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        str(out),
    ]
    result = run([*command, str(source)])
    if result.returncode != 0:
        raise SystemExit(f"examples: building the wheel failed: {result.stderr.strip()[-400:]}")
    (wheel,) = out.glob("ecommerce_constructs-*.whl")
    return wheel


def fill_wheelhouse() -> None:
    if any(WHEELHOUSE.glob("*.whl")):
        return
    result = run([sys.executable, "-m", "ecommerce_constructs.wheelhouse", str(WHEELHOUSE)], cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"examples: make wheelhouse failed: {result.stderr.strip()[-400:]}")


def fresh_env(venv: Path, home: Path, cache: Path) -> dict[str, str]:
    node_bin = ROOT / "node_modules" / ".bin"
    return {
        "PATH": os.pathsep.join([str(venv / "bin"), str(node_bin), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "CDK_DEFAULT_ACCOUNT": ACCOUNT,
        "CDK_DEFAULT_REGION": "us-east-1",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "ECOMMERCE_WHEELHOUSE": str(WHEELHOUSE),
        "ECOMMERCE_BUNDLING_CACHE": str(cache),
    }


def install(venv: Path, requirement: str, home: Path) -> None:
    # The index is allowed here (installing is the user's step); synth below runs without it. Nothing
    # of the caller's environment (PYTHONPATH, PIP_*, VIRTUAL_ENV) may reach pip.
    env = {
        "PATH": os.pathsep.join([str(venv / "bin"), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(home),
    }
    command = [str(venv / "bin" / "pip"), "install", "-q", "-c", str(ROOT / "constraints.txt"), requirement]
    result = run(command, env=env)
    if result.returncode != 0:
        raise SystemExit(f"examples: pip install {requirement} failed: {result.stderr.strip()[-400:]}")
    probe = "import ecommerce_constructs; print(ecommerce_constructs.__file__)"
    where = run([str(venv / "bin" / "python"), "-c", probe], env=env)
    if not where.stdout.strip().startswith(str(venv)):
        raise SystemExit(
            f"examples: the package resolves outside the fresh virtualenv: {where.stdout}{where.stderr}"
        )


def check(name: str, workdir: Path, env: dict[str, str]) -> list[str]:
    example = workdir / name
    shutil.copytree(EXAMPLES / name, example, ignore=shutil.ignore_patterns("extras.txt", "README.md"))
    if json.loads((example / "cdk.json").read_text()) != {"app": "python app.py"}:
        return [f"{name}: cdk.json must hold only the app command (no context flags)"]
    result = run(["cdk", "synth", "--quiet", "--no-notices", "-o", "cdk.out"], cwd=example, env=env)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        return [f"{name}: cdk synth failed: {' '.join(output.strip().splitlines()[-3:])[-500:]}"]
    failures = canary(name, example, env)
    assembly = example / "cdk.out"
    templates = sorted(assembly.glob("*.template.json"))
    if not templates:
        failures.append(f"{name}: no templates in the cloud assembly")
    for template in templates:
        text = template.read_text()
        failures += [f"{name}: {template.name} contains {marker}" for marker in STRONG if marker in text]
        if any("Export" in output for output in json.loads(text).get("Outputs", {}).values()):
            failures.append(f"{name}: {template.name} exports an output")
    bundled = [p for p in assembly.glob("asset.*/handlers/__init__.py") if DECOY in p.read_text()]
    failures += [
        f"{name}: the app's own handlers package was bundled into {p.parent.parent.name}" for p in bundled
    ]
    if not list(assembly.glob("asset.*/handlers/contract.py")):
        failures.append(f"{name}: no asset carries the library's handlers")
    if name not in OWN_STACKS and STRENGTH_WARNING in output:
        failures.append(f"{name}: CDK warned that no cross-stack-reference strength is configured")
    return failures


CANARY = """
from aws_cdk import aws_s3 as _s3
_s3.Bucket(app.node.children[-1], "NagCanary")  # no encryption, logging or SSL rule: cdk-nag must refuse
"""


def canary(name: str, example: Path, env: dict[str, str]) -> list[str]:
    """An app that opts into cdk-nag must fail with a non-compliant bucket added: proof that the
    checks ran at all (a plugin that checks nothing would pass the real synth too)."""
    if "cdk_nag" not in (example / "app.py").read_text():
        return []
    probe = example.parent / f"{name}-canary"
    shutil.copytree(example, probe)
    source = (probe / "app.py").read_text().replace("app.synth()", CANARY + "app.synth()")
    (probe / "app.py").write_text(source)
    result = run(["cdk", "synth", "--quiet", "--no-notices", "-o", "cdk.out"], cwd=probe, env=env)
    if result.returncode == 0 or "AwsSolutions-S" not in result.stdout + result.stderr:
        return [f"{name}: cdk-nag did not refuse a non-compliant bucket: its checks did not run"]
    return []


def readme_is_an_example() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- example: user-app.*?-->\n```python\n(.*?)```", text, re.S)
    if match is None or match.group(1) != (EXAMPLES / "readme-user-app" / "app.py").read_text():
        return [
            "README: its 'Use the constructs in your own CDK app' code differs from readme-user-app/app.py"
        ]
    return []


def main() -> int:
    names = sorted(p.name for p in EXAMPLES.iterdir() if (p / "app.py").is_file())
    if not (ROOT / "node_modules" / ".bin" / "cdk").exists():
        raise SystemExit("examples: no CDK CLI in node_modules/.bin: run make install first")
    failures = readme_is_an_example()
    with tempfile.TemporaryDirectory(prefix="ecommerce-examples-") as tmp:
        work = Path(tmp)
        wheel = build_wheel(work / "dist")
        fill_wheelhouse()
        venv = work / "venv"
        if (result := run([sys.executable, "-m", "venv", str(venv)])).returncode != 0:
            raise SystemExit(f"examples: venv failed: {result.stderr}")
        (work / "home").mkdir()
        install(venv, str(wheel), work / "home")
        env = fresh_env(venv, work / "home", work / "bundling-cache")
        extras = {
            n: (EXAMPLES / n / "extras.txt").read_text().split()
            for n in names
            if (EXAMPLES / n / "extras.txt").exists()
        }
        for name in [n for n in names if n not in extras] + sorted(extras):
            if name in extras:
                install(venv, f"{wheel}[{','.join(extras[name])}]", work / "home")
            found = check(name, work / "apps", env)
            print(f"examples: {name}: {'ok' if not found else 'FAILED'}")
            failures += found
    for failure in failures:
        print(f"examples: {failure}", file=sys.stderr)
    print(f"examples: {len(names)} apps, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
