"""What the origin-secret commands raise."""

from __future__ import annotations


class OriginSecretError(Exception):
    """A one-line, secret-free message that says what happened and what to do."""


class RotationRefused(OriginSecretError):
    """The rotation did not start; nothing was changed."""


class RotationIncomplete(OriginSecretError):
    """The rotation stopped after changing something; the message says how to finish it."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(message)
        self.step = step


class _StepError(Exception):
    """A step failed; the text is the report line's detail (already free of secrets)."""
