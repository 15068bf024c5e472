"""Compose the stages; keep every intermediate table so any step can be inspected.

``Pipeline`` owns no stage logic: it reads the sources, then for each entity type runs
standardise -> block -> compare -> score -> cluster -> golden -> conflicts -> quality,
timing each step, and gathers the results in a :class:`PipelineResult`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from linkage.config import EntityConfig, PipelineConfig, SourceConfig, load_pipeline
from linkage.config import to_toml as config_to_toml
from linkage.config import validate as validate_config
from linkage.engines.progress import Progress
from linkage.errors import ConfigError, LinkageError, SourceError
from linkage.flags import collect_flags, concat_flags
from linkage.io.explained import RecordRef, explain_records
from linkage.io.frames import (
    Source,
    combine_records,
    is_memory_path,
    result_table,
    to_pandas,
    to_polars,
)
from linkage.io.sources import read_source, read_sources
from linkage.master.cluster import cluster
from linkage.master.conflicts import find_conflicts
from linkage.master.employers import prefer_enterprise_codes, resolve_employers
from linkage.master.entity_ids import ENTITY_CHANGES, assign_entity_ids
from linkage.master.gates import GateResult, GatesConfig, check_gates, run_figures
from linkage.master.golden import build_golden
from linkage.master.legal_rep import prefer_person_names, resolve_legal_reps
from linkage.master.quality import source_quality
from linkage.match.block import BlockingResult, block
from linkage.match.compare import compare, compared_columns
from linkage.match.encoding import ColumnCodes
from linkage.match.explain import Explanation
from linkage.match.pairgen import pairs_within_blocks
from linkage.match.score import FellegiSunter
from linkage.schemas import CONFLICTS, SOURCE_QUALITY
from linkage.standardisers import standardise

log = logging.getLogger(__name__)
#: one line per finished step (the command shows them when its output is not a terminal)
progress_log = logging.getLogger("linkage.progress")

T = TypeVar("T")

STAGES = ("standardise", "block", "compare", "score", "cluster", "golden", "conflicts", "quality")


@dataclass
class EntityResult:
    """Every intermediate table of one entity type."""

    entity_type: str
    records: pa.Table
    blocking: BlockingResult
    vectors: pa.Table
    model: FellegiSunter
    scored: pa.Table
    clusters: pa.Table
    golden: pa.Table
    changes: pa.Table = field(default_factory=ENTITY_CHANGES.empty_table)
    conflicts: pa.Table = field(default_factory=CONFLICTS.empty_table)
    quality: pa.Table = field(default_factory=SOURCE_QUALITY.empty_table)
    #: pairs near the threshold for clerical review (``[<type>.review]``), or None
    review: pa.Table | None = None


@dataclass
class PipelineResult:
    """What a run produced; ``records`` holds every input record with its entity id."""

    config: PipelineConfig
    raw_records: pa.Table
    entities: dict[str, EntityResult]
    records: pa.Table
    timings: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    #: enterprise -> legal representative (person entity) edges, when both types ran
    legal_reps: pa.Table | None = None
    #: person -> employer (enterprise entity) edges, when both types ran with employer fields
    employers: pa.Table | None = None

    def __repr__(self) -> str:
        """A short summary (the dataclass repr would print every table)."""
        parts = [f"{t}: {e.records.num_rows} records -> {e.golden.num_rows} entities"
                 for t, e in self.entities.items()]
        return (f"<PipelineResult {self.config.name!r}: {self.records.num_rows} records; "
                f"{'; '.join(parts) or 'nothing linked'}; {self.conflicts.num_rows} conflicts>")

    @property
    def entity_changes(self) -> pa.Table:
        """Entity-id merges, splits, new and retired ids against the previous run."""
        return pa.concat_tables([e.changes for e in self.entities.values()] or
                                [ENTITY_CHANGES.empty_table()])

    @property
    def clusters(self) -> pa.Table:
        """Record -> entity id, every entity type."""
        return pa.concat_tables([e.clusters for e in self.entities.values()])

    @property
    def golden(self) -> dict[str, pa.Table]:
        """Golden records by entity type."""
        return {t: e.golden for t, e in self.entities.items()}

    @property
    def pairs(self) -> pa.Table:
        """Scored candidate pairs of every entity type, with an ``entity_type`` column."""
        parts = []
        for etype, e in self.entities.items():
            scored = e.scored
            parts.append(scored.add_column(0, "entity_type",
                                           pa.repeat(pa.scalar(etype, pa.string()),
                                                     scored.num_rows)))
        return pa.concat_tables(parts, promote_options="default")

    @property
    def conflicts(self) -> pa.Table:
        """Every disagreement found, every entity type."""
        parts = [e.conflicts for e in self.entities.values()]
        if not parts:
            return CONFLICTS.empty_table()
        return pa.concat_tables(parts, promote_options="default")

    @property
    def quality(self) -> pa.Table:
        """Per source, entity type and field quality figures."""
        parts = [e.quality for e in self.entities.values()]
        if not parts:
            return SOURCE_QUALITY.empty_table()
        return pa.concat_tables(parts, promote_options="default")

    def explain(self, left: RecordRef, right: RecordRef) -> Explanation:
        """Why two records were (not) linked: each comparison's level, contribution and
        compared values (masked), and the rule that decided. A record is named by its
        department and key, ``("household", "HJ001")`` or ``"household:HJ001"``, or by its
        record id. ``print(result.explain(...))`` prints it."""
        from linkage.io.explained import explained_columns, find_record

        etype = find_record(self.records, left)["entity_type"]
        entity = self.entities.get(etype)
        if entity is None:
            raise LinkageError(f"{etype} records were not linked in this run")
        records = explained_columns(self.records, entity.model)  # the columns it reads
        records = records.filter(pc.equal(records.column("entity_type"), etype))
        section = self.config.entity(etype)
        threshold = section.scoring.link_threshold if section is not None else None
        return explain_records(records, entity.model, left, right, scored=entity.scored,
                               threshold=threshold, candidates=entity.blocking.pairs)

    def table(self, name: str) -> pa.Table:
        """An output table by its file name: ``records``, ``pairs``, ``golden_person``,
        ``conflicts``, ``quality``, ``legal_reps``, ``entity_changes``, ``clusters``."""
        return result_table(self, name)

    def to_pandas(self, name: str) -> Any:
        """An output table (see :meth:`table`) as a pandas DataFrame."""
        return to_pandas(self.table(name))

    def to_polars(self, name: str) -> Any:
        """An output table (see :meth:`table`) as a polars DataFrame."""
        return to_polars(self.table(name))

    @property
    def gates(self) -> list[GateResult]:
        """The pipeline's ``[gates]`` checked against this run (empty when none are set)."""
        gates = getattr(self.config, "gates", GatesConfig())
        if not gates.active:
            return []
        figures = run_figures(records=self.records, changes=self.entity_changes,
                              conflicts=self.conflicts,
                              entities={t: e.golden.num_rows for t, e in self.entities.items()})
        return check_gates(gates, figures)


