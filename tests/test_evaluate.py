"""evaluate: pairwise and B-cubed metrics on hand-checked clusterings, golden accuracy,
conflict recall, and a property check against brute-force pair enumeration."""

from __future__ import annotations

import itertools
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import linkage.evaluate as evaluate_module
from linkage.evaluate import (
    cluster_metrics,
    evaluate,
    evaluate_run,
    first_rows,
    majority_truth,
    record_keys,
)


def metrics(pred: str, true: str) -> dict[str, float]:
    m = cluster_metrics(pa.array(list(pred)), pa.array(list(true)))
    return {"p": m["pairwise"]["precision"], "r": m["pairwise"]["recall"],
            "f": m["pairwise"]["f1"], "bp": m["bcubed"]["precision"],
            "br": m["bcubed"]["recall"], "bf": m["bcubed"]["f1"]}


def test_hand_checked_mixed_clustering() -> None:
    # true A A A B B C, predicted {1: A A} {2: A B B} {3: C}.
    # TP pairs: (1: AA) 1 + (2: BB) 1 = 2; predicted pairs 1 + 3 = 4; true pairs 3 + 1 = 4.
    # B-cubed precision: 1, 1, 1/3, 2/3, 2/3, 1 -> 14/3 / 6 = 7/9; recall 2/3, 2/3, 1/3, 1,
    # 1, 1 -> 14/3 / 6 = 7/9.
    m = metrics("112223", "AAABBC")
    assert m["p"] == pytest.approx(0.5) and m["r"] == pytest.approx(0.5)
    assert m["f"] == pytest.approx(0.5)
    assert m["bp"] == pytest.approx(7 / 9) and m["br"] == pytest.approx(7 / 9)


def test_everything_in_one_cluster() -> None:
    # true A A B all predicted together: TP 1 of 3 predicted pairs, the 1 true pair found.
    # B-cubed precision 2/3, 2/3, 1/3 -> 5/9; recall 1.
    m = metrics("111", "AAB")
    assert m["p"] == pytest.approx(1 / 3) and m["r"] == pytest.approx(1.0)
    assert m["f"] == pytest.approx(0.5)
    assert m["bp"] == pytest.approx(5 / 9) and m["br"] == pytest.approx(1.0)
    assert m["bf"] == pytest.approx(2 * (5 / 9) / (5 / 9 + 1))


def test_all_singletons() -> None:
    # No predicted pair: precision 1 by convention, recall 0; B-cubed recall 1/2, 1/2, 1.
    m = metrics("123", "AAB")
    assert m["p"] == 1.0 and m["r"] == 0.0 and m["f"] == 0.0
    assert m["bp"] == pytest.approx(1.0) and m["br"] == pytest.approx(2 / 3)


def test_perfect_clustering_with_other_labels() -> None:
    m = metrics("xxyzzz", "AABCCC")
    assert all(v == pytest.approx(1.0) for v in m.values())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=25))
def test_pairwise_counts_match_brute_force(labels: list[tuple[int, int]]) -> None:
    pred = [str(p) for p, _ in labels]
    true = [str(t) for _, t in labels]
    m = cluster_metrics(pa.array(pred), pa.array(true))["pairwise"]
    pairs = list(itertools.combinations(range(len(labels)), 2))
    same_pred = {(i, j) for i, j in pairs if pred[i] == pred[j]}
    same_true = {(i, j) for i, j in pairs if true[i] == true[j]}
    assert m["true_positives"] == len(same_pred & same_true)
    assert m["predicted_pairs"] == len(same_pred)
    assert m["true_pairs"] == len(same_true)
    # B-cubed precision by its definition, record by record.
    n = len(labels)
    bp = sum(sum(1 for j in range(n) if pred[j] == pred[i] and true[j] == true[i])
             / sum(1 for j in range(n) if pred[j] == pred[i]) for i in range(n)) / n
    assert cluster_metrics(pa.array(pred), pa.array(true))["bcubed"]["precision"] == \
        pytest.approx(bp)


def test_majority_truth_breaks_ties_by_smallest_id() -> None:
    run = pa.table({"entity_id": ["e1", "e1", "e1", "e2", "e2"],
                    "true_entity_id": ["P2", "P1", "P2", "P4", "P3"]})
    assert majority_truth(run).to_pylist() == [
        {"entity_id": "e1", "true_entity_id": "P2"},
        {"entity_id": "e2", "true_entity_id": "P3"},
    ]


