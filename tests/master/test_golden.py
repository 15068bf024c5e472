"""Golden records: hand-checked survivorship chains, groups, idempotence, order-freedom."""

from __future__ import annotations

import datetime as dt
import random

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.config import _build
from linkage.master.golden import SurvivorshipConfig, build_golden

D = dt.date
TRUST = {
    "household": {"name": 0.9, "address": 0.6, "address_city": 0.6},
    "tax": {"name": 0.7, "address": 0.8, "address_city": 0.8},
    "courts": {"name": 0.3, "address": 0.3, "address_city": 0.3},
}


def _records() -> pa.Table:
    # Entity A: records 0-3; entity B: record 4 alone.
    return pa.table(
        {
            "record_id": pa.array([0, 1, 2, 3, 4], pa.int64()),
            "source": ["household", "tax", "courts", "courts", "tax"],
            "source_key": ["h1", "t1", "c1", "c2", "t2"],
            "entity_type": ["person"] * 5,
            "updated_at": pa.array([D(2019, 1, 1), D(2023, 6, 1), D(2024, 1, 1), None,
                                    D(2020, 1, 1)], pa.date32()),
            "name": ["张三", "张叁", "张叁", "张叁", None],
            "name__status": ["ok", "ok", "ok", "ok", "missing"],
            "address": ["北京市朝阳区甲路1号", "北京市朝阳区乙路2号", "乙路2号", None, "上海"],
            "address__status": ["ok", "ok", "ok", "missing", "ok"],
            "address_city": ["北京市", None, None, None, "上海市"],
        }
    )


def _clusters() -> pa.Table:
    return pa.table({"record_id": pa.array([0, 1, 2, 3, 4], pa.int64()),
                     "entity_type": ["person"] * 5,
                     "entity_id": ["PA", "PA", "PA", "PA", "PB"],
                     "cluster_size": pa.array([4, 4, 4, 4, 1], pa.int64())})


def _golden(**kwargs: object) -> pa.Table:
    config = SurvivorshipConfig(**kwargs)  # type: ignore[arg-type]
    return build_golden(_records(), _clusters(), fields=["name", "address", "address_city"],
                        survivorship=config, trust=TRUST)


def _pick(table: pa.Table, entity: str, field: str) -> tuple[object, ...]:
    row = table.to_pylist()[table["entity_id"].to_pylist().index(entity)]
    return (row[field], row[f"{field}__source"], row[f"{field}__record_id"],
            row[f"{field}__rule"])


def test_trust_decides_then_frequent() -> None:
    g = _golden(default=("valid", "trust", "recent", "frequent"))
    assert g["entity_id"].to_pylist() == ["PA", "PB"]
    assert g["n_records"].to_pylist() == [4, 1]
    assert _pick(g, "PA", "name") == ("张三", "household", 0, "trust")
    assert _pick(g, "PA", "address") == ("北京市朝阳区乙路2号", "tax", 1, "trust")
    g2 = _golden(default=("frequent", "trust"))
    assert _pick(g2, "PA", "name") == ("张叁", "tax", 1, "frequent")


def test_recent_authority_longest_and_unanimous() -> None:
    g = _golden(default=("recent",))
    assert _pick(g, "PA", "name") == ("张叁", "courts", 2, "recent")
    g = _golden(default=("authority:household,tax", "recent"))
    assert _pick(g, "PA", "name") == ("张三", "household", 0, "authority:household,tax")
    g = _golden(default=("longest",), fields={"name": ("recent",)})
    # Two 10-character addresses tie on length: the department order breaks the tie.
    assert _pick(g, "PA", "address") == ("北京市朝阳区甲路1号", "household", 0, "tie_break")
    g = _golden(default=("longest",), fields={"address": ("valid", "longest")})
    assert _pick(g, "PA", "address")[3] == "tie_break"
    assert _pick(g, "PB", "address") == ("上海", "tax", 4, "unanimous")
    # A missing value never wins; with no value at all the rule is null.
    assert _pick(g, "PB", "name") == (None, None, None, None)


