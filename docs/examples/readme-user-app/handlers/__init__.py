"""This app's own Lambda code, which shares its name with the library's: it must never be bundled
in place of the library's handlers (scripts/check_examples.py looks for this marker in assets)."""

DECOY_MARKER = "users-own-handlers-package-never-bundled"
