"""Export errors: each says what failed and what to do."""

from __future__ import annotations


class ExportError(RuntimeError):
    """An export step failed."""


class ParityError(ExportError):
    """An exported graph disagrees with PyTorch beyond its precision's gate."""


class BackendUnavailable(ExportError):
    """The requested runtime cannot run here (not installed, no GPU, or a silent CPU fallback)."""