def test_group_comes_from_one_record() -> None:
    g = _golden(default=("complete", "trust"), groups=(("address", "address_city"),))
    # Record 0 fills both address parts, so it wins for the whole group.
    assert _pick(g, "PA", "address")[:3] == ("北京市朝阳区甲路1号", "household", 0)
    assert _pick(g, "PA", "address_city")[:3] == ("北京市", "household", 0)
    assert _pick(g, "PA", "address")[3] == "complete"


def test_idempotent_and_order_free() -> None:
    first = _golden()
    assert first.equals(_golden())
    recs = _records().take(pa.array([4, 2, 0, 3, 1]))
    clus = _clusters().take(pa.array([1, 3, 0, 4, 2]))
    again = build_golden(recs, clus, fields=["name", "address", "address_city"],
                         survivorship=SurvivorshipConfig(), trust=TRUST)
    assert again.equals(first)


def test_config_from_toml_data_and_bad_rules() -> None:
    problems: list[str] = []
    cfg = _build(SurvivorshipConfig, {"default": ["authority:household", "recent"],
                                      "fields": {"name": ["valid", "frequent"]},
                                      "groups": [["address", "address_city"]]}, "s", problems,
                 __import__("pathlib").Path())
    assert problems == []
    assert cfg is not None and cfg.chain("name") == ("valid", "frequent")
    assert cfg.groups == (("address", "address_city"),)
    with pytest.raises(ValueError, match="unknown survivorship rule 'newest'"):
        SurvivorshipConfig(default=("newest",))
    with pytest.raises(ValueError, match="names no department"):
        SurvivorshipConfig(default=("authority:",))


def _id_case() -> tuple[pa.Table, pa.Table]:
    # Entity A: household wrote a wrong birth date; its valid ID says 1980-01-02, tax agrees.
    # Entity B: no record wrote a birth date, the valid ID has one; an invalid ID is no proof.
    records = pa.table({
        "record_id": pa.array([0, 1, 2, 3], pa.int64()),
        "source": ["household", "tax", "household", "tax"],
        "source_key": ["h1", "t1", "h2", "t2"],
        "entity_type": ["person"] * 4,
        "updated_at": pa.array([D(2024, 1, 1), D(2020, 1, 1), D(2024, 1, 1), D(2025, 1, 1)],
                               pa.date32()),
        "birth_date": ["1980-02-01", "1980-01-02", None, None],
        "birth_date__status": ["ok", "ok", "missing", "missing"],
        "id_number": ["X1", "X1", "Y2", "Z3"],
        "id_number__status": ["ok", "ok", "ok", "bad_check"],
        "id_number__birth_date": pa.array([D(1980, 1, 2), D(1980, 1, 2), D(1990, 5, 6),
                                           D(1999, 9, 9)], pa.date32()),
    })
    clusters = pa.table({"record_id": pa.array([0, 1, 2, 3], pa.int64()),
                         "entity_type": ["person"] * 4, "entity_id": ["PA", "PA", "PB", "PB"],
                         "cluster_size": pa.array([2, 2, 2, 2], pa.int64())})
    return records, clusters