class Pipeline:
    """A configured pipeline; ``run`` is repeatable and has no side effects on disk."""

    def __init__(
        self,
        config: PipelineConfig | None = None,
        *,
        sources: Sequence[SourceConfig | Source] = (),
        person: EntityConfig | None = None,
        enterprise: EntityConfig | None = None,
        name: str = "linkage",
        seed: int = 0,
        truth: str | Path | None = None,
        gates: GatesConfig | None = None,
    ) -> None:
        """From a :class:`PipelineConfig`, or from its parts in code: ``sources`` may be
        files (:class:`SourceConfig`) and DataFrames (:meth:`linkage.Source.from_frame`).
        Parts built in code are validated like a pipeline file (one error, every problem)."""
        self.frames: dict[tuple[str, str], Source] = {}
        if config is None:
            for item in sources:
                if isinstance(item, Source):
                    self.frames[(item.config.department, item.config.entity_type)] = item
            try:
                draft = PipelineConfig(
                    sources=tuple(s.config if isinstance(s, Source) else s for s in sources),
                    person=person, enterprise=enterprise, name=name, seed=seed,
                    truth=Path(truth) if truth is not None else None,
                    gates=gates or GatesConfig())
            except (ValueError, TypeError) as exc:
                raise ConfigError([str(exc)]) from None
            config = validate_config(draft)
        self.config = config

    def to_toml(self) -> str:
        """The pipeline as a pipeline file's text; ``Pipeline.from_toml`` reads it back."""
        return config_to_toml(self.config)

    def _read(self) -> pa.Table:
        """Read every source: files from disk, DataFrame sources from memory (a hook:
        linkage.engines.local reads and spills source by source)."""
        if not self.frames and not any(is_memory_path(s.path) for s in self.config.sources):
            return read_sources(self.config)
        tables = []
        offset = 0
        for source in self.config.sources:
            frame = self.frames.get((source.department, source.entity_type))
            if frame is None and is_memory_path(source.path):
                raise SourceError("this source was a DataFrame when the pipeline was written "
                                  "(path <memory:...>): set its path to the department's file, "
                                  "or pass the DataFrame as a linkage.Source", source=source.label)
            table = (frame.records(first_record_id=offset) if frame is not None
                     else read_source(source, first_record_id=offset))
            offset += table.num_rows
            tables.append(table)
        return pa.concat_tables(tables, promote_options="default")

    @classmethod
    def from_toml(cls, path: str | Path) -> Pipeline:
        """Load and validate a pipeline file."""
        return cls(load_pipeline(path))

    def run(
        self,
        records: pa.Table | Source | Sequence[pa.Table | Source] | None = None,
        *,
        previous: pa.Table | None = None,
        progress: bool = False,
        evaluate: bool = True,
    ) -> PipelineResult:
        """Run every stage. ``records`` replaces reading the sources: a RecordTable, or a
        list of RecordTables and :class:`~linkage.Source` objects, which the engine numbers
        (record ids are its to assign; a table whose ids collide is refused).
        ``previous`` (a previous run's records: source, source_key, entity_id) keeps entity
        ids stable across runs and logs merges and splits. ``evaluate=False`` skips the
        metrics against the pipeline's ground truth."""
        timings: dict[str, float] = {}
        with _timed(timings, "read"):
            raw = combine_records(records) if records is not None else self._read()
        progress_log.info("read %d records in %.2f s", raw.num_rows, timings["read"])
        entities: dict[str, EntityResult] = {}
        etypes = self.config.entity_types
        bar = tqdm(total=len(etypes) * len(STAGES) + 1, disable=not progress, unit="stage",
                   desc="linkage", leave=False)
        try:
            for etype in etypes:
                # no name holds the subset here: _link lets it go once standardised
                entities[etype] = self._link(
                    etype, raw.filter(pc.equal(raw.column("entity_type"), etype)), previous,
                    timings, bar)
            legal_reps = Progress(timings, bar).run(
                "legal_reps", sum(e.records.num_rows for e in entities.values()),
                lambda: _resolve_legal_reps(entities))
            with _timed(timings, "employers"):
                employers = _resolve_employers(entities)
            for etype, entity in entities.items():
                self._report(etype, entity, timings, bar)
        finally:
            bar.close()
        combined = self._records(raw, entities)
        result = PipelineResult(config=self.config, raw_records=raw, entities=entities,
                                records=combined, timings=timings, legal_reps=legal_reps,
                                employers=employers)
        if evaluate and self.config.truth is not None and self.config.truth.is_dir():
            progress_log.info("evaluating against the ground truth in %s", self.config.truth)
            with _timed(timings, "evaluate"), tqdm(total=1, disable=not progress, unit="step",
                                                   desc="linkage: evaluate", leave=False) as ebar:
                result.metrics = _evaluate_or_warn(result)
                ebar.update(1)
            progress_log.info("evaluate done in %.2f s", timings["evaluate"])
        return result

    def _link(
        self,
        etype: str,
        subset: pa.Table,
        previous: pa.Table | None,
        timings: dict[str, float],
        bar: Any,
    ) -> EntityResult:
        """standardise -> block -> compare -> score -> cluster -> golden for one type."""
        section = self._section(etype)
        fields = list(section.fields)
        step = _stepper(etype, timings, bar, subset.num_rows)
        records = step("standardise", partial(self._standardise, etype, subset, section))
        del subset  # the raw copy of this type's records (the standardised ones hold __raw)
        truth = _truth_pairs(self.config.truth, records)
        blocking, vectors = _block_and_compare(records, section, truth, step,
                                               memory_limit=self._block_memory_limit())
        model = (_saved_model(etype, section) if section.model is not None else
                 FellegiSunter(section.comparisons, section.scoring, seed=self.config.seed))

        def fit_predict() -> pa.Table:
            if section.model is None:
                model.fit(records, vectors, blocking=section.blocking,
                          pass_name=blocking.pairs.column("pass_name"))
            return model.predict(vectors)

        scored = self._spill(f"{etype}_scored", step("score", fit_predict))
        scored, queue = _review(records, vectors, model, scored, section)
        # kept for explain() and the outputs; on disk in an out-of-core run
        vectors = self._spill(f"{etype}_vectors", vectors)
        blocking = BlockingResult(self._spill(f"{etype}_pairs", blocking.pairs), blocking.report)

        def cluster_stably() -> tuple[pa.Table, pa.Table]:
            found = cluster(records, scored, entity_type=etype,
                            threshold=section.scoring.link_threshold,
                            identity_fields=section.identity_fields)
            return assign_entity_ids(found, records, previous)

        clusters, changes = step("cluster", cluster_stably)
        trust = self._trust(etype, fields)
        golden = step("golden", lambda: self._by_entity(
            records, clusters, lambda r, c: build_golden(
                r, c, fields=fields, survivorship=section.survivorship, trust=trust)))
        log.info("%s: %d records -> %d candidate pairs -> %d entities", etype,
                 records.num_rows, blocking.pairs.num_rows, golden.num_rows)
        return EntityResult(etype, records, blocking, vectors, model, scored, clusters,
                            golden, changes, review=queue)

    def _report(self, etype: str, entity: EntityResult, timings: dict[str, float],
                bar: Any) -> None:
        """Conflicts and quality, once golden records are final (after legal reps)."""
        section = self._section(etype)
        fields = list(section.fields)
        step = _stepper(etype, timings, bar, entity.records.num_rows)
        entity.conflicts = step("conflicts", lambda: self._by_entity(
            entity.records, entity.clusters, lambda r, c: find_conflicts(
                r, c, entity.golden, fields=fields,
                mutable_fields=section.conflicts.mutable_fields,
                comparable_statuses=section.conflicts.comparable_statuses,
                wildcard_statuses=section.conflicts.wildcard_statuses)))
        entity.quality = step("quality", lambda: source_quality(
            entity.records, entity.clusters, entity.golden, fields=fields))

    # --- hooks an engine overrides (linkage.engines.local: batches, spills, chunks) -------

    def _standardise(self, etype: str, subset: pa.Table, section: EntityConfig) -> pa.Table:
        """The standardised records of one entity type, with the reader's flags."""
        return _merge_read_flags(standardise(subset, section.fields), subset)

    def _by_entity(self, records: pa.Table, clusters: pa.Table,
                   stage: Callable[[pa.Table, pa.Table], pa.Table]) -> pa.Table:
        """``stage(records, clusters)`` of an entity-grouped stage (one output row group
        per entity, sorted by entity id): here on all entities at once."""
        return stage(records, clusters)

    def _spill(self, name: str, table: pa.Table) -> pa.Table:
        """A large intermediate table; an out-of-core engine moves it to disk."""
        return table

    def _records(self, raw: pa.Table, entities: Mapping[str, EntityResult]) -> pa.Table:
        """Every input record with its entity id, in record-id order."""
        return self._spill("records", _records_with_entities(raw, entities))

    def _block_memory_limit(self) -> str | None:
        """DuckDB's memory limit when blocking spills (None: DuckDB's default)."""
        return None

    def _section(self, etype: str) -> EntityConfig:
        section = self.config.entity(etype)
        if section is None:
            raise LinkageError(f"this pipeline has no [{etype}] section")
        return section

    def _trust(self, etype: str, fields: list[str]) -> dict[str, dict[str, float]]:
        """department -> field -> trust, complete for every field (defaults filled in)."""
        trust: dict[str, dict[str, float]] = {}
        for source in self.config.sources:
            if source.entity_type != etype:
                continue
            trust[source.department] = {
                f: source.trust.get(f, source.default_trust) for f in fields
            }
        return trust


