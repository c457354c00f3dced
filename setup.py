"""The wheel's package list (everything else is in pyproject.toml).

Two top-level packages, ``ecommerce_constructs`` and ``ecommerce_ops``; the Lambda code in
``src/handlers`` ships as data under ``ecommerce_constructs/_lambda/handlers`` so that installing
the wheel never adds a top-level ``handlers`` (see pyproject.toml).
"""

from setuptools import find_namespace_packages, setup

LAMBDA_CODE = "ecommerce_constructs._lambda.handlers"
SKIP = ["*.__pycache__", "__pycache__"]

packages = find_namespace_packages(
    "src",
    include=["ecommerce_constructs", "ecommerce_constructs.*", "ecommerce_ops", "ecommerce_ops.*"],
    exclude=SKIP,
)
packages += [
    LAMBDA_CODE,
    *(f"{LAMBDA_CODE}.{name}" for name in find_namespace_packages("src/handlers", exclude=SKIP)),
]

setup(packages=packages, package_dir={"": "src", LAMBDA_CODE: "src/handlers"})