def test_agrees_rule_and_derived_candidates() -> None:
    records, clusters = _id_case()
    trust = {"household": {"birth_date": 0.9}, "tax": {"birth_date": 0.5}}
    plain = build_golden(records, clusters, fields=["birth_date"],
                         survivorship=SurvivorshipConfig(default=("valid", "trust")), trust=trust)
    assert _pick(plain, "PA", "birth_date") == ("1980-02-01", "household", 0, "trust")
    assert _pick(plain, "PB", "birth_date") == (None, None, None, None)
    agrees = SurvivorshipConfig(default=("valid", "agrees:id_number__birth_date", "trust"))
    g = build_golden(records, clusters, fields=["birth_date"], survivorship=agrees, trust=trust)
    assert _pick(g, "PA", "birth_date") == ("1980-01-02", "tax", 1,
                                            "agrees:id_number__birth_date")
    derived = SurvivorshipConfig(default=("valid", "frequent", "trust"),
                                 derive={"birth_date": "id_number__birth_date"})
    g = build_golden(records, clusters, fields=["birth_date"], survivorship=derived, trust=trust)
    # A: the two IDs vote with tax (3 against 1); the value is credited to the tax record.
    assert _pick(g, "PA", "birth_date") == ("1980-01-02", "tax", 1, "frequent")
    # B: only the valid ID of record 2 gives a birth date; record 3's ID failed its check.
    assert _pick(g, "PB", "birth_date") == ("1990-05-06", "household", 2,
                                            "derived:id_number__birth_date")


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["household", "tax", "courts"]),
                          st.one_of(st.none(), st.sampled_from(["甲", "乙", "丙"])),
                          st.one_of(st.none(), st.integers(18_000, 18_010))),
                min_size=1, max_size=12),
       st.randoms(use_true_random=False))
def test_golden_is_idempotent_and_order_free_property(
        rows: list[tuple[int, str, str | None, int | None]], rnd: random.Random) -> None:
    n = len(rows)
    records = pa.table({
        "record_id": pa.array(range(n), pa.int64()),
        "source": [r[1] for r in rows],
        "source_key": [f"k{i}" for i in range(n)],
        "entity_type": ["person"] * n,
        "updated_at": pa.array([r[3] for r in rows], pa.int32()).cast(pa.date32()),
        "name": [r[2] for r in rows],
    })
    clusters = pa.table({"record_id": pa.array(range(n), pa.int64()),
                         "entity_type": ["person"] * n,
                         "entity_id": [f"P{r[0]}" for r in rows],
                         "cluster_size": pa.array([1] * n, pa.int64())})
    config = SurvivorshipConfig(default=("frequent", "recent", "trust"))
    first = build_golden(records, clusters, fields=["name"], survivorship=config, trust=TRUST)
    assert first.equals(build_golden(records, clusters, fields=["name"], survivorship=config,
                                     trust=TRUST))
    perm = list(range(n))
    rnd.shuffle(perm)
    shuffled = build_golden(records.take(pa.array(perm)), clusters.take(pa.array(perm)),
                            fields=["name"], survivorship=config, trust=TRUST)
    assert shuffled.equals(first)
    # Every entity once; a chosen value is always one some member record holds.
    assert sorted(first["entity_id"].to_pylist()) == sorted({f"P{r[0]}" for r in rows})
    for row in first.to_pylist():
        members = [r[2] for r in rows if f"P{r[0]}" == row["entity_id"]]
        assert row["name"] in members
        assert (row["name"] is None) == all(m is None for m in members)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 60), st.integers(0, 2**32 - 1))
def test_packed_sort_matches_lexsort(n: int, seed: int) -> None:
    import numpy as np

    from linkage.master.golden import _sort_order

    rng = np.random.default_rng(seed)
    keys = [rng.integers(0, 5, n), rng.integers(0, 2, n).astype(np.int8),
            -rng.choice([0.9, 0.5, 0.25], n), -rng.integers(-3, 3, n).astype(float)]
    rank = rng.permutation(n)
    expected = np.lexsort((rank, *reversed(keys)))
    assert _sort_order(keys, rank).tolist() == expected.tolist()
    # Keys too wide to pack fall back to lexsort with the same result.
    wide = [rng.integers(0, 2**40, n), rng.integers(0, 2**40, n)]
    assert _sort_order(wide, rank).tolist() == np.lexsort((rank, *reversed(wide))).tolist()


def test_record_without_cluster_row_is_its_own_entity() -> None:
    clusters = _clusters().slice(0, 4)  # record 4 (tax t2) has no cluster row
    g = build_golden(_records(), clusters, fields=["name", "address"],
                     survivorship=SurvivorshipConfig(), trust=TRUST)
    assert g.num_rows == 2
    lone = next(r for r in g.to_pylist() if r["entity_id"] != "PA")
    assert lone["entity_id"].startswith("P") and lone["n_records"] == 1
    assert lone["address"] == "上海"


