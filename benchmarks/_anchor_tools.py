"""One function per tool: link a Dataset and return the predicted pairs (uid arrays) and
facts about the run.

Each runs inside its own worker process (see bench_anchors.py); the timed part starts
after the data is in memory and ends when the predicted pairs exist. All three tools get
the same blocking rules for a dataset, so their candidate pair sets are comparable.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from _anchor_data import LINKAGE_ONLY, Dataset

Ids = npt.NDArray[np.int64]
Outcome = tuple[Ids, Ids, dict[str, Any]]

#: blocking rules per dataset, as column lists (Splink adds its demo's swapped-names rule)
BLOCKING = {
    "febrl4": [("given_name", "surname"), ("date_of_birth",), ("soc_sec_id",),
               ("state", "address_1"), ("street_number", "address_1"), ("postcode",)],
    "synth": [("id_number",), ("name", "birth_date"), ("phone",),
              ("name__pinyin_key", "id_number__birth_date"), ("name", "address__county_code"),
              ("id_head4", "id_tail4"), ("address",)],
}


# --- linkage -------------------------------------------------------------------------------


def run_linkage(data: Dataset, threshold: float, seed: int) -> Outcome:
    from linkage.match.block import BlockingPass, block
    from linkage.match.compare import Comparison, compare, compared_columns
    from linkage.match.encoding import ColumnCodes
    from linkage.match.score import FellegiSunter, ScoringConfig

    parts = []
    for i, table in enumerate(data.tables):
        if "source" not in table.column_names:
            table = table.append_column("source", pa.array([f"s{i}"] * table.num_rows))
        parts.append(table.drop_columns([c for c in ("record_id",) if c in table.column_names]))
    records = pa.concat_tables(parts, promote_options="permissive")
    records = records.append_column("record_id", records.column("uid"))
    start = time.perf_counter()
    comparisons = [Comparison(**c) for c in _linkage_comparisons(data.name)]
    passes = [BlockingPass(name="+".join(keys), keys=keys, link_only=data.link_only,
                           max_block_size=_cap(data.name, keys))
              for keys in BLOCKING[data.name]]
    codes = ColumnCodes(records, compared_columns(comparisons))  # hashed once, by block
    blocked = block(records, passes, codes=codes)
    t_block = time.perf_counter()
    vectors = compare(records, blocked.pairs, comparisons, codes=codes)
    t_compare = time.perf_counter()
    n_pairs = blocked.pairs.num_rows
    del codes  # scoring needs the vectors and the pairs' passes: free the column codes
    model = FellegiSunter(comparisons,
                          ScoringConfig(link_only=data.link_only, link_threshold=threshold),
                          seed=seed).fit(records, vectors, blocking=passes,
                                         pass_name=blocked.pairs.column("pass_name"))
    # per-comparison weights are not kept (like Splink's
    # retain_intermediate_calculation_columns=False below)
    scored = model.predict(vectors, contributions=False)
    keep = pc.greater_equal(scored.column("match_probability"), threshold)
    if "cannot_link" in scored.column_names:
        keep = pc.and_(keep, pc.invert(scored.column("cannot_link")))
    if "must_link" in scored.column_names:
        keep = pc.or_(keep, scored.column("must_link"))
    links = scored.filter(keep)
    end = time.perf_counter()
    del blocked
    n_fields = n_pairs * len(comparisons)
    return links.column("id_l").to_numpy(), links.column("id_r").to_numpy(), {
        "wall_s": end - start,
        "candidate_pairs": n_pairs,
        "block_s": t_block - start,
        "compare_s": t_compare - t_block,
        "score_s": end - t_compare,
        "field_comparisons_per_s": n_fields / max(t_compare - t_block, 1e-9),
        "em_iterations": model.n_iter_,
        "prior": model.prior_,
    }


def _cap(dataset: str, keys: tuple[str, ...]) -> int:
    if dataset == "febrl4":
        return 2000
    return {("phone",): 100, ("address",): 100, ("id_number",): 100}.get(keys, 5000)


def _linkage_comparisons(dataset: str) -> list[dict[str, Any]]:
    if dataset == "febrl4":
        return [
            {"name": "given_name", "field": "given_name", "method": "jaro_winkler",
             "thresholds": (0.7, 0.88, 0.94), "term_frequency": True},
            {"name": "surname", "field": "surname", "method": "jaro_winkler",
             "thresholds": (0.7, 0.88, 0.94), "term_frequency": True},
            {"name": "date_of_birth", "field": "date_of_birth", "method": "date"},
            {"name": "soc_sec_id", "field": "soc_sec_id", "method": "damerau_levenshtein",
             "thresholds": (0.7, 0.85)},
            {"name": "street_number", "field": "street_number", "method": "exact",
             "term_frequency": True},
            {"name": "postcode", "field": "postcode", "method": "damerau_levenshtein",
             "thresholds": (0.5, 0.75), "term_frequency": True},
            {"name": "address_1", "field": "address_1", "method": "jaro_winkler",
             "thresholds": (0.8, 0.9)},
            {"name": "suburb", "field": "suburb", "method": "jaro_winkler",
             "thresholds": (0.8, 0.9)},
            {"name": "state", "field": "state", "method": "exact"},
        ]
    return [
        {"name": "name", "field": "name", "method": "person_name", "term_frequency": True},
        {"name": "id_number", "field": "id_number", "method": "id_number",
         "must_link": True, "cannot_link": True},
        {"name": "birth_date", "field": "birth_date", "method": "date"},
        {"name": "sex", "field": "sex", "method": "exact"},
        {"name": "phone", "field": "phone", "method": "exact", "term_frequency": True},
        {"name": "address", "field": "address", "method": "address"},
    ]


def _for_other_tools(table: pa.Table) -> pa.Table:
    """The table Splink and recordlinkage get: without the truth and without
    ``LINKAGE_ONLY`` (statuses they have no use for; Splink would copy them)."""
    return table.drop_columns([c for c in ("truth", *LINKAGE_ONLY) if c in table.column_names])


# --- Splink --------------------------------------------------------------------------------


def run_splink(data: Dataset, threshold: float, seed: int) -> Outcome:
    """Splink 4+/5 with the DuckDB backend; FEBRL4 uses the settings of its FEBRL4 demo,
    synth the same shape of model on the standardised person columns."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    tables = [_for_other_tools(t) for t in data.tables]
    start = time.perf_counter()
    rules: list[Any] = [block_on(*keys) for keys in BLOCKING[data.name]]
    if data.name == "febrl4":
        rules.insert(1, "l.given_name = r.surname and l.surname = r.given_name")
        comparisons = [
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True,
                                     datetime_format="%Y%m%d", invalid_dates_as_null=True),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(
                term_frequency_adjustments=True),
        ]
        deterministic = [block_on("soc_sec_id"),
                         block_on("given_name", "surname", "date_of_birth")]
        em_rules = [block_on("date_of_birth"), block_on("postcode")]
        u_pairs = 1e6
    else:
        comparisons = [
            cl.JaroWinklerAtThresholds("name", [0.9, 0.8]).configure(
                term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("id_number", [1, 2]),
            cl.DateOfBirthComparison("birth_date", input_is_string=True,
                                     invalid_dates_as_null=True),
            cl.ExactMatch("sex"),
            cl.ExactMatch("phone").configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("address", [0.9, 0.7]),
        ]
        deterministic = [block_on("id_number")]
        em_rules = [block_on("name", "birth_date"), block_on("id_number")]
        u_pairs = 1e7
    settings = SettingsCreator(
        unique_id_column_name="uid",
        link_type="link_only" if data.link_only else "dedupe_only",
        blocking_rules_to_generate_predictions=rules,
        comparisons=comparisons,
        retain_intermediate_calculation_columns=False,
    )
    db_api = DuckDBAPI()
    linker = Linker([db_api.register(t) for t in tables], settings)
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=seed)
    for rule in em_rules:
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=True)
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    result = predictions.as_duckdbpyrelation().select("uid_l, uid_r").fetchnumpy()
    end = time.perf_counter()
    candidates = _splink_candidates(tables, rules, data.link_only)
    return (np.asarray(result["uid_l"], dtype=np.int64),
            np.asarray(result["uid_r"], dtype=np.int64),
            {"wall_s": end - start, "candidate_pairs": candidates})


