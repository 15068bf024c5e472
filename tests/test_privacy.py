from __future__ import annotations

from linkage.privacy import console_safe, escape_controls, mask, mask_digits_in, mask_personal


def test_mask_keeps_only_edges() -> None:
    assert mask("11010519491231002X") == "110*************2X"
    assert mask("13800138000") == "138******00"
    assert mask("12345") == "*****"
    assert mask(None) == ""


def test_mask_digits_in_free_text() -> None:
    text = "row 3: id 11010519491231002X phone 13800138000 age 42"
    assert mask_digits_in(text) == "row 3: id 110*************2X phone 138******00 age 42"


def test_mask_personal_finds_ids_and_mobiles_by_content() -> None:
    text = ("张伟11010519491231002X住朝阳区, tel 13800138000, +86 139-0013-8000, "
            "old id 110105491231002, sfzh=11010519491231002x")
    masked = mask_personal(text)
    for value in ("11010519491231002X", "13800138000", "139-0013-8000", "110105491231002",
                  "11010519491231002x"):
        assert value not in masked
    assert masked.startswith("张伟110*************2X住朝阳区")


def test_mask_personal_leaves_other_numbers_alone() -> None:
    text = ("12,345 records in 2024-06-30; credit code 91110000MA001234XY; "
            "account 6222021234567890123; 1.2345678901 s; code 12345678")
    assert mask_personal(text) == text


def test_control_characters_are_escaped_for_the_console() -> None:
    assert escape_controls("\x1b[2J张伟\r\u202e") == "\\x1b[2J张伟\\r\\u202e"
    assert escape_controls("a\tb\nc") == "a\tb\nc"
    assert console_safe("\x1b[31m13800138000") == "\\x1b[31m138******00"
