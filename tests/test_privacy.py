from __future__ import annotations

from linkage.privacy import mask, mask_digits_in


def test_mask_keeps_only_edges() -> None:
    assert mask("11010519491231002X") == "110*************2X"
    assert mask("13800138000") == "138******00"
    assert mask("12345") == "*****"
    assert mask(None) == ""


def test_mask_digits_in_free_text() -> None:
    text = "row 3: id 11010519491231002X phone 13800138000 age 42"
    assert mask_digits_in(text) == "row 3: id 110*************2X phone 138******00 age 42"
