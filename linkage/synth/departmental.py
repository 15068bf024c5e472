"""Reshape a generated world into the file layouts real departments hand over.

``generate()`` writes one tidy file per department and entity type. Real files are less
kind, and the engine must read them as they are (issue 16: six departments' files the
project had never seen). :func:`reshape_departmental` rewrites a generated folder so that:

- 公安 (household) writes the address in four columns: 户籍省份, 户籍城市, 户籍区县, 详细地址;
- 税务 (tax) writes registered capital as plain numbers in 元 (``30000000.00``), its status
  in its own words (``正常`` for 存续), and about 3% of valid credit codes as the old
  15-character tax registration number (division + organisation code);
- 市场监管 (market) writes status as ``存续（在营、开业、在册）``;
- the courts keep persons and enterprises in one file (``courts_parties.csv``) with a
  party-type column, masked ID numbers as before, and ``在业`` as their status word;
- 海关 (customs) is a GBK snapshot: a character GBK cannot hold is written ``?``;
- ``social_security`` keeps sex as 1/2 in GB18030, as generated;
- social security and tax keep each person's employer (``truth/employers.parquet``): a name
  and a code as their copy has it (credit code, organisation code, tax number or blank);
- 公安 keeps a 曾用名 (former name) column: some people whose court case predates a change of
  name are known to the courts only by that name (the case filed without their ID number or
  phone), so only the former name can link them;
- 市场监管 keeps the legacy business registration number in its own 注册号 column, and the 2019
  customs snapshot holds, for some enterprises registered before 2015, that 注册号 instead of
  the organisation code (and the name as registered then: the former name where there is
  one), so only the registration number links them to their credit-code records.

Records reachable only that way are listed in ``truth/cross_links.parquet`` (source,
entity_type, source_key, true_entity_id, via: ``former_name`` / ``reg_number``, and
``only``: no identifier and no name in common with any other record of the entity, as a
court case under the former name without ID or phone, or a 注册号 record under the former
name; birth date, sex or address may still agree).

The truth (keys, entities, errors) is untouched: every record keeps its department, type
and key. ``pipeline.toml`` is rewritten to read the new layout (``where``, list columns,
``units``, the ``enterprise_status`` standardiser, the registered name first).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from linkage.synth.writers import write_xlsx

__all__ = ["ADDRESS_PARTS", "reshape_departmental"]

ADDRESS_PARTS = ("户籍省份", "户籍城市", "户籍区县", "详细地址")
_ADDRESS = re.compile(r"^(.*?(?:省|自治区|北京市|天津市|上海市|重庆市))?"
                      r"(.*?(?:市|自治州|地区|盟))?(.*?(?:区|县|旗))?(.*)$")
COURTS_HEADERS = ("当事人编号", "当事人类型", "当事人名称", "证件号码", "性别", "出生日期",
                  "电话", "住所地", "法定代表人", "立案日期")
TAX_NUMBER_SHARE = 0.03
#: share of the people with a household and a courts record whose case predates a rename
FORMER_NAME_SHARE = 0.25
#: share of the customs records of pre-2015 enterprises holding the 注册号 as their code
REG_NUMBER_SHARE = 0.5
FORMER_NAME_HEADER = "曾用名"
REG_NUMBER_HEADER = "注册号"


def reshape_departmental(out: Path, *, seed: int = 0) -> None:
    """Rewrite the generated folder ``out`` into the departments' own layouts (see the
    module docstring), with a ``pipeline.toml`` that reads them."""
    rng = np.random.default_rng([seed, 16])
    employers = _employers(out, rng)
    cross = [_former_names(out, rng), _reg_numbers(out, rng)]
    pq.write_table(pa.concat_tables([c for c in cross if c is not None] or [_cross_rows([])]),
                   out / "truth" / "cross_links.parquet")
    _household(out / "household_persons.csv")
    _tax(out / "tax_enterprises.csv", rng)
    _market(out / "market_enterprises.xlsx")
    _courts(out)
    _customs(out / "customs_enterprises.csv")
    if employers is not None:
        _employer_columns(out, employers, rng)
    text = (out / "pipeline.toml").read_text(encoding="utf-8")
    (out / "pipeline.toml").write_text(_pipeline(text, employers is not None), encoding="utf-8")


# --- files ------------------------------------------------------------------------------------


def _read_csv(path: Path, encoding: str) -> pa.Table:
    data = path.read_bytes().decode(encoding).removeprefix("\ufeff")
    names = next(csv.reader(io.StringIO(data)))
    return pacsv.read_csv(io.BytesIO(data.encode("utf-8")), convert_options=pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False))


def _write_csv(table: pa.Table, path: Path, encoding: str) -> None:
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer, pacsv.WriteOptions(quoting_style="needed"))
    text = buffer.getvalue().decode("utf-8")
    if encoding == "utf-8-sig":
        path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    else:
        path.write_bytes(text.encode(encoding, errors="replace"))


def _household(path: Path) -> None:
    table = _read_csv(path, "utf-8")
    at = table.column_names.index("住址")
    parts: list[list[str]] = [[], [], [], []]
    for address in table.column("住址").to_pylist():
        m = _ADDRESS.match(address or "")
        groups = m.groups() if m is not None else (None, None, None, address)
        for i, g in enumerate(groups):
            parts[i].append(g or "")
    table = table.remove_column(at)
    for i, name in enumerate(ADDRESS_PARTS):
        table = table.add_column(at + i, name, pa.array(parts[i], pa.string()))
    _write_csv(table, path, "utf-8")


def _tax(path: Path, rng: np.random.Generator) -> None:
    table = _read_csv(path, "utf-8-sig")
    capital = table.column("注册资本").to_pylist()
    plain = [c if not c else f"{int(c.replace(',', '').removesuffix('元')):d}.00"
             if re.fullmatch(r"[\d,]+元", c) else c for c in capital]
    table = _set(table, "注册资本", pa.array(plain, pa.string()))
    table = _set(table, "纳税人状态", _words(table.column("纳税人状态"), {"存续": "正常"}))
    codes = table.column("纳税人识别号").to_pylist()
    draw = rng.random(len(codes))
    swapped = [c[2:17] if len(c) == 18 and c.startswith("91") and u < TAX_NUMBER_SHARE else c
               for c, u in zip(codes, draw, strict=True)]
    table = _set(table, "纳税人识别号", pa.array(swapped, pa.string()))
    _write_csv(table, path, "utf-8-sig")


def _market(path: Path) -> None:
    from python_calamine import CalamineWorkbook

    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    names = [str(c) for c in rows[0]]
    table = pa.table({n: pa.array([str(r[i]) if r[i] is not None else "" for r in rows[1:]],
                                  pa.string()) for i, n in enumerate(names)})
    table = _set(table, "登记状态", _words(table.column("登记状态"),
                                          {"存续": "存续（在营、开业、在册）"}))
    write_xlsx(table, path)


def _courts(out: Path) -> None:
    persons = _read_csv(out / "courts_persons.csv", "utf-8")
    firms = _read_csv(out / "courts_enterprises.csv", "utf-8")
    p_map = {"当事人编号": "当事人编号", "当事人名称": "当事人姓名", "证件号码": "身份证号",
             "性别": "性别", "出生日期": "出生日期", "电话": "电话", "住所地": "住所地",
             "立案日期": "立案日期"}
    e_map = {"当事人编号": "当事人编号", "当事人名称": "当事人名称", "证件号码": "统一社会信用代码",
             "住所地": "住所地", "法定代表人": "法定代表人", "立案日期": "立案日期"}
    parts = []
    for table, mapping, kind in ((persons, p_map, "自然人"), (firms, e_map, "法人")):
        n = table.num_rows
        columns = {}
        for header in COURTS_HEADERS:
            if header == "当事人类型":
                columns[header] = pa.array([kind] * n, pa.string())
            elif header in mapping:
                columns[header] = table.column(mapping[header]).combine_chunks()
            else:
                columns[header] = pa.array([""] * n, pa.string())
        parts.append(pa.table(columns))
    _write_csv(pa.concat_tables(parts), out / "courts_parties.csv", "utf-8")
    (out / "courts_persons.csv").unlink()
    (out / "courts_enterprises.csv").unlink()


def _employers(out: Path, rng: np.random.Generator) -> pa.Table | None:
    """Each true person's employer (a true enterprise), written to truth/employers.parquet:
    person_id, enterprise_id, credit_code, name."""
    firms_path = out / "truth" / "entities_enterprise.parquet"
    people_path = out / "truth" / "entities_person.parquet"
    if not firms_path.exists() or not people_path.exists():
        return None
    firms = pq.read_table(firms_path, columns=["entity_id", "name", "credit_code"])
    people = pq.read_table(people_path, columns=["entity_id"])
    if firms.num_rows == 0:
        return None
    pick = pa.array(rng.integers(0, firms.num_rows, people.num_rows))
    table = pa.table({"person_id": people["entity_id"],
                      "enterprise_id": firms["entity_id"].take(pick),
                      "credit_code": firms["credit_code"].take(pick),
                      "name": firms["name"].take(pick)})
    pq.write_table(table, out / "truth" / "employers.parquet")
    return table


def _employer_columns(out: Path, employers: pa.Table, rng: np.random.Generator) -> None:
    """Social security and tax keep each person's employer: a name and a code in whatever
    form the department's copy has (credit code, organisation code, tax number, blank)."""
    truth = pq.read_table(out / "truth" / "records.parquet")
    for path, encoding, department, headers, shares in (
            (out / "social_security_persons.csv", "gb18030", "social_security",
             ("单位名称", "单位编码"), (0.70, 0.15, 0.10)),
            (out / "tax_persons.csv", "utf-8-sig", "tax",
             ("任职受雇单位名称", "任职受雇单位识别号"), (0.60, 0.0, 0.20))):
        table = _read_csv(path, encoding)
        mine = truth.filter(pc.and_(pc.equal(truth["source"], department),
                                    pc.equal(truth["entity_type"], "person")))
        key = table.column(table.column_names[0])
        at = pc.index_in(key, value_set=mine["source_key"])
        person = mine["true_entity_id"].combine_chunks().take(at)
        where = pc.index_in(person, value_set=employers["person_id"])
        names = employers["name"].take(where).to_pylist()
        codes = employers["credit_code"].take(where).to_pylist()
        u = rng.random(len(codes))
        full, org, tax = shares
        written = []
        for code, x in zip(codes, u.tolist(), strict=True):
            if not code or len(code) != 18:
                written.append(code or "")
            elif x < full:
                written.append(code)
            elif x < full + org:
                written.append(f"{code[8:16]}-{code[16]}")
            elif x < full + org + tax:
                written.append(code[2:17])
            else:
                written.append("")
        table = table.append_column(headers[0], pa.array([n or "" for n in names], pa.string()))
        table = table.append_column(headers[1], pa.array(written, pa.string()))
        _write_csv(table, path, encoding)


