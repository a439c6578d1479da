"""The ``segscope`` command: one Typer app, with each command group in its own module.

Commands are thin: they parse arguments, call the Python API and print. Heavy libraries
(torch above all) are imported inside the commands that need them, so ``segscope --help``
stays fast.
"""

from __future__ import annotations

import importlib
import sys
import warnings

import typer

from segscope.errors import SegscopeError

app = typer.Typer(
    name="segscope",
    help="Image segmentation end to end: segment, train, evaluate, and look at the results.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

# Each module defines `register(app)`; the order is the order of `segscope --help`.
_COMMAND_MODULES = (
    "segscope.cli.data",
    "segscope.cli.segment",
    "segscope.cli.evaluate",
    "segscope.cli.datasets",
    "segscope.cli.models",
    "segscope.cli.catalog",
    "segscope.cli.curate",
)


def _register_commands() -> None:
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(app)


_register_commands()


def _format_warning(message, category, filename, lineno, line=None):  # noqa: ANN001 - stdlib signature
    return f"warning: {message}\n"


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning a :class:`SegscopeError` into one line and exit code 1."""
    warnings.formatwarning = _format_warning
    try:
        app(args=argv, prog_name="segscope")
    except SegscopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
