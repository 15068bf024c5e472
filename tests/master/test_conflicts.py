"""Conflict kinds on crafted cases, with candidates and golden values."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from linkage.master.conflicts import find_conflicts
from linkage.master.golden import SurvivorshipConfig, build_golden
from linkage.schemas import CONFLICTS

D = dt.date


def _table(rows: list[dict[str, object]]) -> tuple[pa.Table, pa.Table]:
    n = len(rows)
    cols: dict[str, list[object]] = {k: [r.get(k) for r in rows] for k in rows[0]}
    records = pa.table({
        "record_id": pa.array(range(n), pa.int64()),
        "source": cols["source"],
        "source_key": [f"k{i}" for i in range(n)],
        "entity_type": [cols.get("entity_type", ["person"] * n)[0]] * n,
        "updated_at": pa.array(cols["updated_at"], pa.date32()),
        **{k: pa.array(v, pa.string()) for k, v in cols.items()
           if k not in ("source", "updated_at", "entity", "entity_type")},
    })
    clusters = pa.table({"record_id": pa.array(range(n), pa.int64()),
                         "entity_type": records["entity_type"],
                         "entity_id": pa.array(cols["entity"], pa.string()),
                         "cluster_size": pa.array([1] * n, pa.int64())})
    return records, clusters


def _find(rows: list[dict[str, object]], fields: list[str]) -> list[tuple[str, str, str, str]]:
    records, clusters = _table(rows)
    trust = {s: dict.fromkeys(fields, 0.5) for s in records["source"].to_pylist()}
    golden = build_golden(records, clusters, fields=fields, survivorship=SurvivorshipConfig(),
                          trust=trust)
    out = find_conflicts(records, clusters, golden, fields=fields)
    assert out.schema == CONFLICTS
    return [(r["entity_id"], r["field"], r["kind"], r["severity"]) for r in out.to_pylist()]


def _person(entity: str, source: str, when: D | None, **fields: tuple[str | None, str | None,
                                                                        str]) -> dict[str, object]:
    row: dict[str, object] = {"entity": entity, "source": source, "updated_at": when}
    for name, (value, raw, status) in fields.items():
        row[name] = value
        row[f"{name}__raw"] = raw
        row[f"{name}__status"] = status
    return row


def test_format_only_missing_invalid() -> None:
    rows = [
        _person("A", "household", D(2020, 1, 1), phone=("13800138000", "13800138000", "ok")),
        _person("A", "tax", D(2021, 1, 1), phone=("13800138000", "138 0013 8000", "ok")),
        _person("A", "courts", D(2022, 1, 1), phone=(None, "", "missing")),  # blank cell
        _person("A", "customs", D(2019, 1, 1), phone=(None, "12345", "bad_format")),
        _person("B", "tax", D(2021, 1, 1), phone=("13900000000", "13900000000", "ok")),
    ]
    assert _find(rows, ["phone"]) == [
        ("A", "phone", "format_only", "info"),
        ("A", "phone", "invalid", "medium"),
        ("A", "phone", "missing", "low"),
    ]


def test_a_field_the_department_never_collects_is_not_missing() -> None:
    # courts has no phone column at all (nothing read: null raw values); it lacks nothing
    rows = [
        _person("A", "household", D(2020, 1, 1), phone=("13800138000", "13800138000", "ok")),
        _person("A", "courts", D(2022, 1, 1), phone=(None, None, "missing")),
        _person("B", "courts", D(2022, 1, 1), phone=(None, None, "missing")),
        _person("B", "tax", D(2021, 1, 1), phone=(None, "", "missing")),
        _person("B", "household", D(2021, 1, 1), phone=("13900000000", "13900000000", "ok")),
    ]
    assert _find(rows, ["phone"]) == [("B", "phone", "missing", "low")]


def test_stale_for_mutable_field_and_conflict_for_fixed_one() -> None:
    rows = [
        _person("A", "household", D(2018, 1, 1), address=("旧地址1号", "旧地址1号", "ok"),
                birth_date=("1980-01-01", "1980-01-01", "ok")),
        _person("A", "tax", D(2023, 1, 1), address=("新地址2号", "新地址2号", "ok"),
                birth_date=("1985-07-09", "1985-07-09", "ok")),  # no typo of the other
    ]
    found = _find(rows, ["address", "birth_date"])
    assert ("A", "address", "stale", "low") in found
    assert ("A", "birth_date", "value_conflict", "high") in found
    assert not any(kind == "value_conflict" and f == "address" for _, f, kind, _ in found)


def test_same_date_values_are_a_conflict_not_stale() -> None:
    rows = [
        _person("A", "household", D(2023, 1, 1), address=("甲路1号", "甲路1号", "ok")),
        _person("A", "tax", D(2023, 1, 1), address=("乙路2号", "乙路2号", "ok")),
        _person("A", "courts", None, address=("丙路3号", "丙路3号", "ok")),
    ]
    assert _find(rows, ["address"]) == [("A", "address", "value_conflict", "medium")]


def test_identity_conflict_across_entities_and_candidates() -> None:
    same_id = ("11010519491231002X", "11010519491231002X", "ok")
    rows = [
        _person("A", "household", D(2020, 1, 1), id_number=same_id,
                name=("张三", "张三", "ok"), birth_date=("1949-12-31", "1949-12-31", "ok")),
        _person("B", "tax", D(2021, 1, 1), phone=NONE, id_number=same_id,
                name=("李四", "李四", "ok"), birth_date=("1949-12-31", "1949-12-31", "ok")),
        _person("C", "tax", D(2021, 1, 1), id_number=("440524188001010014",) * 2 + ("ok",),
                name=("王五", "王五", "ok"), birth_date=("1880-01-01", "1880-01-01", "ok")),
    ]
    records, clusters = _table(rows)
    fields = ["name", "id_number", "birth_date"]
    golden = build_golden(records, clusters, fields=fields, survivorship=SurvivorshipConfig(),
                          trust={"household": {}, "tax": {}})
    out = find_conflicts(records, clusters, golden, fields=fields)
    identity = [r for r in out.to_pylist() if r["kind"] == "identity_conflict"]
    assert [(r["entity_id"], r["field"], r["severity"]) for r in identity] == [
        ("A", "id_number", "critical"), ("B", "id_number", "critical")]
    cands = identity[0]["candidates"]
    assert [c["source"] for c in cands] == ["household", "tax"]
    assert cands[0]["value"] == "name=张三; birth_date=1949-12-31"
    assert cands[1]["record_id"] == 1 and cands[1]["updated_at"] == D(2021, 1, 1)
    assert identity[0]["golden_value"] == "11010519491231002X"


def test_identity_conflict_same_entity_two_birth_dates_and_enterprise_names() -> None:
    rows = [
        _person("A", "household", D(2020, 1, 1), birth_date=("1980-01-01",) * 2 + ("ok",),
                id_number=("X1",) * 2 + ("ok",)),
        _person("A", "tax", D(2021, 1, 1), birth_date=("1980-02-01",) * 2 + ("ok",),
                id_number=("X1",) * 2 + ("ok",)),
    ]
    found = _find(rows, ["birth_date", "id_number"])
    assert ("A", "id_number", "identity_conflict", "critical") in found
    code = ("91350100M000100Y43",) * 2 + ("ok",)
    ents = [
        {**_person("E1", "market", D(2020, 1, 1), credit_code=code, name=("甲公司",) * 2 + ("ok",)),
         "entity_type": "enterprise"},
        {**_person("E2", "tax", D(2020, 1, 1), credit_code=code, name=("乙公司",) * 2 + ("ok",)),
         "entity_type": "enterprise"},
    ]
    found = _find(ents, ["name", "credit_code"])
    assert ("E1", "credit_code", "identity_conflict", "critical") in found
    assert ("E2", "credit_code", "identity_conflict", "critical") in found


def test_agreeing_entity_has_no_conflicts() -> None:
    rows = [
        _person("A", "household", D(2020, 1, 1), name=("张三", "张三", "ok")),
        _person("A", "tax", D(2021, 1, 1), name=("张三", "张三", "ok")),
    ]
    assert _find(rows, ["name"]) == []


def test_ambiguous_values_take_part_and_tails_fold() -> None:
    rows = [
        # Newest record: the address without its city (division ambiguous) = the new home.
        _person("A", "household", D(2026, 1, 1), address=("江北区公园路76号", "江北区公园路76号",
                                                          "ambiguous")),
        _person("A", "courts", D(2024, 1, 1), address=("广州市天河区花园路272号",) * 2 + ("ok",)),
        # B: the ambiguous value is the tail of B's valid value: no stale, no conflict.
        _person("B", "household", D(2026, 1, 1), address=("江北区公园路76号", "江北区公园路76号",
                                                          "ambiguous")),
        _person("B", "tax", D(2024, 1, 1), address=("重庆市江北区公园路76号",) * 2 + ("ok",)),
    ]
    found = _find(rows, ["address"])
    assert ("A", "address", "stale", "low") in found
    assert not [r for r in found if r[0] == "B" and r[2] in ("stale", "value_conflict")]
    assert ("B", "address", "invalid", "medium") in found


def test_entity_missing_from_golden_gets_null_golden_value() -> None:
    rows = [
        _person("A", "household", D(2020, 1, 1), name=("张三", "张三", "ok")),
        _person("A", "tax", D(2021, 1, 1), name=("张叁", "张叁", "ok")),
        _person("B", "tax", D(2021, 1, 1), name=("李四", "李四", "ok")),
    ]
    records, clusters = _table(rows)
    golden = build_golden(records, clusters, fields=["name"], survivorship=SurvivorshipConfig(),
                          trust={"household": {}, "tax": {}})
    only_b = golden.filter(pa.compute.equal(golden["entity_id"], "B"))
    out = find_conflicts(records, clusters, only_b, fields=["name"]).to_pylist()
    assert [(r["entity_id"], r["kind"], r["golden_value"]) for r in out] == [
        ("A", "value_conflict", None)]


def test_conflict_config_from_pipeline_data() -> None:
    from pathlib import Path

    from linkage.config import _build
    from linkage.master.conflicts import ConflictConfig

    problems: list[str] = []
    cfg = _build(ConflictConfig, {"mutable_fields": ["address", "name"]}, "person.conflicts",
                 problems, Path())
    assert problems == [] and cfg is not None
    assert cfg.mutable_fields == ("address", "name")
    assert cfg.comparable_statuses == ("ambiguous",)
    # With name declared mutable, an older different name is stale, not a conflict.
    rows = [
        _person("A", "household", D(2018, 1, 1), name=("张三", "张三", "ok")),
        _person("A", "tax", D(2023, 1, 1), name=("李思", "李思", "ok")),
    ]
    records, clusters = _table(rows)
    golden = build_golden(records, clusters, fields=["name"], survivorship=SurvivorshipConfig(),
                          trust={"household": {}, "tax": {}})
    out = find_conflicts(records, clusters, golden, fields=["name"],
                         mutable_fields=cfg.mutable_fields)
    assert [r["kind"] for r in out.to_pylist()] == ["stale"]


def test_wildcard_names_fold_or_stand_as_their_own_value() -> None:
    """An enterprise's legal representative: "高兰?" (an old system without the third
    character) cannot be "熊伟安", so it is an older, stale value; "熊伟?" is "熊伟安"
    written without its last character and disagrees with nothing."""
    def firm(entity: str, source: str, when: D, name: str, status: str) -> dict[str, object]:
        row = _person(entity, source, when, legal_rep_name=(name, name, status))
        row["entity_type"] = "enterprise"
        return row

    rows = [
        firm("A", "market", D(2026, 1, 1), "熊伟安", "ok"),
        firm("A", "customs", D(2014, 1, 1), "高兰?", "replacement_char"),
        firm("B", "market", D(2026, 1, 1), "熊伟安", "ok"),
        firm("B", "customs", D(2014, 1, 1), "熊伟?", "replacement_char"),
    ]
    found = _find(rows, ["legal_rep_name"])
    assert ("A", "legal_rep_name", "stale", "low") in found
    assert not [r for r in found if r[0] == "B" and r[2] in ("stale", "value_conflict")]
    assert ("B", "legal_rep_name", "invalid", "medium") in found
    records, clusters = _table(rows)
    out = find_conflicts(records, clusters, build_golden(
        records, clusters, fields=["legal_rep_name"], survivorship=SurvivorshipConfig(),
        trust={}), fields=["legal_rep_name"], wildcard_statuses=())
    assert [r["kind"] for r in out.to_pylist() if r["entity_id"] == "A"] == ["invalid"]


def test_missing_name_separator_is_format_only() -> None:
    rows = [
        _person("A", "household", D(2020, 1, 1), name=("伊力哈木热合曼",) * 2 + ("ok",)),
        _person("A", "tax", D(2021, 1, 1), name=("伊力哈木·热合曼", "伊力哈木.热合曼", "ok")),
        # Swapped parts are a different spelling: still a conflict.
        _person("B", "household", D(2020, 1, 1), name=("伊力哈木·热合曼",) * 2 + ("ok",)),
        _person("B", "tax", D(2021, 1, 1), name=("热合曼·伊力哈木",) * 2 + ("ok",)),
    ]
    assert _find(rows, ["name"]) == [("A", "name", "format_only", "info"),
                                     ("B", "name", "value_conflict", "medium")]


NONE = (None, None, "missing")


def test_kinds_say_what_the_department_did() -> None:
    phone = "13800138000"
    rows = [
        # a phone typo, newest: still a typo of the number two departments hold
        _person("A", "household", D(2020, 1, 1), phone=(phone, phone, "ok"),
                id_number=NONE,
                name=("王涛", "王涛", "ok")),
        _person("A", "social_security", D(2021, 1, 1), phone=(phone, phone, "ok"),
                id_number=NONE, name=("王涛", "王涛", "ok")),
        _person("A", "tax", D(2023, 1, 1), phone=("13800183000", "13800183000", "ok"),
                id_number=NONE,
                name=("王滔", "王滔", "ok")),
        # an ID number failing its check one digit from the valid one: a typo, not just invalid
        _person("B", "household", D(2020, 1, 1), phone=NONE,
                id_number=("11010519491231002X",) * 2 + ("ok",),
                name=("张伟", "张伟", "ok")),
        _person("B", "tax", D(2021, 1, 1), phone=NONE,
                id_number=("11010519491231003X",) * 2 + ("bad_check",),
                name=("张伟", "张伟", "ok")),
        _person("B", "courts", D(2022, 1, 1), phone=NONE,
                id_number=("11010519491231002X",) * 2 + ("ok",),
                name=("王伟", "王伟", "ok")),  # 王/张: another sound, one character
    ]
    records, clusters = _table(rows)
    fields = ["phone", "name", "id_number"]
    trust = {s: dict.fromkeys(fields, 0.5) for s in records["source"].to_pylist()}
    golden = build_golden(records, clusters, fields=fields, trust=trust,
                          survivorship=SurvivorshipConfig(typo_fields=("phone",)))
    assert golden["phone"].to_pylist() == [phone, None]  # the newest typo did not win
    out = find_conflicts(records, clusters, golden, fields=fields).to_pylist()
    got = {(r["entity_id"], r["field"], r["kind"]): r["evidence"] for r in out}
    assert got == {
        ("A", "name", "homophone_or_lookalike"): "滔/涛: same sound (tao/tao)",
        ("A", "phone", "typo"): "two neighbouring characters swapped (positions 7-8)",
        ("B", "id_number", "typo"): "one character differs (position 17)",
        ("B", "name", "homophone_or_lookalike"):
            "王/张: one character of another sound (a look-alike or a slip)",
    }


def test_abbreviation_and_stale_evidence() -> None:
    rows = [
        {"entity": "E", "entity_type": "enterprise", "source": "market",
         "updated_at": D(2023, 1, 1), "name": "深圳市腾讯计算机系统有限公司",
         "address": "南山区科技园1号"},
        {"entity": "E", "entity_type": "enterprise", "source": "tax",
         "updated_at": D(2022, 1, 1), "name": "深圳市腾讯计算机系统有限公司",
         "address": "南山区科技园1号"},
        {"entity": "E", "entity_type": "enterprise", "source": "courts",
         "updated_at": D(2021, 1, 1), "name": "腾讯计算机系统", "address": "福田区老街2号"},
    ]
    records, clusters = _table(rows)
    fields = ["name", "address"]
    trust = {s: dict.fromkeys(fields, 0.5) for s in records["source"].to_pylist()}
    golden = build_golden(records, clusters, fields=fields, trust=trust,
                          survivorship=SurvivorshipConfig())
    out = find_conflicts(records, clusters, golden, fields=fields).to_pylist()
    got = {(r["field"], r["kind"]): r["evidence"] for r in out}
    assert got == {
        ("name", "abbreviation"):
            "腾讯计算机系统 is an abbreviation of 深圳市腾讯计算机系统有限公司",
        ("address", "stale"): "superseded by the newer value of market on 2023-01-01",
    }


def test_status_words_of_one_state_are_vocabulary_not_a_conflict() -> None:
    from linkage.standardisers import standardise

    raw = pa.table({
        "record_id": pa.array([0, 1, 2], pa.int64()),
        "source": ["market", "tax", "courts"],
        "source_key": ["m", "t", "c"],
        "entity_type": ["enterprise"] * 3,
        "source_row": pa.array([1, 1, 1], pa.int64()),
        "updated_at": pa.array([D(2023, 1, 1), D(2024, 1, 1), D(2022, 1, 1)], pa.date32()),
        "status": ["存续（在营、开业、在册）", "正常", "在业"],
        "flags": pa.array([[]] * 3, pa.list_(pa.string())),
    })
    records = standardise(raw, {"status": "enterprise_status"})
    clusters = pa.table({"record_id": pa.array(range(3), pa.int64()),
                         "entity_type": ["enterprise"] * 3, "entity_id": ["E"] * 3})
    trust = {s: {"status": 0.5} for s in ("market", "tax", "courts")}
    golden = build_golden(records, clusters, fields=["status"], trust=trust,
                          survivorship=SurvivorshipConfig())
    out = find_conflicts(records, clusters, golden, fields=["status"]).to_pylist()
    assert [(r["kind"], r["severity"]) for r in out] == [("vocabulary", "info")]