_CROSS = pa.schema([("source", pa.string()), ("entity_type", pa.string()),
                    ("source_key", pa.string()), ("true_entity_id", pa.string()),
                    ("via", pa.string()), ("only", pa.bool_())])


def _cross_rows(rows: list[dict[str, object]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=_CROSS)


def _truth_of(out: Path, department: str, entity_type: str, keys: pa.ChunkedArray) -> list[str]:
    truth = pq.read_table(out / "truth" / "records.parquet")
    mine = truth.filter(pc.and_(pc.equal(truth["source"], department),
                                pc.equal(truth["entity_type"], entity_type)))
    at = pc.index_in(keys, value_set=mine["source_key"])
    people: list[str] = mine["true_entity_id"].combine_chunks().take(at).to_pylist()
    return people


def _drop_errors(out: Path, source: str, entity_type: str, keys: set[str],
                 fields: tuple[str, ...]) -> None:
    """Injected errors of fields a rewrite replaced are no longer in the files."""
    path = out / "truth" / "errors.parquet"
    errors = pq.read_table(path)
    gone = pc.and_(pc.and_(pc.equal(errors["source"], source),
                           pc.equal(errors["entity_type"], entity_type)),
                   pc.and_(pc.is_in(errors["source_key"], value_set=pa.array(sorted(keys),
                                                                            pa.string())),
                           pc.is_in(errors["field"], value_set=pa.array(fields))))
    pq.write_table(errors.filter(pc.invert(gone)), path)


def _former_names(out: Path, rng: np.random.Generator) -> pa.Table | None:
    """Some people with a household and a courts record changed their given name after
    their case: 公安 keeps the former name in 曾用名; the courts hold the case under it, with
    no ID number or phone. Returns their cross_links rows."""
    household_path, courts_path = out / "household_persons.csv", out / "courts_persons.csv"
    if not household_path.exists() or not courts_path.exists():
        return None
    household = _read_csv(household_path, "utf-8")
    courts = _read_csv(courts_path, "utf-8")
    h_people = _truth_of(out, "household", "person", household.column(0))
    c_people = _truth_of(out, "courts", "person", courts.column(0))
    at_home = {p: i for i, p in enumerate(h_people) if p is not None}
    names = household.column("姓名").to_pylist()
    given = [n[1:] for n in names if n and len(n) >= 2]
    former: dict[str, str] = {}
    renamed: list[int] = []
    for i, person in enumerate(c_people):
        if person is None or person not in at_home or person in former:
            continue
        if rng.random() >= FORMER_NAME_SHARE or not given:
            continue
        current = names[at_home[person]] or ""
        old = current[:1] + given[int(rng.integers(0, len(given)))]
        if len(current) < 2 or old == current:
            continue
        former[person] = old
        renamed.append(i)
    column = [former.get(p or "", "") for p in h_people]
    household = household.append_column(FORMER_NAME_HEADER, pa.array(column, pa.string()))
    _write_csv(household, household_path, "utf-8")
    rows = set(renamed)
    c_names, c_ids, c_phones = (courts.column(h).to_pylist() for h in ("当事人姓名", "身份证号",
                                                                          "电话"))
    for i in rows:
        c_names[i] = former[c_people[i] or ""]
        c_ids[i] = c_phones[i] = ""
    for header, values in (("当事人姓名", c_names), ("身份证号", c_ids), ("电话", c_phones)):
        courts = _set(courts, header, pa.array(values, pa.string()))
    _write_csv(courts, courts_path, "utf-8")
    keys = courts.column(0).to_pylist()
    _drop_errors(out, "courts", "person", {keys[i] for i in rows},
                 ("name", "id_number", "phone"))
    return _cross_rows([{"source": "courts", "entity_type": "person", "source_key": keys[i],
                         "true_entity_id": c_people[i], "via": "former_name", "only": True}
                        for i in sorted(rows)])


def _reg_numbers(out: Path, rng: np.random.Generator) -> pa.Table | None:
    """市场监管 gets a 注册号 column (the legacy registration number of enterprises registered
    before 2015); the customs snapshot holds it instead of the organisation code for some
    of them, under the name registered then. Returns their cross_links rows."""
    firms_path = out / "truth" / "entities_enterprise.parquet"
    market_path, customs_path = out / "market_enterprises.xlsx", out / "customs_enterprises.csv"
    if not firms_path.exists() or not market_path.exists() or not customs_path.exists():
        return None
    from python_calamine import CalamineWorkbook

    firms = pq.read_table(firms_path, columns=["entity_id", "reg_number", "former_name"])
    reg = dict(zip(firms["entity_id"].to_pylist(), firms["reg_number"].to_pylist(),
                   strict=True))
    old_name = dict(zip(firms["entity_id"].to_pylist(), firms["former_name"].to_pylist(),
                        strict=True))
    rows = CalamineWorkbook.from_path(str(market_path)).get_sheet_by_index(0).to_python()
    market = pa.table({str(n): pa.array([str(r[i]) if r[i] is not None else "" for r in rows[1:]],
                                        pa.string()) for i, n in enumerate(rows[0])})
    m_firms = _truth_of(out, "market", "enterprise", market.column(0))
    market = market.append_column(REG_NUMBER_HEADER, pa.array(
        [reg.get(f or "") or "" for f in m_firms], pa.string()))
    write_xlsx(market, market_path)
    customs = _read_csv(customs_path, "gb18030")
    c_firms = _truth_of(out, "customs", "enterprise", customs.column(0))
    codes = customs.column("组织机构代码").to_pylist()
    names = customs.column("企业名称").to_pylist()
    chosen = []
    for i, firm in enumerate(c_firms):
        number = reg.get(firm or "")
        if number and rng.random() < REG_NUMBER_SHARE:
            codes[i] = number
            if old_name.get(firm or ""):
                names[i] = old_name[firm or ""]
            chosen.append(i)
    customs = _set(customs, "组织机构代码", pa.array(codes, pa.string()))
    customs = _set(customs, "企业名称", pa.array(names, pa.string()))
    _write_csv(customs, customs_path, "gb18030")
    keys = customs.column(0).to_pylist()
    _drop_errors(out, "customs", "enterprise", {keys[i] for i in chosen},
                 ("name", "credit_code"))
    return _cross_rows([{"source": "customs", "entity_type": "enterprise",
                         "source_key": keys[i], "true_entity_id": c_firms[i],
                         "via": "reg_number", "only": bool(old_name.get(c_firms[i] or ""))}
                        for i in chosen])


def _customs(path: Path) -> None:
    _write_csv(_read_csv(path, "gb18030"), path, "gbk")


def _set(table: pa.Table, name: str, column: pa.Array) -> pa.Table:
    return table.set_column(table.column_names.index(name), name, column)


def _words(column: pa.ChunkedArray, words: dict[str, str]) -> pa.Array:
    values = column.combine_chunks()
    at = pc.index_in(values, value_set=pa.array(list(words)))
    return pc.if_else(pc.is_valid(at), pa.array(list(words.values())).take(at), values)


# --- pipeline file ------------------------------------------------------------------------------

_SOURCE = re.compile(r"\[\[sources\]\]\n(?:(?!\[\[sources\]\]|\[person\]|\[enterprise\]).*\n)*")


_EMPLOYER_COLUMNS = {"social_security_persons.csv": ("单位名称", "单位编码"),
                     "tax_persons.csv": ("任职受雇单位名称", "任职受雇单位识别号")}


def _pipeline(text: str, employers: bool = False) -> str:
    """The generated pipeline file, its sources reading the reshaped files."""
    blocks = _SOURCE.findall(text)
    rewritten = []
    for block in blocks:
        for filename, (name_col, code_col) in _EMPLOYER_COLUMNS.items():
            if employers and f'path = "{filename}"' in block:
                block = block.replace("[sources.trust]", f'employer_name = "{name_col}"\n'
                                      f'employer_code = "{code_col}"\n[sources.trust]')
        if 'path = "household_persons.csv"' in block:
            block = block.replace('address = "住址"',
                                  "address = " + _list(ADDRESS_PARTS))
            block = block.replace("[sources.trust]", f'former_name = "{FORMER_NAME_HEADER}"\n'
                                  "[sources.trust]")
        elif 'path = "market_enterprises.xlsx"' in block:
            block = block.replace("[sources.trust]", f'reg_number = "{REG_NUMBER_HEADER}"\n'
                                  "[sources.trust]")
        elif 'path = "tax_enterprises.csv"' in block:
            block = block.replace("[sources.columns]",
                                  'units = { capital = "yuan" }\n[sources.columns]')
        elif 'path = "customs_enterprises.csv"' in block:
            block = block.replace('encoding = "gb18030"', 'encoding = "gbk"')
        elif 'path = "courts_persons.csv"' in block or 'path = "courts_enterprises.csv"' in block:
            person = "courts_persons" in block
            block = block.replace('path = "courts_persons.csv"', 'path = "courts_parties.csv"')
            block = block.replace('path = "courts_enterprises.csv"',
                                  'path = "courts_parties.csv"')
            kind = "自然人" if person else "法人"
            block = block.replace("[sources.columns]",
                                  f"where = \"当事人类型 = '{kind}'\"\n[sources.columns]")
            for old, new in (("当事人姓名", "当事人名称"), ("身份证号", "证件号码"),
                             ("统一社会信用代码", "证件号码")):
                block = block.replace(f'"{old}"', f'"{new}"')
        rewritten.append(block)
    for old, new in zip(blocks, rewritten, strict=True):
        text = text.replace(old, new, 1)
    text = text.replace('status = "text"', 'status = "enterprise_status"')
    if employers:
        text = text.replace("[person.fields]\n", '[person.fields]\nemployer_name = '
                            '"enterprise_name"\nemployer_code = "credit_code"\n', 1)
    # the golden name is the registered spelling: the register's authority before trust
    return text.replace(
        'name = ["valid", "once:name__region,name__bracket_region", "latest:name__core", '
        '"longest",\n        "frequent", "trust", "recent"]',
        'name = ["valid", "once:name__region,name__bracket_region", "latest:name__core", '
        '"longest",\n        "frequent", "authority:market", "trust", "recent"]')


def _list(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"