@pytest.fixture
def truth_dir(tmp_path: Path) -> Path:
    truth = tmp_path / "truth"
    truth.mkdir()
    pq.write_table(pa.table({
        "source": ["household", "tax", "tax", "household"],
        "entity_type": ["person"] * 4,
        "source_key": ["H1", "T1", "T2", "H2"],
        "true_entity_id": ["P1", "P1", "P2", "P2"],
    }), truth / "records.parquet")
    pq.write_table(pa.table({
        "entity_id": ["P1", "P2"],
        "name": ["张伟", "李娜"],
        "phone": ["13800000000", None],
        "capital": ["100", "50"],
    }), truth / "entities_person.parquet")
    pq.write_table(pa.table({
        "source": ["tax", "tax"], "entity_type": ["person", "person"],
        "source_key": ["T1", "T2"], "field": ["name", "phone"],
        "kind": ["char_error", "stale"], "true_value": ["张伟", "139"],
        "written_value": ["张玮", "138"],
    }), truth / "errors.parquet")
    return truth


def _records() -> pa.Table:
    # H1+T1 linked (right), T2 and H2 left apart (a missed link).
    return pa.table({"source": ["household", "tax", "tax", "household"],
                     "entity_type": ["person"] * 4,
                     "source_key": ["H1", "T1", "T2", "H2"],
                     "entity_id": ["a", "a", "b", "c"],
                     "record_id": pa.array([0, 1, 2, 3], pa.int64())})


def _golden() -> pa.Table:
    # a -> P1 (name right, phone right, capital "100.0" equals "100"); b -> P2 (name wrong,
    # phone missing like the truth); c -> P2 as well (name right).
    return pa.table({"entity_type": ["person"] * 3, "entity_id": ["a", "b", "c"],
                     "name": ["张伟", "李那", "李娜"], "phone": ["13800000000", None, "1"],
                     "capital": ["100.0", "50", "50"]})


def _conflicts() -> pa.Table:
    cand = pa.struct([("value", pa.string()), ("raw_value", pa.string()),
                      ("source", pa.string()), ("source_key", pa.string()),
                      ("record_id", pa.int64()), ("updated_at", pa.date32())])
    return pa.table({
        "entity_type": ["person"], "entity_id": ["a"], "field": ["name"],
        "kind": ["value_mismatch"], "severity": ["warning"], "golden_value": ["张伟"],
        "candidates": pa.array([[
            {"value": "张伟", "raw_value": "张伟", "source": "household", "source_key": "H1",
             "record_id": 0, "updated_at": None},
            {"value": "张玮", "raw_value": "张玮", "source": "tax", "source_key": "T1",
             "record_id": 1, "updated_at": None}]], pa.list_(cand)),
    })


def test_evaluate_with_golden_and_conflicts(truth_dir: Path) -> None:
    result = evaluate(_records(), truth_dir, golden={"person": _golden()},
                      conflicts=_conflicts())
    assert result["records_matched"] == 4
    person = result["person"]
    assert person["pairwise"]["precision"] == 1.0
    assert person["pairwise"]["recall"] == pytest.approx(0.5)
    assert person["bcubed"]["recall"] == pytest.approx(0.75)
    golden = person["golden"]
    assert golden["name"] == {"accuracy": pytest.approx(2 / 3), "entities": 3}
    assert golden["phone"]["accuracy"] == pytest.approx(2 / 3)  # a right, b both null, c wrong
    assert golden["capital"]["accuracy"] == pytest.approx(1.0)
    conflicts = result["conflicts"]
    assert conflicts["by_kind"]["char_error"] == {"errors": 1, "detected": 1, "recall": 1.0}
    assert conflicts["by_kind"]["stale"] == {"errors": 1, "detected": 0, "recall": 0.0,
                                             "right_kind": 0, "recall_kind": 0.0}
    assert conflicts["by_field_kind"]["name:char_error"]["recall"] == 1.0


