"""Links only a second column can make, with the shipped presets (issue 16): a person one
department knows only by a former name (曾用名), an enterprise one department knows only by
its legacy registration number (注册号) held in another department's own column.

Hand-checked: in each case the record in question shares no identifier, name or address
with any other record, so without the cross-column pass and comparison it stays alone."""

from __future__ import annotations

import pyarrow as pa

import linkage as lk
from linkage.standardisers.checksums import id_check_char


def _entities(result: lk.PipelineResult) -> list[set[str]]:
    groups: dict[object, set[str]] = {}
    for r in result.records.select(["source", "source_key", "entity_id"]).to_pylist():
        groups.setdefault(r["entity_id"], set()).add(f"{r['source']}:{r['source_key']}")
    return sorted(groups.values(), key=sorted)


def _text(rows: list[dict[str, str]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=pa.schema([(k, pa.string()) for k in rows[0]]))


_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明",
          "超", "秀英", "华", "平", "刚")


def _people(n: int) -> list[dict[str, str]]:
    """``n`` distinct people with valid ID numbers (GB 11643 check characters), written
    the same way by every department."""
    out = []
    for i in range(n):
        birth = f"19{60 + i % 30}-{1 + i % 12:02d}-{1 + i % 28:02d}"
        body = f"110101{birth.replace('-', '')}{i % 1000:03d}"
        out.append({"name": _SURNAMES[i % 20] + _GIVEN[(i * 7) % 20] + _GIVEN[(i * 3) % 20],
                    "id": body + id_check_char(body), "birth": birth,
                    "sex": "男" if int(body[-1]) % 2 else "女",
                    "address": f"北京市东城区东华门街道{i + 1}号"})
    return out


def test_a_person_known_to_one_department_only_by_a_former_name_links() -> None:
    people = _people(40)
    subject = people[0]
    household = _text([{"k": f"H{i}", **p, "former": "王小明" if i == 0 else ""}
                       for i, p in enumerate(people)])
    social = _text([{"k": f"S{i}", **p} for i, p in enumerate(people)])
    # the court case predates the rename: filed under 王小明, without ID number, phone or
    # address; it shares no identifier and no name with any other record
    courts = _text([{"k": "C0", "name": "王小明", "birth": subject["birth"],
                     "sex": subject["sex"]}])
    columns = {"name": "name", "id_number": "id", "birth_date": "birth", "sex": "sex",
               "address": "address"}
    sources = [
        lk.Source.from_frame(household, department="household", entity_type="person", key="k",
                             columns={**columns, "former_name": "former"}),
        lk.Source.from_frame(social, department="social_security", entity_type="person",
                             key="k", columns=columns),
        lk.Source.from_frame(courts, department="courts", entity_type="person", key="k",
                             columns={"name": "name", "birth_date": "birth", "sex": "sex"}),
    ]
    result = lk.Pipeline(sources=sources, person=lk.EntityConfig.preset("person")).run()
    expected = [{f"household:H{i}", f"social_security:S{i}"} for i in range(len(people))]
    expected[0].add("courts:C0")
    assert _entities(result) == sorted(expected, key=sorted)
    # the golden name is the current one, the former name kept beside it
    golden = result.golden["person"].select(["name", "former_name"]).to_pylist()
    assert {"name": subject["name"], "former_name": "王小明"} in golden


# valid credit codes and legacy registration numbers (their own checks)
_FIRMS = (("91110105MA01A0BX2H", "110105012345675", "北京星河科技有限公司", "朝阳区建国路1号"),
          ("91310115MA1FL0R5XG", "310115000123456", "上海东方贸易有限公司", "浦东新区世纪大道2号"),
          ("91440300MA5EXAMP0C", "440301103456781", "深圳南山电子有限公司", "南山区科技园3号"))


def test_an_enterprise_with_only_a_registration_number_links_to_its_credit_code() -> None:
    market = _text([{"k": f"M{i}", "name": n, "code": c, "reg": r, "address": a}
                    for i, (c, r, n, a) in enumerate(_FIRMS)])
    tax = _text([{"k": f"T{i}", "name": n, "code": c, "address": a}
                 for i, (c, _, n, a) in enumerate(_FIRMS)])
    # a 2019 snapshot: the 注册号 where the code goes, and the name registered then
    customs = _text([{"k": "G0", "name": "北京银河网络技术有限公司", "code": _FIRMS[0][1],
                      "address": "海淀区中关村大街8号"}])
    sources = [
        lk.Source.from_frame(market, department="market", entity_type="enterprise", key="k",
                             columns={"name": "name", "credit_code": "code",
                                      "reg_number": "reg", "address": "address"}),
        lk.Source.from_frame(tax, department="tax", entity_type="enterprise", key="k",
                             columns={"name": "name", "credit_code": "code",
                                      "address": "address"}),
        lk.Source.from_frame(customs, department="customs", entity_type="enterprise", key="k",
                             columns={"name": "name", "credit_code": "code",
                                      "address": "address"}),
    ]
    result = lk.Pipeline(sources=sources,
                         enterprise=lk.EntityConfig.preset("enterprise")).run()
    assert _entities(result) == [
        {"market:M0", "tax:T0", "customs:G0"},
        {"market:M1", "tax:T1"},
        {"market:M2", "tax:T2"},
    ]