def _tail_records(newest_status: str) -> pa.Table:
    # One person: the household's full address (2023), then tax (2025) without province
    # and city, which the standardiser could not place (status ambiguous).
    return pa.table({
        "record_id": pa.array([0, 1], pa.int64()),
        "source": ["household", "tax"],
        "source_key": ["h1", "t1"],
        "entity_type": ["person"] * 2,
        "updated_at": pa.array([D(2023, 1, 1), D(2025, 1, 1)], pa.date32()),
        "address": ["重庆市江北区公园路76号", "江北区公园路76号"],
        "address__status": ["ok", newest_status],
    })


def test_soft_tail_confirms_the_full_value_and_credits_its_writer() -> None:
    clusters = pa.table({"record_id": pa.array([0, 1], pa.int64()),
                         "entity_type": ["person"] * 2, "entity_id": ["PA", "PA"],
                         "cluster_size": pa.array([2, 2], pa.int64())})
    chain = {"address": ("recent", "valid", "frequent", "trust")}
    g = build_golden(_tail_records("ambiguous"), clusters, fields=["address"],
                     survivorship=SurvivorshipConfig(fields=chain), trust=TRUST)
    # The newer record votes for the full address; the value and lineage are the
    # household's, and no rival value remains.
    assert _pick(g, "PA", "address") == ("重庆市江北区公园路76号", "household", 0, "unanimous")
    # Without soft statuses the newer short spelling wins on recency.
    g = build_golden(_tail_records("ambiguous"), clusters, fields=["address"],
                     survivorship=SurvivorshipConfig(fields=chain, soft_statuses=()),
                     trust=TRUST)
    assert _pick(g, "PA", "address") == ("江北区公园路76号", "tax", 1, "recent")
    # A valid short value is a different address, not a tail to fold.
    g = build_golden(_tail_records("ok"), clusters, fields=["address"],
                     survivorship=SurvivorshipConfig(fields=chain), trust=TRUST)
    assert _pick(g, "PA", "address") == ("江北区公园路76号", "tax", 1, "recent")


def test_wildcard_value_votes_for_the_one_value_it_fits() -> None:
    # Tax (newest) could not store 珺 and wrote 刘芬?; the household wrote it whole. With
    # two candidates it could be (刘芬珺, 刘芬君) the wildcard value stays its own.
    records = pa.table({
        "record_id": pa.array([0, 1, 2, 3, 4], pa.int64()),
        "source": ["household", "tax", "household", "courts", "tax"],
        "source_key": ["h1", "t1", "h2", "c2", "t2"],
        "entity_type": ["person"] * 5,
        "updated_at": pa.array([D(2023, 1, 1), D(2025, 1, 1), D(2023, 1, 1), D(2022, 1, 1),
                                D(2025, 1, 1)], pa.date32()),
        "name": ["刘芬珺", "刘芬?", "刘芬珺", "刘芬君", "刘芬?"],
        "name__status": ["ok", "replacement_char", "ok", "ok", "replacement_char"],
    })
    clusters = pa.table({"record_id": pa.array([0, 1, 2, 3, 4], pa.int64()),
                         "entity_type": ["person"] * 5,
                         "entity_id": ["PA", "PA", "PB", "PB", "PB"],
                         "cluster_size": pa.array([2, 2, 3, 3, 3], pa.int64())})
    config = SurvivorshipConfig(default=("recent", "trust"))
    g = build_golden(records, clusters, fields=["name"], survivorship=config, trust=TRUST)
    assert _pick(g, "PA", "name") == ("刘芬珺", "household", 0, "unanimous")
    assert _pick(g, "PB", "name") == ("刘芬?", "tax", 4, "recent")


