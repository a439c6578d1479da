import pytest

from segscope.errors import ParameterError
from segscope.registry import Registry


def test_lookup_is_case_and_dash_insensitive_and_lists_with_wildcards():
    reg: Registry[int] = Registry("method")
    reg.add("multi_otsu", 1, aliases=("motsu",))
    reg.add("otsu", 2)
    assert reg.get("Multi-Otsu") == 1 and reg.get("MOTSU") == 1
    assert reg.list("*otsu") == ["multi-otsu", "otsu"] and reg.list("m*") == ["multi-otsu"]
    assert "OTSU" in reg and len(reg) == 2


def test_wrong_name_lists_valid_ones_and_suggests():
    reg: Registry[int] = Registry("method")
    reg.add("otsu", 1)
    reg.add("watershed", 2)
    with pytest.raises(
        ParameterError,
        match=r"unknown method 'watershd' \(did you mean 'watershed'\?\); valid methods: otsu, watershed",
    ):
        reg.get("watershd")


def test_duplicates_are_refused():
    reg: Registry[int] = Registry("format")
    reg.add("coco", 1)
    with pytest.raises(ParameterError, match="already registered"):
        reg.add("COCO", 2)
