"""Cross-domain benchmark: linkage's default fit against Splink 5 (DuckDB) on data unlike
the Chinese records it was built for (``linkage.synth.crossdomain``: an English-style
person register, two restaurant guides, two bibliographic catalogues).

    python benchmarks/bench_crossdomain.py --entities 5000

Both tools get the same normalised columns (lower case, punctuation folded, phones as
digits) and the same blocking rules, so the same candidate pairs; each set is linked
under three reasonable blockings. linkage runs block -> compare -> ``FellegiSunter`` with
its defaults; Splink is trained as its documentation says (prior from deterministic
rules with recall 0.7, u from random sampling, EM on two blocking rules). Both link at
``--threshold`` (linkage's default ``link_threshold``). Prints per set and blocking a
line of figures, then per set::

    set=<name> linkage_f1=<f1> linkage_best_f1=<f1> splink_f1=<f1>
        splink_best_f1=<f1> spread=<F1 max - min over the blockings>

(figures of the first blocking; ``spread`` is linkage's), and as the last line the worst
case over the sets: ``min_margin`` (linkage_f1 - splink_f1), ``max_gap`` (linkage_best_f1 -
linkage_f1) and ``max_spread``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linkage.match.block import BlockingPass, block
from linkage.match.compare import Comparison, compare
from linkage.match.score import FellegiSunter, ScoringConfig
from linkage.synth.crossdomain import crossdomain

Ids = npt.NDArray[np.int64]
Keys = tuple[str, ...]


@dataclass(frozen=True)
class Spec:
    """One set: linkage's comparisons, Splink's, three blockings and Splink's training."""

    comparisons: list[dict[str, Any]]
    splink: list[tuple[str, str, dict[str, Any]]]  # (comparison_library name, column, kw)
    blockings: list[list[Keys]]
    deterministic: list[Keys]
    em_rules: list[Keys]
    digits: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()
    derived: dict[str, tuple[str, str]] = field(default_factory=dict)


def _jw(name: str, thresholds: tuple[float, ...] = (0.8, 0.9), **kw: Any) -> dict[str, Any]:
    return {"name": name, "field": name, "method": "jaro_winkler", "thresholds": thresholds,
            **kw}


def _exact(name: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "field": name, "method": "exact", **kw}


SPECS: dict[str, Spec] = {
    "persons": Spec(
        comparisons=[
            _jw("given_name", (0.7, 0.88, 0.94)), _jw("surname", (0.7, 0.88, 0.94)),
            {"name": "date_of_birth", "field": "date_of_birth", "method": "date"},
            _exact("street_number"), _jw("street"), _jw("city"),
            {"name": "postcode", "field": "postcode", "method": "levenshtein",
             "thresholds": (0.75,)},
            {"name": "phone", "field": "phone", "method": "levenshtein", "thresholds": (0.9,)},
        ],
        splink=[("NameComparison", "given_name", {}), ("NameComparison", "surname", {}),
                ("DateOfBirthComparison", "date_of_birth", {"input_is_string": True,
                                                            "invalid_dates_as_null": True}),
                ("ExactMatch", "street_number", {}),
                ("JaroWinklerAtThresholds", "street", {"score_threshold_or_thresholds":
                                                       [0.9, 0.8]}),
                ("JaroWinklerAtThresholds", "city", {"score_threshold_or_thresholds":
                                                     [0.9, 0.8]}),
                ("LevenshteinAtThresholds", "postcode", {"distance_threshold_or_thresholds":
                                                         [1]}),
                ("LevenshteinAtThresholds", "phone", {"distance_threshold_or_thresholds":
                                                      [1]})],
        blockings=[
            [("surname",), ("date_of_birth",), ("phone",), ("postcode", "street_number")],
            [("surname",), ("given_name", "date_of_birth"), ("phone",), ("street",)],
            [("given_name", "surname"), ("date_of_birth",), ("phone",),
             ("street", "street_number")],
        ],
        deterministic=[("given_name", "surname", "date_of_birth"), ("phone", "surname")],
        em_rules=[("given_name", "surname"), ("date_of_birth",)],
        digits=("phone", "postcode", "street_number"), keep=("date_of_birth",),
    ),
    "restaurants": Spec(
        comparisons=[
            _jw("name", (0.75, 0.88, 0.95)), _jw("address", (0.8, 0.9)), _jw("city", (0.85,)),
            {"name": "phone", "field": "phone", "method": "levenshtein", "thresholds": (0.9,)},
            _exact("cuisine"),
        ],
        splink=[("JaroWinklerAtThresholds", "name", {"score_threshold_or_thresholds":
                                                     [0.95, 0.88, 0.75]}),
                ("JaroWinklerAtThresholds", "address", {"score_threshold_or_thresholds":
                                                        [0.9, 0.8]}),
                ("JaroWinklerAtThresholds", "city", {"score_threshold_or_thresholds": [0.85]}),
                ("LevenshteinAtThresholds", "phone", {"distance_threshold_or_thresholds":
                                                      [1]}),
                ("ExactMatch", "cuisine", {})],
        blockings=[
            [("phone",), ("name__first",), ("address__last", "address__number")],
            [("phone",), ("name__first", "city"), ("address__last",)],
            [("phone",), ("name__first",), ("address__number",)],
        ],
        deterministic=[("name", "phone"), ("address", "phone")],
        em_rules=[("phone",), ("name",)],
        digits=("phone",),
        derived={"name__first": ("name", "first"), "address__number": ("address", "first"),
                 "address__last": ("address", "second")},
    ),
    "papers": Spec(
        comparisons=[
            _jw("title", (0.8, 0.9, 0.96)), _jw("authors", (0.7, 0.85)), _exact("venue"),
            {"name": "year", "field": "year", "method": "levenshtein", "thresholds": (0.7,)},
        ],
        splink=[("JaroWinklerAtThresholds", "title", {"score_threshold_or_thresholds":
                                                      [0.96, 0.9, 0.8]}),
                ("JaroWinklerAtThresholds", "authors", {"score_threshold_or_thresholds":
                                                        [0.85, 0.7]}),
                ("ExactMatch", "venue", {}),
                ("LevenshteinAtThresholds", "year", {"distance_threshold_or_thresholds": [1]})],
        blockings=[
            [("title__first",), ("authors__last", "year")],
            [("title__first",), ("title__last",)],
            [("title__first", "year"), ("title__last",), ("authors__last",)],
        ],
        deterministic=[("title", "year"), ("title", "authors__last")],
        em_rules=[("title__first",), ("authors__last",)],
        digits=("year",),
        derived={"title__first": ("title", "first"), "title__last": ("title", "last"),
                 "authors__last": ("authors", "author_last")},
    ),
}