def test_evaluate_run_reads_a_run_directory(truth_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    pq.write_table(_records(), run / "records.parquet")
    pq.write_table(_golden(), run / "golden_person.parquet")
    pq.write_table(_conflicts(), run / "conflicts.parquet")
    result = evaluate_run(truth_dir, run)
    assert result["person"]["pairwise"]["true_positives"] == 1
    assert result["person"]["golden"]["name"]["entities"] == 3
    assert result["conflicts"]["by_kind"]["char_error"]["detected"] == 1


def test_records_missing_a_column_are_refused(truth_dir: Path) -> None:
    from linkage.errors import SchemaError

    with pytest.raises(SchemaError, match="entity_id"):
        evaluate(_records().drop_columns(["entity_id"]), truth_dir)


def test_golden_accuracy_over_observable_entities(truth_dir: Path) -> None:
    """With the generator's manifest beside the truth, fields are also scored over the
    entities some record could show: here only the household holds phones, and P2's
    household record lost its phone, so only P1 (entity a) counts."""
    import json

    (truth_dir.parent / "manifest.json").write_text(json.dumps({"files": [
        {"department": "household", "entity_type": "person",
         "columns": {"name": "姓名", "phone": "电话"}},
        {"department": "tax", "entity_type": "person", "columns": {"name": "姓名"}},
    ]}), encoding="utf-8")
    pq.write_table(pa.table({
        "source": ["household"], "entity_type": ["person"], "source_key": ["H2"],
        "field": ["phone"], "kind": ["missing"], "true_value": [None],
        "written_value": [None]}, schema=pa.schema(
            [(n, pa.string()) for n in ["source", "entity_type", "source_key", "field", "kind",
                                        "true_value", "written_value"]])),
        truth_dir / "errors.parquet")
    golden = evaluate(_records(), truth_dir, golden={"person": _golden()})["person"]["golden"]
    assert golden["phone"]["accuracy"] == pytest.approx(2 / 3)
    assert golden["phone"]["entities_observable"] == 1
    assert golden["phone"]["accuracy_observable"] == 1.0
    assert golden["name"]["entities_observable"] == 3
    assert "accuracy_observable" not in golden["capital"]  # no department holds it


def test_standardisation_repair_per_kind(truth_dir: Path) -> None:
    """T1's name error was undone by standardisation, H2's full-width ID was too, T2's ID
    typo was not; the stale phone is not a repair question."""
    pq.write_table(pa.table({
        "source": ["tax", "tax", "household", "tax"],
        "entity_type": ["person"] * 4,
        "source_key": ["T1", "T2", "H2", "T2"],
        "field": ["name", "id_number", "id_number", "phone"],
        "kind": ["traditional", "typo", "fullwidth", "stale"],
        "true_value": ["张伟", "11010519491231002X", "11010519491231002X", "139"],
        "written_value": ["張偉", "11010519491231003X", "１１０１０５１９４９１２３１００２Ｘ",
                          "138"],
    }), truth_dir / "errors.parquet")
    records = _records().append_column("name", pa.array(["张伟", "张伟", None, "李娜"]))
    records = records.append_column("id_number", pa.array(
        [None, None, "11010519491231003X", "11010519491231002X"]))
    result = evaluate(records, truth_dir)["standardisation"]
    assert result["by_kind"] == {
        "fullwidth": {"errors": 1, "repaired": 1, "rate": 1.0},
        "traditional": {"errors": 1, "repaired": 1, "rate": 1.0},
        "typo": {"errors": 1, "repaired": 0, "rate": 0.0},
    }
    assert result["by_field_kind"]["id_number:typo"]["errors"] == 1


def test_reachable_ceiling_and_detectable_recall_with_kind(truth_dir: Path) -> None:
    """T1's stale phone is listed by a stale conflict and detectable (H1 of the same person
    holds another phone); T2's is not listed and not detectable (P2's other record has no
    phone). Entity b's golden name is wrong but no record of b holds the true name."""
    pq.write_table(pa.table({
        "source": ["tax", "tax"], "entity_type": ["person", "person"],
        "source_key": ["T1", "T2"], "field": ["phone", "phone"],
        "kind": ["stale", "stale"], "true_value": ["13800000000", None],
        "written_value": ["13700000000", "139"]}), truth_dir / "errors.parquet")
    records = _records().append_column("name", pa.array(["张伟", "张玮", "李那", "李娜"]))
    records = records.append_column("phone", pa.array(["13800000000", "13700000000", "139",
                                                       None]))
    conflicts = _conflicts()
    conflicts = conflicts.set_column(2, "field", pa.array(["phone"]))
    conflicts = conflicts.set_column(3, "kind", pa.array(["stale"]))
    result = evaluate(records, truth_dir, golden={"person": _golden()}, conflicts=conflicts)
    stale = result["conflicts"]["by_kind"]["stale"]
    assert stale == {"errors": 2, "detected": 1, "recall": 0.5, "right_kind": 1,
                     "recall_kind": 0.5, "detectable": 1, "recall_detectable": 1.0,
                     "missed_detectable_unlinked": 0, "recall_detectable_linked": 1.0}
    assert result["conflicts"]["by_field_kind"]["phone:stale"]["detectable"] == 1
    golden = result["person"]["golden"]
    assert golden["name"]["reachable"] == pytest.approx(2 / 3)
    assert golden["name"]["accuracy_reachable"] == 1.0
    assert golden["phone"]["reachable"] == 1.0  # P2 has no true phone: nothing to reach
    assert golden["phone"]["accuracy_reachable"] == pytest.approx(2 / 3)


def test_wrong_kind_is_not_recall_kind(truth_dir: Path) -> None:
    """A stale value listed only by a value_conflict row is detected but not of its kind."""
    pq.write_table(pa.table({
        "source": ["tax"], "entity_type": ["person"], "source_key": ["T1"],
        "field": ["name"], "kind": ["stale"], "true_value": ["张伟"],
        "written_value": ["张玮"]}), truth_dir / "errors.parquet")
    conflicts = _conflicts().set_column(3, "kind", pa.array(["value_conflict"]))
    stale = evaluate(_records(), truth_dir, conflicts=conflicts)["conflicts"]["by_kind"]["stale"]
    assert stale["recall"] == 1.0 and stale["recall_kind"] == 0.0
    assert "detectable" not in stale  # no field values given: detectability unknown


def test_bench_golden_runs_small(tmp_path: Path) -> None:
    import re
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, str(root / "benchmarks" / "bench_golden.py"),
                          "--persons", "300", "--seed", "5", "--cache", str(tmp_path)],
                         cwd=root, capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    last = out.stdout.strip().splitlines()[-1]
    number = r"(?:[0-9.]+|na)"
    assert re.fullmatch(
        rf"golden_min={number} golden_min_observable={number} stale_recall={number} "
        rf"conflict_recall={number} stale_recall_detectable={number} "
        rf"conflict_recall_detectable={number}", last), last


