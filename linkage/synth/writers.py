"""Department conventions applied to the (corrupted) values, and the files written.

CSV goes through Arrow's writer and is re-encoded when the department uses GB18030 or a
UTF-8 byte-order mark. The .xlsx writer is a small, streaming SpreadsheetML writer with
inline strings and fixed zip timestamps: it is fast (the rows are assembled as Arrow string
columns) and byte-for-byte deterministic, which openpyxl's is not (it stamps the time).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from linkage.synth.columns import IntArray, date_strings, join
from linkage.synth.departments import DepartmentFile

_NULL = pa.scalar(None, pa.string())


def _dates(values: pa.Array, style: str) -> pa.Array:
    """ISO date strings (null kept) re-written in a department's date style."""
    if style == "iso":
        return values
    iso = pc.fill_null(pc.match_substring_regex(values, r"^\d{4}-\d{2}-\d{2}$"), False)
    y = pc.utf8_slice_codeunits(values, 0, 4)
    m = pc.utf8_slice_codeunits(values, 5, 7)
    d = pc.utf8_slice_codeunits(values, 8, 10)
    if style == "compact":
        out = join(y, m, d)
    elif style == "datetime":
        out = join(values, " 00:00:00")
    else:
        m = pc.utf8_ltrim(m, "0")
        d = pc.utf8_ltrim(d, "0")
        sep = {"slash": ("/", "/", ""), "dot": (".", ".", ""), "chinese": ("年", "月", "日")}
        a, b, c = sep[style]
        out = join(y, a, m, b, d, c)
    # A value that was not an ISO date stays as written.
    return pc.if_else(iso, out, values)


def _capital(values: pa.Array, style: str) -> pa.Array:
    if style == "plain":
        return values
    if style == "wan":
        return pc.if_else(pc.is_null(values), _NULL, join(values, "万元"))
    encoded = pc.dictionary_encode(values)
    uniques = encoded.dictionary.to_pylist()
    yuan = [f"{round(float(u) * 10000):,}元" for u in uniques]
    return pa.array(yuan, pa.string()).take(encoded.indices)


def _phone(values: pa.Array, style: str) -> pa.Array:
    if style == "plain":
        return values
    mobile = pc.fill_null(pc.equal(pc.utf8_length(values), 11), False)
    if style == "dashed":
        dashed = join(pc.utf8_slice_codeunits(values, 0, 3), "-",
                      pc.utf8_slice_codeunits(values, 3, 7), "-",
                      pc.utf8_slice_codeunits(values, 7, 11))
        return pc.if_else(mobile, dashed, values)
    return pc.if_else(mobile, join("+86 ", values), values)


def _sex(values: pa.Array, style: str) -> pa.Array:
    male, female = ("男", "女") if style == "chinese" else ("1", "2")
    return pc.if_else(pc.equal(values, "M"), male, pc.if_else(pc.equal(values, "F"), female,
                                                               values))


def department_table(spec: DepartmentFile, keys: pa.Array, values: dict[str, pa.Array],
                     as_of: IntArray) -> pa.Table:
    """The file's table: key, fields under the department's headers, update date."""
    columns: dict[str, pa.Array] = {spec.key_header: keys}
    for fld, header in spec.headers.items():
        value = values[fld]
        if fld in ("birth_date", "established_date"):
            value = _dates(value, spec.date_style)
        elif fld == "capital":
            value = _capital(value, spec.capital_style)
        elif fld == "phone":
            value = _phone(value, spec.phone_style)
        elif fld == "sex":
            value = _sex(value, spec.sex_style)
        columns[header] = value
    columns[spec.updated_header] = date_strings(as_of, spec.date_style)
    return pa.table(columns)