def test_once_and_latest_choose_the_current_canonical_enterprise_name() -> None:
    # Entity A: market wrote the name with its region twice (prefix and brackets), tax
    # without the prefix: ``once`` drops the redundant one although it is longer.
    # Entity B: the customs copy (2014) still has the former name, longer than the current
    # one; two current spellings (with and without region) follow: ``latest`` keeps the
    # current core and ``longest`` picks the full spelling among them.
    records = pa.table({
        "record_id": pa.array([0, 1, 2, 3, 4], pa.int64()),
        "source": ["market", "tax", "customs", "tax", "market"],
        "source_key": ["m1", "t1", "c2", "t2", "m2"],
        "entity_type": ["enterprise"] * 5,
        "updated_at": pa.array([D(2025, 1, 1), D(2024, 1, 1), D(2014, 1, 1), D(2025, 6, 1),
                                D(2024, 1, 1)], pa.date32()),
        "name": ["西安市和合电子（西安）有限公司", "和合电子（西安）有限公司",
                 "杭州市远立机械制造有限公司", "科程软件有限公司", "杭州市科程软件有限公司"],
        "name__core": ["和合电子", "和合电子", "远立机械制造", "科程软件", "科程软件"],
        "name__region": ["西安市", None, "杭州市", None, "杭州市"],
        "name__bracket_region": ["西安市", "西安市", None, None, None],
    })
    clusters = pa.table({"record_id": pa.array([0, 1, 2, 3, 4], pa.int64()),
                         "entity_type": ["enterprise"] * 5,
                         "entity_id": ["EA", "EA", "EB", "EB", "EB"],
                         "cluster_size": pa.array([2, 2, 3, 3, 3], pa.int64())})
    chain = ("once:name__region,name__bracket_region", "latest:name__core", "longest",
             "trust")
    g = build_golden(records, clusters, fields=["name"],
                     survivorship=SurvivorshipConfig(default=chain), trust={})
    assert _pick(g, "EA", "name") == ("和合电子（西安）有限公司", "tax", 1,
                                      "once:name__region,name__bracket_region")
    assert _pick(g, "EB", "name") == ("杭州市科程软件有限公司", "market", 4, "longest")
    # Without ``latest`` the longer former name would win.
    g = build_golden(records, clusters, fields=["name"],
                     survivorship=SurvivorshipConfig(default=("longest",)), trust={})
    assert _pick(g, "EB", "name")[0] == "杭州市远立机械制造有限公司"


def test_new_rules_are_validated() -> None:
    with pytest.raises(ValueError, match="two columns"):
        SurvivorshipConfig(default=("once:name__region",))
    with pytest.raises(ValueError, match="names no column"):
        SurvivorshipConfig(default=("latest:",))


def test_original_spelling_beats_substitutes_of_a_rare_character() -> None:
    # 玥 lies outside GB 2312: two departments that could not store it wrote 月 and yue.
    # Frequency alone would pick 邵勇月 (two records); ``original`` keeps the registry's.
    records = pa.table({
        "record_id": pa.array([0, 1, 2, 3], pa.int64()),
        "source": ["household", "tax", "courts", "tax"],
        "source_key": ["h1", "t1", "c1", "t2"],
        "entity_type": ["person"] * 4,
        "updated_at": pa.array([D(2023, 1, 1)] * 4, pa.date32()),
        "name": ["邵勇玥", "邵勇月", "邵勇月", "邵勇yue"],
    })
    clusters = pa.table({"record_id": pa.array([0, 1, 2, 3], pa.int64()),
                         "entity_type": ["person"] * 4,
                         "entity_id": ["PA", "PA", "PA", "PA"],
                         "cluster_size": pa.array([4] * 4, pa.int64())})
    def pick(chain: tuple[str, ...]) -> tuple[object, ...]:
        g = build_golden(records, clusters, fields=["name"],
                         survivorship=SurvivorshipConfig(default=chain), trust=TRUST)
        return _pick(g, "PA", "name")

    assert pick(("original", "frequent"))[::3] == ("邵勇玥", "original")
    assert pick(("frequent", "original"))[0] == "邵勇月"
    # Among substitutes only, plain Han beats pinyin mixed in.
    no_rare = records.filter(pa.array([False, True, False, True]))
    g = build_golden(no_rare, clusters.filter(pa.array([False, True, False, True])),
                     fields=["name"], survivorship=SurvivorshipConfig(default=("original",)),
                     trust=TRUST)
    assert _pick(g, "PA", "name")[0] == "邵勇月"