def run_pipeline(path: str | Path, *, previous: pa.Table | None = None,
                 progress: bool = False) -> PipelineResult:
    """Load a pipeline file and run it."""
    return Pipeline.from_toml(path).run(previous=previous, progress=progress)


# --- helpers ------------------------------------------------------------------------------


def _stepper(etype: str, timings: dict[str, float], bar: Any,
             records: int = 0) -> Callable[..., Any]:
    """Run one named stage of ``etype`` over ``records`` records: timed, logged with
    records per second, and shown on the progress bar."""
    progress = Progress(timings, bar)

    def step(name: str, fn: Callable[[], T]) -> T:
        return progress.run(f"{etype}.{name}", records, fn)

    return step


def _resolve_legal_reps(entities: dict[str, EntityResult]) -> pa.Table | None:
    """Tie each enterprise's legal representative to a person entity, and let the person's
    golden name settle disagreements over ``legal_rep_name``. Needs both entity types."""
    person, enterprise = entities.get("person"), entities.get("enterprise")
    if person is None or enterprise is None:
        return None
    edges = resolve_legal_reps(enterprise.golden, person.records, person.clusters,
                               enterprises=enterprise.records,
                               enterprise_clusters=enterprise.clusters)
    enterprise.golden = prefer_person_names(enterprise.golden, edges, person.golden,
                                            enterprise.records, enterprise.clusters)
    return edges


