"""``make api-docs``: the API reference, generated from the docstrings with pdoc, into build/api.

Fails (exit 1) on any warning pdoc gives — an export that does not resolve, a broken reference —
so CI keeps the reference whole. Documents what users import: the root (constructs, interfaces,
props), ``app`` (the ready-made app and its configuration), ``testing`` and ``wheelhouse``.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pdoc
import pdoc.render

MODULES = (
    "ecommerce_constructs",
    "ecommerce_constructs.app",
    "ecommerce_constructs.config",
    "ecommerce_constructs.testing",
    "ecommerce_constructs.wheelhouse",
)


def main(out: Path) -> int:
    import ecommerce_constructs

    for name in ecommerce_constructs.__all__:  # the root's lazy exports, resolved for pdoc
        getattr(ecommerce_constructs, name)
    pdoc.render.configure(docformat="restructuredtext", footer_text="ecommerce-constructs", search=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pdoc.pdoc(*MODULES, output_directory=out)
    problems = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    for problem in problems:
        print(f"api-docs: {problem}", file=sys.stderr)
    pages = sorted(out.rglob("*.html"))
    print(f"api-docs: {len(pages)} pages in {out} ({len(problems)} warnings)")
    return 1 if problems or not pages else 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "build/api")))