def test_name_without_separator_votes_for_the_dotted_spelling() -> None:
    # The trusted household left out the separator; tax kept it: one name, dotted wins.
    records = pa.table({
        "record_id": pa.array([0, 1], pa.int64()),
        "source": ["household", "tax"],
        "source_key": ["h1", "t1"],
        "entity_type": ["person"] * 2,
        "updated_at": pa.array([D(2023, 1, 1)] * 2, pa.date32()),
        "name": ["伊力哈木热合曼", "伊力哈木·热合曼"],
    })
    clusters = pa.table({"record_id": pa.array([0, 1], pa.int64()),
                         "entity_type": ["person"] * 2, "entity_id": ["PA", "PA"],
                         "cluster_size": pa.array([2, 2], pa.int64())})
    chain = ("valid", "frequent", "trust")
    g = build_golden(records, clusters, fields=["name"],
                     survivorship=SurvivorshipConfig(default=chain), trust=TRUST)
    assert _pick(g, "PA", "name") == ("伊力哈木·热合曼", "tax", 1, "unanimous")
    g = build_golden(records, clusters, fields=["name"],
                     survivorship=SurvivorshipConfig(default=chain, fold_separators=False),
                     trust=TRUST)
    assert _pick(g, "PA", "name") == ("伊力哈木热合曼", "household", 0, "trust")


def test_folds_are_order_free() -> None:
    """Tails, wildcards and separators fold the same way whatever the row order; a tail two
    different addresses end (朝阳区 in Beijing and in Changchun) folds into neither."""
    rows = [
        ("PA", "household", "北京市朝阳区花园路1号", "ok", "张伟"),
        ("PA", "tax", "长春市朝阳区花园路1号", "ok", "张伟"),
        ("PA", "courts", "朝阳区花园路1号", "ambiguous", "张?"),
        ("PA", "customs", "朝阳区花园路1号", "ambiguous", "张伟"),
        ("PB", "household", "重庆市江北区公园路76号", "ok", "伊力哈木热合曼"),
        ("PB", "tax", "江北区公园路76号", "ambiguous", "伊力哈木·热合曼"),
        ("PB", "courts", "江北区公园路76号", "ambiguous", "伊力哈木?热合曼"),
    ]
    config = SurvivorshipConfig(default=("recent", "valid", "frequent", "trust"),
                                fields={"name": ("valid", "frequent", "trust")})
    results = []
    for seed in range(6):
        order = list(range(len(rows)))
        random.Random(seed).shuffle(order)
        picked = [rows[i] for i in order]
        records = pa.table({
            "record_id": pa.array(order, pa.int64()),
            "source": [r[1] for r in picked],
            "source_key": [f"{r[0]}-{r[1]}" for r in picked],
            "entity_type": ["person"] * len(picked),
            "updated_at": pa.array([D(2020 + i, 1, 1) for i in order], pa.date32()),
            "address": [r[2] for r in picked], "address__status": [r[3] for r in picked],
            "name": [r[4] for r in picked],
            "name__status": ["replacement_char" if "?" in r[4] else "ok" for r in picked],
        })
        clusters = pa.table({"record_id": pa.array(order, pa.int64()),
                             "entity_type": ["person"] * len(picked),
                             "entity_id": [r[0] for r in picked],
                             "cluster_size": pa.array([1] * len(picked), pa.int64())})
        results.append(build_golden(records, clusters, fields=["address", "name"],
                                    survivorship=config, trust=TRUST))
    assert all(r.equals(results[0]) for r in results)
    g = results[0]
    # PA: the newest address is an ambiguous tail of two addresses: it stays as written.
    assert _pick(g, "PA", "address")[:2] == ("朝阳区花园路1号", "customs")
    assert _pick(g, "PA", "name")[0] == "张伟"
    assert _pick(g, "PB", "address")[:2] == ("重庆市江北区公园路76号", "household")
    assert _pick(g, "PB", "name")[:2] == ("伊力哈木·热合曼", "tax")