def prepare(domain: str, n_entities: int, seed: int) -> pa.Table:
    """Generated records with normalised string columns (same for both tools)."""
    spec = SPECS[domain]
    table = crossdomain(domain, n_entities, seed=seed)
    for i, name in enumerate(table.column_names):
        if name in ("record_id", "source", "truth"):
            continue
        col = pc.utf8_lower(table.column(name))
        if name in spec.keep:
            col = pc.utf8_trim_whitespace(col)
        elif name in spec.digits:
            col = pc.replace_substring_regex(col, r"[^0-9]", "")
        else:
            col = pc.replace_substring_regex(col, r"[^\w\s]", " ")
            col = pc.utf8_trim_whitespace(pc.replace_substring_regex(col, r"\s+", " "))
        table = table.set_column(i, name, pc.if_else(pc.equal(col, ""), None, col))
    for name, (column, how) in spec.derived.items():
        table = table.append_column(name, _derive(table.column(column), how))
    return table.append_column("uid", table.column("record_id"))


def _derive(column: pa.ChunkedArray, how: str) -> pa.Array:
    """A token of each value: first, second or last, or the family name of the first
    author (the last token before the first comma)."""
    def token(value: str) -> str | None:
        if how == "author_last":
            value = value.split(",")[0]
        tokens = value.split()
        index = {"first": 0, "second": 1}.get(how, -1)
        return tokens[index] if len(tokens) > max(index, 0) else None
    return pa.array([None if v is None else token(v) for v in column.to_pylist()],
                    pa.string())


# --- linkage ----------------------------------------------------------------------------------


def run_linkage(table: pa.Table, spec: Spec, blocking: list[Keys], threshold: float,
                seed: int) -> tuple[Ids, Ids, npt.NDArray[np.float64], dict[str, Any]]:
    """Candidate pairs, their match probabilities, and facts about the fit."""
    records = table.drop_columns(["truth"])
    comparisons = [Comparison(**c) for c in spec.comparisons]
    passes = [BlockingPass(name="+".join(keys), keys=keys, max_block_size=100_000)
              for keys in blocking]
    blocked = block(records, passes)
    vectors = compare(records, blocked.pairs, comparisons)
    model = FellegiSunter(comparisons, ScoringConfig(link_threshold=threshold), seed=seed)
    _fit(model, records, vectors, blocked.pairs, passes)
    scored = model.predict(vectors, contributions=False)
    return (scored.column("id_l").to_numpy(), scored.column("id_r").to_numpy(),
            scored.column("match_probability").to_numpy(),
            {"prior": model.prior_, "pairs": scored.num_rows})


def _fit(model: FellegiSunter, records: pa.Table, vectors: pa.Table, pairs: pa.Table,
         passes: list[BlockingPass]) -> None:
    """``fit`` with the blocking passes when this checkout's fit takes them."""
    try:
        model.fit(records, vectors, blocking=passes,  # type: ignore[call-arg]
                  pass_name=pairs.column("pass_name"))
    except TypeError:
        model.fit(records, vectors)


# --- Splink -----------------------------------------------------------------------------------


