"""Departments' real file layouts in, a consistency account out (issue 16), on the generator.

    python benchmarks/bench_departments.py --persons 20000

Generates ``--persons`` persons and a quarter as many enterprises, reshapes the files into
the departments' own layouts (:mod:`linkage.synth.departmental`: a four-column address, capital
in 元, status words per department, tax registration numbers, a mixed courts file read
twice through ``where``, a GBK customs snapshot), runs the whole pipeline and prints:

- kind-matched recall on detectable errors, persons and enterprises, and per error kind
  (phone typos, name homophones, enterprise abbreviations, ...): an injected error counts
  when a conflict of the kind that says what happened lists the erroneous record, over the
  errors another record of the entity disagrees with;
- golden registered enterprise name accuracy; golden person name accuracy, overall and
  over the people whose true name holds a character outside GB 2312;
- legal-representative edge precision (an edge is right when its person entity is the
  true person holding the enterprise's true current or a former legal_rep_id: a golden
  record holding a former representative is survivorship's question, not the edge's);
- records read vs rows in the files (the mixed courts file must not be read twice);
- conflicts and flags raised by a field the record's department does not carry (must be 0).

Last line (the contract)::

    kind_recall_person=<r> kind_recall_enterprise=<r> golden_name_enterprise=<a>
    golden_name_person=<a> golden_name_rare=<a> legal_rep_precision=<p> employer_code=<a>
    uncarried=<n> via_former_name=<r> via_reg_number=<r>

- golden employer credit code accuracy, over the persons where some record holds a code
  for the employer (credit code, organisation code or tax number);
- links that only a second column can make (``truth/cross_links.parquet``): a courts record
  under a person's former name (公安's 曾用名) without ID number or phone, a customs record
  holding the 注册号 (市场监管's own column) instead of a code, under the former name where
  the enterprise has one: the share of those records placed with another record of their
  true entity (``via_former_name``, ``via_reg_number``; ``only``: no identifier or name in
  common with another record of the entity).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from linkage.config import load_pipeline
from linkage.evaluate import EXPECTED_KIND, cluster_metrics, conflict_recall, majority_truth
from linkage.pipeline import Pipeline, PipelineResult
from linkage.synth.departmental import reshape_departmental
from linkage.synth.generate import generate

_KEY = ["source", "entity_type", "source_key"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        generate(persons=args.persons, enterprises=max(args.persons // 4, 1), seed=args.seed,
                 out=out)
        reshape_departmental(out, seed=args.seed)
        config = load_pipeline(out / "pipeline.toml")
        start = time.perf_counter()
        result = Pipeline(config).run()
        wall = time.perf_counter() - start
        truth = out / "truth"
        run = _run_table(result, truth)
        kinds = {t: _kind_recall(run, result, truth, t) for t in ("person", "enterprise")}
        golden = _golden_names(run, result, truth)
        precision, n_edges = _legal_rep_precision(run, result, truth)
        uncarried = _uncarried(result)
        employer, n_employer = _employer_accuracy(run, result, truth)
        cross = _cross_recall(run, truth)
        pairwise = {t: cluster_metrics(part["entity_id"], part["true_entity_id"])["pairwise"]
                    for t in ("person", "enterprise")
                    for part in [run.filter(pc.equal(run["entity_type"], t))]}
        rows_in_files = pq.read_table(truth / "records.parquet").num_rows
    print(f"records read {result.records.num_rows} (rows in the files {rows_in_files}); "
          f"pipeline {wall:.1f} s")
    for etype, (total, per_kind) in kinds.items():
        print(f"{etype}: kind-matched recall on detectable errors {total:.4f}")
        for kind, (rate, n) in sorted(per_kind.items()):
            print(f"    {kind:<22} {rate:.4f}  ({n} detectable)")
    print(f"golden registered enterprise name {golden['enterprise']:.4f}; person name "
          f"{golden['person']:.4f}; rare-character names {golden['rare']:.4f} "
          f"({golden['n_rare']} people); rare-character names where some record wrote the "
          f"true name {golden['rare_reachable']:.4f} ({golden['n_rare_reachable']} people)")
    for etype in ("person", "enterprise"):
        name = ((result.metrics or {}).get(etype, {}).get("golden") or {}).get("name") or {}
        if name.get("accuracy_reachable") is not None:
            print(f"golden {etype} name where some record holds the true name: "
                  f"{name['accuracy_reachable']:.4f} ({name['entities_reachable']} entities)")
    print(f"legal-rep edges {n_edges}, precision {precision:.4f}")
    print(f"golden employer credit code where some record holds a code: {employer:.4f} "
          f"({n_employer} persons)")
    for etype, m in pairwise.items():
        print(f"{etype}: pairwise precision {m['precision']:.4f} recall {m['recall']:.4f}")
    for via, (rate, n, rate_only, n_only) in cross.items():
        print(f"records linked only through {via}: {rate:.4f} ({n} records); with no "
              f"identifier or name in common {rate_only:.4f} ({n_only} records)")
    print(f"conflicts and flags from uncarried fields: {uncarried}")
    print(f"kind_recall_person={kinds['person'][0]:.4f} "
          f"kind_recall_enterprise={kinds['enterprise'][0]:.4f} "
          f"golden_name_enterprise={golden['enterprise']:.4f} "
          f"golden_name_person={golden['person']:.4f} golden_name_rare={golden['rare']:.4f} "
          f"legal_rep_precision={precision:.4f} employer_code={employer:.4f} "
          f"uncarried={uncarried} "
          f"via_former_name={cross.get('former_name', (float('nan'),))[0]:.4f} "
          f"via_reg_number={cross.get('reg_number', (float('nan'),))[0]:.4f}")
    return 0


def _run_table(result: PipelineResult, truth: Path) -> pa.Table:
    """Every run record with its row in ``result.records`` and its true entity."""
    records = result.records
    run = records.select([*_KEY, "entity_id"])
    run = run.cast(pa.schema([(n, pa.string()) for n in run.column_names]))
    run = run.append_column("r_row", pa.array(np.arange(run.num_rows, dtype=np.int64)))
    t = pq.read_table(truth / "records.parquet", columns=[*_KEY, "true_entity_id"])
    return run.join(t, keys=_KEY, join_type="inner").sort_by("r_row")


def _kind_recall(run: pa.Table, result: PipelineResult, truth: Path,
                 etype: str) -> tuple[float, dict[str, tuple[float, int]]]:
    part = run.filter(pc.equal(run["entity_type"], etype))
    conflicts = result.conflicts.filter(pc.equal(result.conflicts["entity_type"], etype))
    errors = pq.read_table(truth / "errors.parquet")
    found = conflict_recall(part, conflicts, errors, records=result.records)
    per_kind: dict[str, tuple[float, int]] = {}
    right = total = 0.0
    for label, row in found["by_field_kind"].items():
        kind = label.rsplit(":", 1)[-1]
        n = int(row.get("detectable") or 0)
        if kind not in EXPECTED_KIND or not n:
            continue
        per_kind[label] = (float(row["recall_detectable"]), n)
        right += float(row["recall_detectable"]) * n
        total += n
    return (right / total if total else float("nan")), per_kind


def _mapped(run: pa.Table, golden: pa.Table, entities: pa.Table) -> tuple[pa.Array, pa.Array]:
    """Rows of ``golden`` and of ``entities`` (truth) paired by majority truth."""
    mapping = majority_truth(run)
    left = pa.table({"entity_id": golden["entity_id"],
                     "g": pa.array(np.arange(golden.num_rows, dtype=np.int64))})
    right = pa.table({"true_entity_id": entities["entity_id"],
                      "t": pa.array(np.arange(entities.num_rows, dtype=np.int64))})
    both = left.join(mapping, "entity_id").join(right, "true_entity_id").sort_by("g")
    return both["g"], both["t"]


def _golden_names(run: pa.Table, result: PipelineResult, truth: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for etype in ("person", "enterprise"):
        golden = result.golden[etype]
        entities = pq.read_table(truth / f"entities_{etype}.parquet")
        g, t = _mapped(run.filter(pc.equal(run["entity_type"], etype)), golden, entities)
        chosen = pc.utf8_normalize(pc.fill_null(golden["name"].take(g), ""), "NFKC")
        true = pc.utf8_normalize(pc.fill_null(entities["name"].take(t), ""), "NFKC")
        same = np.asarray(pc.equal(chosen, true).to_numpy(zero_copy_only=False), dtype=bool)
        out[etype] = float(same.mean()) if len(same) else float("nan")
        if etype == "person":
            rare = np.array([_rare(v) for v in true.to_pylist()], dtype=bool)
            out["rare"] = float(same[rare].mean()) if rare.any() else float("nan")
            out["n_rare"] = int(rare.sum())
            # reachable: some record of the entity wrote the true name
            recs = result.records.filter(pc.equal(result.records["entity_type"], "person"))
            held = pa.table({"entity_id": recs["entity_id"], "name": pc.utf8_normalize(
                pc.fill_null(recs["name__written"], ""), "NFKC")})
            wanted = pa.table({"entity_id": golden["entity_id"].take(g), "name": true,
                               "i": pa.array(np.arange(len(true)), pa.int64())})
            hit = wanted.join(held, ["entity_id", "name"], join_type="inner")["i"]
            reach = np.zeros(len(true), dtype=bool)
            reach[np.asarray(hit.to_numpy(), dtype=np.int64)] = True
            both = rare & reach
            out["rare_reachable"] = float(same[both].mean()) if both.any() else float("nan")
            out["n_rare_reachable"] = int(both.sum())
    return out


def _rare(name: str) -> bool:
    for ch in name:
        try:
            ch.encode("gb2312")
        except UnicodeEncodeError:
            if ch != "·":
                return True
    return False


def _legal_rep_precision(run: pa.Table, result: PipelineResult, truth: Path) -> tuple[float, int]:
    edges = result.legal_reps
    if edges is None or edges.num_rows == 0:
        return float("nan"), 0
    # who is or was each true enterprise's legal representative (a golden record may hold a
    # former one: that is survivorship's question, the edge is right if the person is them)
    firms = pq.read_table(truth / "entities_enterprise.parquet",
                          columns=["entity_id", "legal_rep_id"])
    changes = pq.read_table(truth / "changes.parquet")
    former = changes.filter(pc.equal(changes["field"], "legal_rep_id"))
    firms = pa.concat_tables([firms, pa.table({"entity_id": former["entity_id"],
                                               "legal_rep_id": former["old_value"]})])
    firms = firms.group_by(["entity_id", "legal_rep_id"]).aggregate([])
    people = pq.read_table(truth / "entities_person.parquet", columns=["entity_id", "id_number"])
    firm_truth = majority_truth(run.filter(pc.equal(run["entity_type"], "enterprise")))
    person_truth = majority_truth(run.filter(pc.equal(run["entity_type"], "person")))
    e = edges.select(["enterprise_id", "person_id"])
    e = e.join(firm_truth.rename_columns(["enterprise_id", "true_firm"]), "enterprise_id")
    e = e.join(person_truth.rename_columns(["person_id", "true_person"]), "person_id")
    e = e.join(firms.rename_columns(["true_firm", "legal_rep_id"]), "true_firm")
    e = e.join(people.rename_columns(["rep_person", "legal_rep_id"]), "legal_rep_id",
               join_type="left outer")
    right = pc.fill_null(pc.equal(e["true_person"], e["rep_person"]), False)
    e = e.append_column("right", right).group_by(["enterprise_id", "person_id"]).aggregate(
        [("right", "any")])
    hits = int(pc.sum(pc.cast(e["right_any"], pa.int64())).as_py() or 0)
    return hits / edges.num_rows, edges.num_rows


def _employer_accuracy(run: pa.Table, result: PipelineResult,
                       truth: Path) -> tuple[float, int]:
    """Share of person entities whose golden employer_code is the true employer's credit
    code, over those where some record holds a code for the employer (in any form)."""
    path = truth / "employers.parquet"
    golden = result.golden["person"]
    if not path.exists() or "employer_code" not in golden.column_names:
        return float("nan"), 0
    employers = pq.read_table(path)
    entities = pa.table({"entity_id": employers["person_id"],
                         "code": employers["credit_code"]})
    records = result.records
    persons = records.filter(pc.equal(records["entity_type"], "person"))
    raw = pc.utf8_trim_whitespace(pc.fill_null(persons["employer_code__raw"], ""))
    holding = pc.unique(persons.filter(pc.not_equal(raw, ""))["entity_id"])
    g, t = _mapped(run.filter(pc.equal(run["entity_type"], "person")), golden, entities)
    ids = golden["entity_id"].take(g)
    mask = np.asarray(pc.is_in(ids, value_set=holding).to_numpy(zero_copy_only=False),
                      dtype=bool)
    same = np.asarray(pc.fill_null(pc.equal(golden["employer_code"].take(g),
                                            entities["code"].take(t)), False)
                      .to_numpy(zero_copy_only=False), dtype=bool)
    return (float(same[mask].mean()) if mask.any() else float("nan")), int(mask.sum())


def _cross_recall(run: pa.Table, truth: Path) -> dict[str, tuple[float, int, float, int]]:
    """Per ``via`` of truth/cross_links.parquet: the share of its records whose run entity
    holds another record of their true entity, overall and where ``only``."""
    path = truth / "cross_links.parquet"
    out: dict[str, tuple[float, int, float, int]] = {}
    if not path.exists():
        return out
    links = pq.read_table(path)
    # per (run entity, true entity): how many records
    sizes = run.group_by(["entity_id", "true_entity_id"]).aggregate([("r_row", "count")])
    mine = links.join(run.select([*_KEY, "entity_id"]), _KEY)
    mine = mine.join(sizes, ["entity_id", "true_entity_id"])
    for via in ("former_name", "reg_number"):
        part = mine.filter(pc.equal(mine["via"], via))
        linked = np.asarray(part["r_row_count"].to_numpy(), dtype=np.int64) > 1
        only = np.asarray(part["only"].to_numpy(zero_copy_only=False), dtype=bool)
        out[via] = (float(linked.mean()) if len(linked) else float("nan"), len(linked),
                    float(linked[only].mean()) if only.any() else float("nan"),
                    int(only.sum()))
    return out


def _uncarried(result: PipelineResult) -> int:
    """Missing conflicts whose every lacking record is of a department whose file does not
    map the field, and missing flags on such records."""
    carried = {(s.department, s.entity_type): set(s.columns) for s in result.config.sources}
    count = 0
    missing = result.conflicts.filter(pc.equal(result.conflicts["kind"], "missing"))
    for row in missing.select(["entity_type", "field", "candidates"]).to_pylist():
        lacking = [c["source"] for c in row["candidates"] if c["value"] is None]
        if lacking and all(row["field"] not in carried.get((s, row["entity_type"]), set())
                           for s in lacking):
            count += 1  # only departments that never collect the field lack it
    records = result.records.select(["source", "entity_type", "flags"]).to_pylist()
    for rec in records:
        mine = carried.get((rec["source"], rec["entity_type"]), set())
        count += sum(1 for f in rec["flags"] or []
                     if f.endswith(":missing") and f.split(":", 1)[0] not in mine)
    return count


if __name__ == "__main__":
    raise SystemExit(main())