def test_fold_options_from_pipeline_data() -> None:
    from pathlib import Path

    problems: list[str] = []
    cfg = _build(SurvivorshipConfig, {"fold_separators": False, "wildcard_statuses": [],
                                      "soft_statuses": ["ambiguous", "partial"],
                                      "default": ["valid", "original", "once:a,b",
                                                  "latest:c"]},
                 "person.survivorship", problems, Path())
    assert problems == [] and cfg is not None
    assert cfg.fold_separators is False and cfg.wildcard_statuses == ()
    assert cfg.soft_statuses == ("ambiguous", "partial")
    assert cfg.default == ("valid", "original", "once:a,b", "latest:c")


def test_typo_of_the_majority_number_confirms_it() -> None:
    # PA: the newest record mistyped one digit of the number two departments hold.
    # PB: one record each, one digit apart: nothing to outvote, recency decides.
    records = pa.table({
        "record_id": pa.array([0, 1, 2, 3, 4], pa.int64()),
        "source": ["household", "tax", "courts", "household", "tax"],
        "source_key": ["h1", "t1", "c1", "h2", "t2"],
        "entity_type": ["person"] * 5,
        "updated_at": pa.array([D(2026, 1, 1), D(2025, 1, 1), D(2024, 1, 1),
                                D(2026, 1, 1), D(2025, 1, 1)], pa.date32()),
        "phone": ["18747418363", "13747418363", "13747418363", "15054643671", "15054643678"],
    })
    clusters = pa.table({"record_id": pa.array([0, 1, 2, 3, 4], pa.int64()),
                         "entity_type": ["person"] * 5,
                         "entity_id": ["PA", "PA", "PA", "PB", "PB"],
                         "cluster_size": pa.array([3, 3, 3, 2, 2], pa.int64())})
    chain = {"phone": ("recent", "valid", "frequent", "trust")}
    g = build_golden(records, clusters, fields=["phone"], trust=TRUST,
                     survivorship=SurvivorshipConfig(fields=chain, typo_fields=("phone",)))
    assert _pick(g, "PA", "phone") == ("13747418363", "tax", 1, "unanimous")
    assert _pick(g, "PB", "phone") == ("15054643671", "household", 3, "recent")
    assert build_golden(records, clusters, fields=["phone"], trust=TRUST,  # the default
                        survivorship=SurvivorshipConfig(fields=chain)).equals(g)
    g = build_golden(records, clusters, fields=["phone"], trust=TRUST,
                     survivorship=SurvivorshipConfig(fields=chain, typo_fields=()))
    assert _pick(g, "PA", "phone") == ("18747418363", "household", 0, "recent")


