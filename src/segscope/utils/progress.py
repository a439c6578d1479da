"""Progress bars for anything that walks a dataset (tqdm underneath)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["progress"]

T = TypeVar("T")


def progress(
    iterable: Iterable[T], *, total: int | None = None, desc: str = "", disable: bool | None = None
) -> Iterator[T]:
    """Wrap ``iterable`` in a progress bar on stderr.

    The bar is hidden when ``disable`` is true or when ``SEGSCOPE_PROGRESS=0`` is set, so
    library users and tests can silence it; it is shown by default, also when stderr is
    not a terminal (CI logs then show the final line).
    """
    from tqdm.auto import tqdm

    if disable is None:
        disable = os.environ.get("SEGSCOPE_PROGRESS", "1") == "0"
    yield from tqdm(
        iterable,
        total=total,
        desc=desc,
        disable=disable,
        file=sys.stderr,
        leave=False,
        dynamic_ncols=True,
        mininterval=0.5,
    )
