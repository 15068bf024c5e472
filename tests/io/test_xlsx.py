"""The worklists' .xlsx writer: what a spreadsheet reader gets back."""

from __future__ import annotations

import io
from pathlib import Path

from python_calamine import CalamineWorkbook

from linkage.io.xlsx import CELL_MAX_CHARS, write_workbook


def test_cells_read_back_as_the_text_written(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    rows = [["键", "值"], ["K1", "=1+1"], ["K2", " <a & b> "], ["K3", None], ["K4", "x" * 40_000],
            ["K5", "bell\x07tab\tline\nend"]]
    write_workbook(path, [("人员", rows), ("a/b:c", [["only a header"]])])
    book = CalamineWorkbook.from_path(str(path))
    assert book.sheet_names == ["人员", "a_b_c"]
    got = book.get_sheet_by_name("人员").to_python()
    assert got[:4] == [["键", "值"], ["K1", "=1+1"], ["K2", " <a & b> "], ["K3", ""]]
    assert got[4] == ["K4", "x" * CELL_MAX_CHARS]  # Excel's limit
    assert got[5] == ["K5", "bell\x07tab\tline\nend"]  # a control character kept (escaped)
    assert book.get_sheet_by_name("a_b_c").to_python() == [["only a header"]]


def test_the_same_rows_give_the_same_bytes(tmp_path: Path) -> None:
    rows = [["a", "b"], ["1", "2"]]
    write_workbook(tmp_path / "one.xlsx", [("s", rows)])
    write_workbook(tmp_path / "two.xlsx", [("s", rows)])
    assert (tmp_path / "one.xlsx").read_bytes() == (tmp_path / "two.xlsx").read_bytes()


def test_a_file_object_receives_the_workbook(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    write_workbook(buffer, [("s", [["a", "b"], ["1", None]])])
    path = tmp_path / "from_buffer.xlsx"
    path.write_bytes(buffer.getvalue())
    assert CalamineWorkbook.from_path(str(path)).get_sheet_by_name("s").to_python() == [
        ["a", "b"], ["1", ""]]
