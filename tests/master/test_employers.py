"""Employers: a person's employer tied to an enterprise entity by code or name."""

from __future__ import annotations

import pyarrow as pa

from linkage.master.employers import EMPLOYER_EDGES, prefer_enterprise_codes, resolve_employers
from linkage.standardisers import standardise
from linkage.standardisers.checksums import org_check_char, uscc_check_char


def _code(body8: str, division: str = "440104") -> tuple[str, str]:
    org = body8 + org_check_char(body8)
    body = "91" + division + org
    return body + uscc_check_char(body), org


CODE_A, ORG_A = _code("71584072")
CODE_B, ORG_B = _code("68241207")


def _enterprises() -> tuple[pa.Table, pa.Table, pa.Table]:
    raw = pa.table({
        "record_id": pa.array([0, 1, 2], pa.int64()),
        "source": ["market", "tax", "market"],
        "source_key": ["m1", "t1", "m2"],
        "entity_type": ["enterprise"] * 3,
        "source_row": pa.array([1, 1, 2], pa.int64()),
        "updated_at": pa.nulls(3, pa.date32()),
        "name": ["广州市甲科技有限责任公司", "广州市甲科技有限公司", "广州市乙商贸有限公司"],
        "credit_code": [CODE_A, "440104" + ORG_A, CODE_B],
        "flags": pa.array([[]] * 3, pa.list_(pa.string())),
    })
    records = standardise(raw, {"name": "enterprise_name", "credit_code": "credit_code"})
    clusters = pa.table({"record_id": pa.array([0, 1, 2], pa.int64()),
                         "entity_id": ["EA", "EA", "EB"]})
    golden = pa.table({"entity_id": ["EA", "EB"], "credit_code": [CODE_A, CODE_B],
                       "credit_code__source": ["market", "market"]})
    return records, clusters, golden


def test_by_code_in_any_form_then_by_name() -> None:
    records, clusters, _ = _enterprises()
    persons = pa.table({
        "entity_id": ["P1", "P2", "P3", "P4", "P5"],
        "employer_name": ["甲科技", "广州市乙商贸有限责任公司", None, "丙公司",
                          "广州市甲科技有限公司"],
        "employer_code": ["440104" + ORG_A, None, ORG_B, None, CODE_B[:-1] + "0"],
    })
    edges = resolve_employers(persons, records, clusters)
    assert edges.schema == EMPLOYER_EDGES
    got = [(r["person_id"], r["enterprise_id"], r["method"]) for r in edges.to_pylist()]
    assert got == [
        ("P1", "EA", "code"),  # a tax registration number holds A's organisation code
        ("P2", "EB", "name"),  # 有限责任公司 = 有限公司
        ("P3", "EB", "code"),  # the organisation code itself
        ("P5", "EA", "name"),  # the code is a typo (fails its check): the name decides
    ]


def test_the_registered_code_becomes_the_golden_employer_code() -> None:
    records, clusters, golden = _enterprises()
    persons = pa.table({"entity_id": ["P1", "P2"],
                        "employer_name": ["甲科技", None],
                        "employer_code": ["440104" + ORG_A, None],
                        "employer_code__rule": ["unanimous", None],
                        "employer_code__source": ["social_security", None]})
    edges = resolve_employers(persons, records, clusters)
    out = prefer_enterprise_codes(persons, edges, golden)
    assert out["employer_code"].to_pylist() == [CODE_A, None]
    assert out["employer_code__rule"].to_pylist() == ["enterprise_entity", None]
    assert out["employer_code__source"].to_pylist() == ["market", None]