def test_prefix_and_wildcard_spellings_are_not_detectable_differences(truth_dir: Path) -> None:
    """P1's stale address is held by both of its records, one without the province: nothing
    disagrees. P2's stale name "王?" cannot be "李娜" (H2's), so it is detectable; no
    stale conflict lists it."""
    pq.write_table(pa.table({
        "source": ["tax", "tax"], "entity_type": ["person", "person"],
        "source_key": ["T1", "T2"], "field": ["address", "name"],
        "kind": ["stale", "stale"], "true_value": ["x", "李娜"],
        "written_value": ["江北区公园路76号", "王?"]}), truth_dir / "errors.parquet")
    records = _records().append_column("address", pa.array(
        ["重庆市江北区公园路76号", "江北区公园路76号", None, None]))
    records = records.append_column("name", pa.array(["张伟", "张伟", "王?", "李娜"]))
    result = evaluate(records, truth_dir, conflicts=_conflicts())["conflicts"]
    assert result["by_field_kind"]["address:stale"]["detectable"] == 0
    name = result["by_field_kind"]["name:stale"]
    assert name["detectable"] == 1 and name["recall_detectable"] == 0.0
    # T2 (entity b) and H2 (entity c): the linkage split P2, so the miss is counted as the
    # linkage's.
    assert name["missed_detectable_unlinked"] == 1


def test_clusters_holding_two_valid_id_numbers_are_counted(truth_dir: Path) -> None:
    # Entity a holds two different valid IDs (a false merge); entity c's second ID failed
    # its check and does not count; b has one.
    records = _records().append_column("id_number", pa.array(
        ["11010519491231002X", "440524188001010014", "440524188001010014",
         "360426199101010071"]))
    records = records.append_column("id_number__status", pa.array(["ok", "ok_upgraded_15",
                                                                   "ok", "ok"]))
    assert evaluate(records, truth_dir)["person"]["clusters_with_two_valid_id_numbers"] == 1
    records = records.set_column(records.column_names.index("id_number__status"),
                                 "id_number__status",
                                 pa.array(["ok", "bad_check", "ok", "ok"]))
    assert evaluate(records, truth_dir)["person"]["clusters_with_two_valid_id_numbers"] == 0