def _resolve_employers(entities: dict[str, EntityResult]) -> pa.Table | None:
    """Tie each person's employer to an enterprise entity, and give the person's golden
    ``employer_code`` the enterprise's registered credit code. Needs both entity types and
    a person ``employer_name`` or ``employer_code`` field."""
    person, enterprise = entities.get("person"), entities.get("enterprise")
    if person is None or enterprise is None or not {"employer_name", "employer_code"} & set(
            person.golden.column_names):
        return None
    edges = resolve_employers(person.golden, enterprise.records, enterprise.clusters)
    person.golden = prefer_enterprise_codes(person.golden, edges, enterprise.golden)
    return edges


def _block_and_compare(
    records: pa.Table, section: EntityConfig, truth: pa.Table | None,
    step: Callable[..., Any], *, memory_limit: str | None = None,
) -> tuple[BlockingResult, pa.Table]:
    """Candidate pairs and their comparison vectors. The compared columns are hashed once,
    by blocking, and compare reuses their codes; the codes are let go on return."""
    codes = ColumnCodes(records, compared_columns(section.comparisons))
    blocking = step("block", lambda: block(records, section.blocking, truth_pairs=truth,
                                           codes=codes, memory_limit=memory_limit))
    vectors = step("compare", lambda: compare(records, blocking.pairs, section.comparisons,
                                              codes=codes))
    return blocking, vectors