def run_splink(table: pa.Table, spec: Spec, blocking: list[Keys], threshold: float,
               seed: int) -> tuple[Ids, Ids, npt.NDArray[np.float64]]:
    """All candidate pairs of the blocking with Splink's match probabilities."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    del threshold
    comparisons = [getattr(cl, kind)(column, **kw) for kind, column, kw in spec.splink]
    settings = SettingsCreator(
        unique_id_column_name="uid", link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[block_on(*keys) for keys in blocking],
        comparisons=comparisons, retain_intermediate_calculation_columns=False)
    db_api = DuckDBAPI()
    linker = Linker(db_api.register(table.drop_columns(["truth", "record_id"])), settings)
    linker.training.estimate_probability_two_random_records_match(
        [block_on(*keys) for keys in spec.deterministic], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=seed)
    for keys in spec.em_rules:
        linker.training.estimate_parameters_using_expectation_maximisation(block_on(*keys))
    predictions = linker.inference.predict()
    out = predictions.as_duckdbpyrelation().select(
        "uid_l, uid_r, match_probability").fetchnumpy()
    left = np.asarray(out["uid_l"], dtype=np.int64)
    right = np.asarray(out["uid_r"], dtype=np.int64)
    return (np.minimum(left, right), np.maximum(left, right),
            np.asarray(out["match_probability"], dtype=np.float64))


# --- metrics ----------------------------------------------------------------------------------


def f1_scores(table: pa.Table, left: Ids, right: Ids, probability: npt.NDArray[np.float64],
              threshold: float) -> tuple[float, float, float]:
    """(F1 at ``threshold``, best F1 over every threshold, pair completeness: the share
    of true pairs among the candidates) against all true pairs."""
    truth = np.asarray(table.column("truth").to_numpy(), dtype=np.int64)
    uid = np.asarray(table.column("uid").to_numpy(), dtype=np.int64)
    order = np.argsort(uid)
    code = truth[order]
    pos_l = np.searchsorted(uid[order], left)
    pos_r = np.searchsorted(uid[order], right)
    is_true = code[pos_l] == code[pos_r]
    sizes = np.bincount(truth)
    n_true = int((sizes * (sizes - 1) // 2).sum())

    def f1(tp: float, predicted: float) -> float:
        return 2 * tp / (predicted + n_true) if predicted + n_true else 0.0

    at = probability >= threshold
    by_score = np.argsort(-probability, kind="stable")
    tp_cum = np.cumsum(is_true[by_score])
    predicted = np.arange(1, len(tp_cum) + 1, dtype=np.float64)
    best = float((2 * tp_cum / (predicted + n_true)).max()) if len(tp_cum) else 0.0
    completeness = float(is_true.sum()) / n_true if n_true else 0.0
    return f1(float(is_true[at].sum()), float(at.sum())), best, completeness


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=5000, help="entities per set")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threshold", type=float, default=ScoringConfig().link_threshold)
    parser.add_argument("--sets", default=",".join(SPECS))
    parser.add_argument("--tools", default="linkage,splink")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("splink").setLevel(logging.ERROR)
    tools = set(args.tools.split(","))
    margins, gaps, spreads = [], [], []
    for domain in args.sets.split(","):
        spec = SPECS[domain]
        table = prepare(domain, args.entities, args.seed)
        rows = []
        for b, blocking in enumerate(spec.blockings):
            started = time.perf_counter()
            left, right, prob, facts = run_linkage(table, spec, blocking, args.threshold,
                                                   args.seed)
            f1, best, completeness = f1_scores(table, left, right, prob, args.threshold)
            row = {"linkage_f1": f1, "linkage_best_f1": best,
                   "pair_completeness": completeness, "prior": facts["prior"],
                   "pairs": facts["pairs"], "linkage_s": time.perf_counter() - started}
            if "splink" in tools:
                started = time.perf_counter()
                s_left, s_right, s_prob = run_splink(table, spec, blocking, args.threshold,
                                                     args.seed)
                row["splink_f1"], row["splink_best_f1"], _ = f1_scores(
                    table, s_left, s_right, s_prob, args.threshold)
                row["splink_pairs"] = len(s_left)
                row["splink_s"] = time.perf_counter() - started
            rows.append(row)
            print(f"{domain} blocking={b} records={table.num_rows} " + " ".join(
                f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                for k, v in row.items()), flush=True)
        f1s = [r["linkage_f1"] for r in rows]
        first = rows[0]
        spread = max(f1s) - min(f1s)
        splink = (f"splink_f1={first['splink_f1']:.4f} "
                  f"splink_best_f1={first['splink_best_f1']:.4f}") if "splink" in tools \
            else "splink_f1=na splink_best_f1=na"
        print(f"set={domain} linkage_f1={first['linkage_f1']:.4f} "
              f"linkage_best_f1={first['linkage_best_f1']:.4f} {splink} spread={spread:.4f}",
              flush=True)
        if "splink" in tools:
            margins.extend(r["linkage_f1"] - r["splink_f1"] for r in rows)
        gaps.extend(r["linkage_best_f1"] - r["linkage_f1"] for r in rows)
        spreads.append(spread)
    margin = f"{min(margins):.4f}" if margins else "na"
    print(f"min_margin={margin} max_gap={max(gaps):.4f} max_spread={max(spreads):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
