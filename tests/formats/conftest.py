from pathlib import Path

import pytest
from _format_data import make_shapes_folder


@pytest.fixture
def shapes(tmp_path: Path) -> Path:
    return make_shapes_folder(tmp_path / "shapes")