def _review(records: pa.Table, vectors: pa.Table, model: FellegiSunter, scored: pa.Table,
            section: EntityConfig) -> tuple[pa.Table, pa.Table | None]:
    """Apply the section's review decisions (refining m by the decided matches first when
    ``train``) and pick the next review queue."""
    from linkage.master.review import MASKED_STANDARDISERS, apply_decisions, review_queue
    from linkage.match.labels import m_from_labels, read_pair_labels, resolve

    review = section.review
    if review.decisions is not None:
        column = "decision" if "decision" in _read_header(review.decisions) else "label"
        decisions = read_pair_labels(review.decisions, column=column)
        if review.train:
            id_l, id_r, is_match, _ = resolve(records, decisions)
            pairs = pa.table({"id_l": pa.array(id_l[is_match], pa.int64()),
                              "id_r": pa.array(id_r[is_match], pa.int64())})
            if pairs.num_rows:
                labelled = compare(records, pairs, model.comparisons)
                model.m_ = m_from_labels(labelled, model.comparisons, model.m_)
                scored = model.predict(vectors)
        scored = apply_decisions(records, scored, decisions)
    if not review.queue_size:
        return scored, None
    masked = [f for f, kind in section.fields.items() if kind in MASKED_STANDARDISERS]
    queue = review_queue(records, scored, threshold_weight=model.threshold_weight,
                         fields=list(section.fields), masked=masked, size=review.queue_size,
                         band_bits=review.band_bits)
    return scored, queue


def _read_header(path: Path) -> list[str]:
    """Column names of a labels file."""
    from linkage.match.labels import read_table

    names: list[str] = read_table(path).column_names
    return names


