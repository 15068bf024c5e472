"""Reading rules of a source: row filter, fields from several columns, units, value maps."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from linkage.config import SourceConfig, pipeline_from_dict
from linkage.errors import ConfigError, SourceError
from linkage.io.mapping import WhereError, parse_where, where_mask
from linkage.io.sources import read_source
from linkage.standardisers import standardise

COURTS = (
    "编号,当事人类型,名称,证件号码,户籍省份,户籍城市,户籍区县,详细地址,注册资本\n"
    "1,自然人,张伟,110105********002X,北京市,北京市,朝阳区,建国路1号,\n"
    "2,法人,北京某某科技有限公司,91350100M000100Y43,,,,,30000000.00\n"
    "3,自然人,李娜,,广东省,深圳市,南山区, 科技园2号 ,\n"
    "4,法人,某某商贸有限责任公司,,,,,,300万元\n"
)


def _courts(tmp_path: Path) -> Path:
    path = tmp_path / "courts.csv"
    path.write_text(COURTS, encoding="utf-8")
    return path


def _source(path: Path, **kw: object) -> SourceConfig:
    base: dict[str, object] = {"department": "courts", "entity_type": "person", "path": path,
                               "key": "编号", "columns": {"name": "名称"}}
    base.update(kw)
    return SourceConfig(**base)  # type: ignore[arg-type]


def test_a_mixed_file_is_split_by_where_and_nothing_is_read_twice(tmp_path: Path) -> None:
    path = _courts(tmp_path)
    persons = read_source(_source(path, where="当事人类型 = '自然人'"))
    firms = read_source(_source(path, entity_type="enterprise", where="当事人类型 != '自然人'"),
                        first_record_id=persons.num_rows)
    assert persons["source_key"].to_pylist() == ["1", "3"]
    assert persons["source_row"].to_pylist() == [1, 3]  # the file's own row numbers
    assert firms["source_key"].to_pylist() == ["2", "4"]
    assert firms["record_id"].to_pylist() == [2, 3]


def test_address_from_four_columns(tmp_path: Path) -> None:
    table = read_source(_source(_courts(tmp_path), where="当事人类型 = '自然人'", columns={
        "name": "名称", "address": ("户籍省份", "户籍城市", "户籍区县", "详细地址")}))
    assert table["address"].to_pylist() == ["北京市北京市朝阳区建国路1号",
                                            "广东省深圳市南山区科技园2号"]


def test_capital_in_yuan_is_read_as_yuan(tmp_path: Path) -> None:
    source = _source(_courts(tmp_path), entity_type="enterprise",
                     where="当事人类型 = '法人' and (证件号码 is null or 证件号码 like '91%')",
                     columns={"name": "名称", "capital": "注册资本"}, units={"capital": "yuan"})
    table = read_source(source)
    assert table["capital"].to_pylist() == ["30000000.00元", "300万元"]
    std = standardise(table, {"capital": "amount_wan"})
    assert std["capital"].to_pylist() == ["3000", "300"]  # 万元, not 30,000,000 万元


def test_value_maps_translate_a_departments_vocabulary(tmp_path: Path) -> None:
    table = read_source(_source(_courts(tmp_path), columns={"name": "名称", "kind": "当事人类型"},
                                values={"kind": {"自然人": "person", "法人": "enterprise"}}))
    assert table["kind"].to_pylist() == ["person", "enterprise", "person", "enterprise"]


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("a = 'x'", [True, False, False, False]),
        ("a != 'x'", [False, True, False, True]),      # null cells compare false
        ("a is null", [False, False, True, False]),    # blank counts as null
        ("a is not null and n > 2", [False, True, False, True]),  # 10 > 2: numbers
        ("n >= 2 and n < 10 or a = 'x'", [True, True, True, False]),  # and binds first
        ("not (a in ('x', 'y'))", [False, False, True, True]),
        ("a not in ('x')", [False, True, False, True]),
        ("a like 'x%'", [True, False, False, False]),
        ("\"a\" = 'y' or `n` = 10", [False, True, False, True]),
        ("a = 'it''s'", [False, False, False, False]),
    ],
)
def test_where_grammar(text: str, kept: list[bool]) -> None:
    table = pa.table({"a": ["x", "y", " ", "z"], "n": ["1", "3", "2", "10"]})
    assert where_mask(text, table).to_pylist() == kept


@pytest.mark.parametrize("text", ["", "a =", "a = b", "(a = 'x'", "a == 'x' and", "a >> 1",
                                  "a is 'x'", "read_csv('x') = 1"])
def test_where_errors_are_clear(text: str) -> None:
    with pytest.raises(WhereError):
        parse_where(text)


def test_a_bad_where_or_column_names_the_source_and_key(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"courts/person.*where.*no column '类型'"):
        read_source(_source(_courts(tmp_path), where="类型 = '自然人'"))
    with pytest.raises(SourceError, match=r"columns\.address.*'省'"):
        read_source(_source(_courts(tmp_path),
                            columns={"name": "名称", "address": ("省", "详细地址")}))


def test_pipeline_file_keys_are_validated(tmp_path: Path) -> None:
    def load(source: dict[str, object]) -> None:
        pipeline_from_dict({
            "sources": [{"department": "courts", "entity_type": "person", "path": "c.csv",
                         "key": "编号", **source}],
            "person": {"fields": {"name": "person_name", "address": "address"},
                       "blocking": [{"name": "n", "keys": ["name"]}],
                       "comparisons": [{"name": "n", "field": "name", "method": "exact"}]},
        }, base_dir=tmp_path)

    load({"columns": {"name": "名称", "address": ["省", "市"]}, "where": "a = 'b'"})
    with pytest.raises(ConfigError, match="units"):
        load({"columns": {"name": "名称"}, "units": {"capital": "yuan"}})
    with pytest.raises(ConfigError, match=r"units\.name"):
        load({"columns": {"name": "名称"}, "units": {"name": "dollars"}})
    with pytest.raises(ConfigError, match="list at least one column"):
        load({"columns": {"name": []}})