def _splink_candidates(tables: list[pa.Table], rules: list[Any], link_only: bool) -> int | None:
    """Candidate pairs of the prediction blocking rules (counted outside the timing)."""
    try:
        from splink import DuckDBAPI
        from splink.blocking_analysis import count_comparisons_from_blocking_rules

        db_api = DuckDBAPI()
        records = count_comparisons_from_blocking_rules(
            [db_api.register(t) for t in tables], blocking_rules=rules,
            link_type="link_only" if link_only else "dedupe_only",
            unique_id_column_name="uid", record_sample_proportion=1.0)
        return int(records[-1]["cumulative_comparison_count"])
    except Exception:  # the analysis API changes between Splink versions
        return None


# --- recordlinkage ---------------------------------------------------------------------------


def run_recordlinkage(data: Dataset, threshold: float, seed: int) -> Outcome:
    """recordlinkage with the same blocking rules (union of Block indexers) and its ECM
    classifier on binary features."""
    import recordlinkage

    del threshold, seed  # ECM gives hard labels
    frames = [_for_other_tools(t).to_pandas().set_index("uid") for t in data.tables]
    start = time.perf_counter()
    indexer = recordlinkage.Index()
    for keys in BLOCKING[data.name]:
        indexer.block(list(keys))
    comp = recordlinkage.Compare(n_jobs=1)
    if data.name == "febrl4":
        a, b = frames
        pairs = indexer.index(a, b)
        comp.string("given_name", "given_name", method="jarowinkler", threshold=0.85,
                    label="given_name")
        comp.string("surname", "surname", method="jarowinkler", threshold=0.85,
                    label="surname")
        for col in ("date_of_birth", "suburb", "state", "street_number", "postcode",
                    "soc_sec_id"):
            comp.exact(col, col, label=col)
        comp.string("address_1", "address_1", method="levenshtein", threshold=0.85,
                    label="address_1")
        features = comp.compute(pairs, a, b)
    else:
        (a,) = frames
        pairs = indexer.index(a)
        comp.string("name", "name", method="jarowinkler", threshold=0.85, label="name")
        comp.string("id_number", "id_number", method="levenshtein", threshold=0.85,
                    label="id_number")
        for col in ("birth_date", "sex", "phone"):
            comp.exact(col, col, label=col)
        comp.string("address", "address", method="jarowinkler", threshold=0.85,
                    label="address")
        features = comp.compute(pairs, a)
    links = recordlinkage.ECMClassifier(binarize=0.5).fit_predict(features)
    end = time.perf_counter()
    return (np.asarray(links.get_level_values(0), dtype=np.int64),
            np.asarray(links.get_level_values(1), dtype=np.int64),
            {"wall_s": end - start, "candidate_pairs": len(pairs)})


TOOLS = {"linkage": run_linkage, "splink": run_splink, "recordlinkage": run_recordlinkage}
