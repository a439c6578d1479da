"""The exceptions segscope raises.

Every error segscope raises on purpose derives from :class:`SegscopeError` and carries a
one-line message that names the file or value at fault, the problem, and the fix. The CLI
prints that line and exits non-zero without a traceback.
"""

from __future__ import annotations

__all__ = [
    "SegscopeError",
    "DataError",
    "FormatError",
    "ParameterError",
    "MissingDependencyError",
]


class SegscopeError(Exception):
    """Base class of every error segscope raises on purpose."""


class DataError(SegscopeError, ValueError):
    """The input data is wrong: shapes, values, missing or unreadable files."""


class FormatError(DataError):
    """A file or folder is not in the format segscope expected or was told."""


class ParameterError(SegscopeError, ValueError):
    """An argument has a wrong name or value."""


class MissingDependencyError(SegscopeError, ImportError):
    """An optional dependency is needed for this feature but is not installed."""
