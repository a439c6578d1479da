"""Dataset commands: ``info``, ``validate``, ``convert`` (filled in below)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the dataset commands to ``app``."""
