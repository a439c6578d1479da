"""The command-line interface (Typer). Run ``segscope --help``."""