def test_detectable_miss_outside_its_entity_is_the_linkage(truth_dir: Path) -> None:
    """P2 has T2 (entity b) and H2, H3 (entity c): T2's stale name differs from theirs but
    no conflict can list it, since the linkage left it apart. P1 (a) was kept whole."""
    pq.write_table(pa.table({
        "source": ["household", "tax", "tax", "household", "household"],
        "entity_type": ["person"] * 5,
        "source_key": ["H1", "T1", "T2", "H2", "H3"],
        "true_entity_id": ["P1", "P1", "P2", "P2", "P2"],
    }), truth_dir / "records.parquet")
    pq.write_table(pa.table({
        "source": ["tax"], "entity_type": ["person"], "source_key": ["T2"],
        "field": ["name"], "kind": ["stale"], "true_value": ["李娜"],
        "written_value": ["李二"]}), truth_dir / "errors.parquet")
    records = pa.table({"source": ["household", "tax", "tax", "household", "household"],
                        "entity_type": ["person"] * 5,
                        "source_key": ["H1", "T1", "T2", "H2", "H3"],
                        "entity_id": ["a", "a", "b", "c", "c"],
                        "record_id": pa.array([0, 1, 2, 3, 4], pa.int64()),
                        "name": ["张伟", "张伟", "李二", "李娜", "李娜"]})
    stale = evaluate(records, truth_dir, conflicts=_conflicts())["conflicts"]["by_kind"]["stale"]
    assert stale["detectable"] == 1 and stale["recall_detectable"] == 0.0
    assert stale["missed_detectable_unlinked"] == 1
    assert stale["recall_detectable_linked"] is None


def test_conflict_members_by_record_id_or_by_key_agree(
        truth_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Candidates are matched to errors by record id when the records carry one, else by
    (source, entity type, key): both give the same recall, also in slices of conflicts
    and with a department key held twice (the first record holding it names it)."""
    pq.write_table(pa.table({
        "source": ["tax", "tax", "household"], "entity_type": ["person"] * 3,
        "source_key": ["T1", "T2", "H2"], "field": ["name", "phone", "name"],
        "kind": ["char_error", "stale", "wrong_value"], "true_value": ["张伟", "139", "李娜"],
        "written_value": ["张玮", "138", "李那"]}), truth_dir / "errors.parquet")
    records = pa.concat_tables([_records(), pa.table({
        "source": ["tax"], "entity_type": ["person"], "source_key": ["T1"],
        "entity_id": ["a"], "record_id": pa.array([4], pa.int64())})])
    conflicts = pa.concat_tables([_conflicts(), _conflicts()])
    listed = conflicts.column("candidates").combine_chunks()
    second = pa.array([[{**c, "record_id": 4 if c["record_id"] == 1 else c["record_id"]}
                        for c in listed[0].as_py()]], listed.type)
    conflicts = conflicts.set_column(6, "candidates", pa.concat_arrays([listed[:1], second]))
    conflicts = conflicts.set_column(3, "kind", pa.array(["value_mismatch", "value_conflict"]))
    by_id = evaluate(records, truth_dir, conflicts=conflicts)["conflicts"]
    by_key = evaluate(records.drop_columns(["record_id"]), truth_dir,
                      conflicts=conflicts)["conflicts"]
    assert by_id == by_key
    assert by_id["by_kind"]["char_error"]["detected"] == 1
    monkeypatch.setattr("linkage.evaluate.CONFLICT_SLICE", 1)
    assert evaluate(records, truth_dir, conflicts=conflicts)["conflicts"] == by_id


def test_first_rows_finds_each_key_first_record_a_slice_at_a_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    records = pa.table({"source": ["a", "a", "b", "a", None, "a"],
                        "entity_type": ["person"] * 6,
                        "source_key": ["1", "2", "1", "1", "3", None]})
    errors = pa.table({"source": ["a", "b", "a", "c", None, "a"],
                       "entity_type": ["person"] * 6,
                       "source_key": ["1", "1", "2", "1", "3", None]})
    monkeypatch.setattr(evaluate_module, "KEY_SLICE", 2)
    keys = record_keys(errors)
    found = first_rows(records, keys)
    # a/1 first at row 0 (again at 3), b/1 at 2, a/2 at 1; c/1 is no record; a null part
    # names no record
    assert found.to_pylist() == [0, 2, 1, None, None, None]
    assert found.equals(pc.index_in(keys, value_set=record_keys(records), skip_nulls=True))