def _saved_model(etype: str, section: EntityConfig) -> FellegiSunter:
    """The model file the section names, checked against the section's comparisons: a
    model fitted for other levels or fields would score this run's vectors wrongly."""
    assert section.model is not None
    model = FellegiSunter.load(section.model)
    if tuple(model.comparisons) != tuple(section.comparisons):
        saved = {c.name: c for c in model.comparisons}
        differing = [c.name for c in section.comparisons if saved.get(c.name) != c]
        differing += [n for n in saved if n not in {c.name for c in section.comparisons}]
        raise ConfigError([f"{etype}.model: the comparisons of {section.model} differ from "
                           f"this section's ({', '.join(differing) or 'their order'}); fit a "
                           "new model (remove 'model') or restore the comparisons"])
    log.info("%s: scoring with the saved model %s (no fit)", etype, section.model.name)
    return model


def _truth_pairs(truth_dir: Path | None, records: pa.Table) -> pa.Table | None:
    """Every pair of ``records`` that the ground truth says is one entity (for the blocking
    report's pair completeness), or None when there is no readable truth."""
    path = truth_dir / "records.parquet" if truth_dir is not None else None
    if path is None or not path.is_file():
        return None
    try:
        truth = pq.read_table(path, columns=["source", "entity_type", "source_key",
                                             "true_entity_id"])
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        log.warning("truth %s cannot be read (%s); no pair completeness", path,
                    type(exc).__name__)
        return None

    def key(t: pa.Table) -> pa.Array:
        return pc.binary_join_element_wise(t.column("source"), t.column("entity_type"),
                                           t.column("source_key"), "\x00")
    at = pc.index_in(key(records), value_set=key(truth))
    entity = truth.column("true_entity_id").combine_chunks().take(at).combine_chunks()
    codes = pc.fill_null(pc.dictionary_encode(entity).indices, -1)
    lo, hi = pairs_within_blocks(codes.to_numpy(zero_copy_only=False).astype(np.int64),
                                 records.column("record_id").to_numpy().astype(np.int64),
                                 None, link_only=False)
    return pa.table({"id_l": lo, "id_r": hi})


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = round(time.perf_counter() - start, 4)


def _merge_read_flags(records: pa.Table, raw: pa.Table) -> pa.Table:
    """Put the reader's flags (duplicate key, malformed row, bad update time) before the
    standardiser's field flags, in one ``flags`` list per record."""
    if "flags" not in raw.column_names:
        return records
    merged = concat_flags(raw.column("flags").combine_chunks(),
                           records.column("flags").combine_chunks())
    return records.set_column(records.column_names.index("flags"), "flags", merged)


def _records_with_entities(raw: pa.Table, entities: Mapping[str, EntityResult]) -> pa.Table:
    """Every input record, standardised, with its entity id; records of an entity type the
    pipeline does not resolve are kept and flagged."""
    parts = []
    for e in entities.values():
        # Arrow joins cannot carry list columns (flags): look positions up instead.
        where = pc.index_in(e.records.column("record_id"),
                            value_set=e.clusters.column("record_id"))
        joined = e.records
        for name in ("entity_id", "cluster_size"):
            joined = joined.append_column(name, e.clusters.column(name).take(where))
        parts.append(joined)
    resolved = pa.array(list(entities), pa.string())
    leftover = raw.filter(pc.invert(pc.is_in(raw.column("entity_type"), value_set=resolved)))
    if leftover.num_rows:
        k = leftover.num_rows
        note = collect_flags([pa.array(["entity_type:not_resolved"] * k, pa.string())], k)
        flags = concat_flags(leftover.column("flags").combine_chunks(), note)
        leftover = leftover.set_column(leftover.column_names.index("flags"), "flags", flags)
        parts.append(leftover)
    combined = pa.concat_tables(parts, promote_options="default") if parts else raw
    combined = combined.sort_by("record_id")
    if combined.num_rows != raw.num_rows:
        raise AssertionError(f"{raw.num_rows} records read but {combined.num_rows} in output")
    return combined


def _evaluate_or_warn(result: PipelineResult) -> dict[str, Any] | None:
    """Metrics, or None and a warning when the truth cannot be read: the outputs of a run
    come first, a failed evaluation must not cost them."""
    try:
        return _evaluate(result)
    except Exception as exc:  # any reader's failure on a foreign truth folder
        log.warning("truth %s could not be evaluated against (%s); no metrics",
                    result.config.truth, type(exc).__name__)
        return None


def _evaluate(result: PipelineResult) -> dict[str, Any] | None:
    from linkage.evaluate import evaluate

    truth = result.config.truth
    assert truth is not None
    return evaluate(result.records, truth, golden=result.golden, conflicts=result.conflicts)