def test_ambiguous_address_completed_from_the_division_code() -> None:
    # EA: every department dropped province and city; the credit code's division 110112 is
    # Beijing's 通州区. EB: the division is Hangzhou's 西湖区 but the text names 城关区:
    # left as written. EC: the code failed its check: no evidence.
    records = pa.table({
        "record_id": pa.array([0, 1, 2, 3], pa.int64()),
        "source": ["market", "tax", "market", "market"],
        "source_key": ["m1", "t1", "m2", "m3"],
        "entity_type": ["enterprise"] * 4,
        "updated_at": pa.array([D(2026, 1, 1), D(2025, 1, 1), D(2026, 1, 1), D(2026, 1, 1)],
                               pa.date32()),
        "address": ["通州区红旗路144号", "通州区红旗路144号", "城关区科技路1号",
                    "通州区红旗路144号"],
        "address__status": ["ambiguous"] * 4,
        "credit_code__division": ["110112", "110112", "330106", "110112"],
        "credit_code__status": ["ok", "ok", "ok", "bad_check"],
    })
    clusters = pa.table({"record_id": pa.array([0, 1, 2, 3], pa.int64()),
                         "entity_type": ["enterprise"] * 4,
                         "entity_id": ["EA", "EA", "EB", "EC"],
                         "cluster_size": pa.array([2, 2, 1, 1], pa.int64())})
    config = SurvivorshipConfig(default=("recent", "valid"),
                                complete_divisions={"address": "credit_code__division"})
    g = build_golden(records, clusters, fields=["address"], survivorship=config, trust={})
    assert _pick(g, "EA", "address") == ("北京市通州区红旗路144号", "market", 0,
                                         "completed:credit_code__division")
    assert _pick(g, "EB", "address")[::3] == ("城关区科技路1号", "unanimous")
    assert _pick(g, "EC", "address")[::3] == ("通州区红旗路144号", "unanimous")
    plain = build_golden(records, clusters, fields=["address"], trust={},
                         survivorship=SurvivorshipConfig(default=("recent", "valid")))
    assert _pick(plain, "EA", "address")[0] == "通州区红旗路144号"


def test_golden_shows_a_spelling_a_department_wrote() -> None:
    from linkage.standardisers import standardise

    raw = pa.table({
        "record_id": pa.array([0, 1, 2], pa.int64()),
        "source": ["household", "tax", "courts"],
        "source_key": ["h1", "t1", "c1"],
        "entity_type": ["person"] * 3,
        "source_row": pa.array([1, 1, 1], pa.int64()),
        "updated_at": pa.array([D(2023, 1, 1)] * 3, pa.date32()),
        "name": ["王涛頔", "王涛頔", "沈思冬"],
        "flags": pa.array([[], [], []], pa.list_(pa.string())),
    })
    records = standardise(raw, {"name": "person_name"})
    clusters = pa.table({"record_id": pa.array([0, 1, 2], pa.int64()),
                         "entity_type": ["person"] * 3,
                         "entity_id": ["PA", "PA", "PB"],
                         "cluster_size": pa.array([2, 2, 1], pa.int64())})
    g = build_golden(records, clusters, fields=["name"],
                     survivorship=SurvivorshipConfig(), trust=TRUST)
    assert g["name"].to_pylist() == ["王涛頔", "沈思冬"]   # never 王涛𬱖 or 沉思冬
    assert g["name__canonical"].to_pylist() == ["王涛𬱖", "沈思冬"]


def test_a_stand_in_for_a_rare_character_never_becomes_the_shown_spelling() -> None:
    from linkage.standardisers import standardise

    raw = pa.table({
        "record_id": pa.array([0, 1, 2, 3, 4], pa.int64()),
        "source": ["household", "social_security", "tax", "household", "tax"],
        "source_key": ["h1", "s1", "t1", "h2", "t2"],
        "entity_type": ["person"] * 5,
        "source_row": pa.array([1, 1, 1, 2, 2], pa.int64()),
        "updated_at": pa.array([D(2023, 1, 1)] * 5, pa.date32()),
        # two systems could not store 晞; a traditional-script system wrote 張
        "name": ["张英晞", "张英?", "张英□", "張三", "张三"],
        "flags": pa.array([[]] * 5, pa.list_(pa.string())),
    })
    records = standardise(raw, {"name": "person_name"})
    clusters = pa.table({"record_id": pa.array(range(5), pa.int64()),
                         "entity_type": ["person"] * 5,
                         "entity_id": ["PA", "PA", "PA", "PB", "PB"]})
    g = build_golden(records, clusters, fields=["name"], trust=TRUST,
                     survivorship=SurvivorshipConfig(default=("valid", "frequent", "trust")))
    assert g["name"].to_pylist() == ["张英晞", "张三"]