def write_table(table: pa.Table, spec: DepartmentFile, path: Path) -> None:
    """Write ``table`` as the department does: CSV in its encoding, or .xlsx."""
    if spec.format == "xlsx":
        write_xlsx(table, path)
        return
    buffer = io.BytesIO()
    pcsv.write_csv(table, buffer, pcsv.WriteOptions(quoting_style="needed"))
    data = buffer.getvalue()
    if spec.encoding == "gb18030":
        data = data.decode("utf-8").encode("gb18030")
    elif spec.encoding == "utf-8-sig":
        data = b"\xef\xbb\xbf" + data
    path.write_bytes(data)


# --- minimal deterministic .xlsx ---------------------------------------------------------

_OOXML = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_PKG = "http://schemas.openxmlformats.org/package/2006"
_DOC_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<Types xmlns="{_PKG}/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_OOXML}.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_OOXML}.worksheet+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<Relationships xmlns="{_PKG}/relationships">'
    f'<Relationship Id="rId1" Type="{_DOC_RELS}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    f'xmlns:r="{_DOC_RELS}">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<Relationships xmlns="{_PKG}/relationships">'
    f'<Relationship Id="rId1" Type="{_DOC_RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
    "</Relationships>"
)


def _escape(values: pa.Array) -> pa.Array:
    out = pc.replace_substring(values, "&", "&amp;")
    out = pc.replace_substring(out, "<", "&lt;")
    return pc.replace_substring(out, ">", "&gt;")


def _column_letters(i: int) -> str:
    letters = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        letters = chr(65 + r) + letters
    return letters


def _cells(values: pa.Array, column: str, rows: pa.Array) -> pa.Array:
    """Each value as an inline-string cell with its reference (A2, B2...); a null cell is
    left out, so readers see it as empty and the references keep the columns aligned."""
    cell = join('<c r="', column, rows, '" t="inlineStr"><is><t>', _escape(values),
                "</t></is></c>")
    return pc.fill_null(pc.if_else(pc.is_null(values), "", cell), "")


def write_xlsx(table: pa.Table, path: Path) -> None:
    """One worksheet: the header row, then every row as inline strings (text cells)."""
    names = table.column_names
    header = "".join(f'<c r="{_column_letters(i)}1" t="inlineStr"><is><t>{n}</t></is></c>'
                     for i, n in enumerate(names))
    numbers = pc.cast(pa.array(np.arange(2, table.num_rows + 2, dtype=np.int64)), pa.string())
    cells = [_cells(pc.cast(table.column(i).combine_chunks(), pa.string()),
                    _column_letters(i), numbers) for i in range(table.num_columns)]
    rows = join('<row r="', numbers, '">', *cells, "</row>")
    body = pa.concat_arrays([pa.array([f'<row r="1">{header}</row>'], pa.string()), rows])
    sheet_head = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                  '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                  "<sheetData>")
    sheet_tail = "</sheetData></worksheet>"
    parts = {
        "[Content_Types].xml": _CONTENT_TYPES.encode("utf-8"),
        "_rels/.rels": _ROOT_RELS.encode("utf-8"),
        "xl/workbook.xml": _WORKBOOK.encode("utf-8"),
        "xl/_rels/workbook.xml.rels": _WORKBOOK_RELS.encode("utf-8"),
    }
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, data in parts.items():
            zf.writestr(_info(name), data)
        with zf.open(_info("xl/worksheets/sheet1.xml"), "w", force_zip64=True) as sheet:
            sheet.write(sheet_head.encode("utf-8"))
            step = 100_000
            for start in range(0, len(body), step):
                sheet.write(_concatenated(body.slice(start, step)))
            sheet.write(sheet_tail.encode("utf-8"))


def _concatenated(values: pa.Array) -> bytes:
    """All strings of a null-free string array back to back, straight from its buffers."""
    if len(values) == 0:
        return b""
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)
    offsets = offsets[values.offset: values.offset + len(values) + 1]
    data = values.buffers()[2]
    chunk: bytes = data[int(offsets[0]): int(offsets[-1])].to_pybytes()
    return chunk


def _info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    return info
