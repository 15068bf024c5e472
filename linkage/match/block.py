"""Block stage: candidate pairs from several passes on standardised keys.

Each :class:`BlockingPass` turns records into blocks (records that share a key) or windows
(sorted neighbourhood), and pairs are generated inside DuckDB on Arrow tables, never in a
Python loop over records. The passes' pairs are united without duplicates; each pair keeps
the name of the first pass that produced it. Over-large blocks (a placeholder ID, a very
common name in a large city) are skipped by that pass with a warning in the report, so one
skewed key cannot explode the run; later passes still see those records.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from linkage.errors import SchemaError
from linkage.match.encoding import ColumnCodes
from linkage.match.minhash import band_block_ids, signatures
from linkage.match.pairgen import (
    MAX_PASSES,
    PairSink,
    pair_completeness,
    pairs_across,
    pairs_within_blocks,
    run,
)
from linkage.schemas import require_fields

log = logging.getLogger(__name__)

PassKind = Literal["exact", "sorted_neighbourhood", "qgram", "token", "minhash"]
_SEP = "\x1f"


@dataclass(frozen=True, kw_only=True)
class BlockingPass:
    """One blocking pass.

    ``kind``:
      * ``"exact"``: records that agree on every key column (after ``prefix``) share a block.
      * ``"sorted_neighbourhood"``: records sorted by the joined key; each is paired with the
        next ``window - 1`` records.
      * ``"qgram"`` / ``"token"``: the (single) key is split into character q-grams or
        whitespace tokens; records sharing at least ``min_shared`` of them are paired.
        Grams held by more than ``max_block_size`` records are ignored (too common to help).
      * ``"minhash"``: MinHash-LSH on character q-grams of the joined key: ``bands`` bands
        of ``rows`` hashes each (seeded by ``seed``); records sharing any band are paired
        (see :mod:`linkage.match.minhash`), each band capped like an exact block.

    ``prefix`` (aligned with ``keys``) keeps only the first N characters of a key
    (0 = the whole value): e.g. ``keys = ["id_number"], prefix = [10]`` blocks on division
    code + birth year. ``suffix`` likewise keeps the last N characters; the same column may
    appear twice, so ``keys = ["id_number", "id_number"], prefix = [4, 0], suffix = [0, 4]``
    blocks on the characters that masked ID numbers (``3301**********056X``) keep. A value
    shorter than a prefix or suffix gives no key. ``link_only`` pairs only records from
    different sources (linking two datasets rather than deduplicating).

    ``sub_keys`` (exact passes): a block larger than ``max_block_size`` is not skipped but
    split by these further columns (``sub_prefix`` cuts them like ``prefix``), e.g. the
    王伟 block of a large county by birth year: ``sub_keys = ["birth_date"],
    sub_prefix = [4]``. Only the parts still above the cap, and the records of a split
    block that have no sub key, are skipped (reported and warned of like capped blocks).
    """

    name: str
    keys: tuple[str, ...]
    max_block_size: int = 500
    kind: PassKind = "exact"
    prefix: tuple[int, ...] = ()
    suffix: tuple[int, ...] = ()
    window: int = 5
    q: int = 2
    min_shared: int = 2
    bands: int = 8
    rows: int = 3
    seed: int = 0
    link_only: bool = False
    sub_keys: tuple[str, ...] = ()
    sub_prefix: tuple[int, ...] = ()
    #: cross-column blocking (exact passes): records pair when one's ``keys`` equal the
    #: other's ``keys_right`` (aligned, cut by the same prefix/suffix), either way round:
    #: ``keys = ["first_name"], keys_right = ["last_name"]`` finds first and last names
    #: swapped; ``keys = ["former_name"], keys_right = ["name"]`` a renamed record
    keys_right: tuple[str, ...] = ()
    #: cross-column passes: a boolean column; only the records where it is true stand in
    #: the blocks by their ``keys`` (every record still stands by its ``keys_right``). With
    #: ``keys_right`` equal to ``keys``, the flagged records are paired with every record
    #: of their block but the others not with each other: ``keys_where =
    #: "id_number__masked"`` pairs a masked ID number with the full numbers (and masked
    #: ones) it may hide, not two full numbers that share only their ends, whose blocks
    #: grow with the population
    keys_where: str = ""

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError(f"blocking pass {self.name!r} needs at least one key")
        if self.max_block_size < 2:
            raise ValueError(f"blocking pass {self.name!r}: max_block_size must be >= 2")
        if self.prefix and len(self.prefix) != len(self.keys):
            raise ValueError(f"blocking pass {self.name!r}: prefix needs one length per key")
        if self.suffix and len(self.suffix) != len(self.keys):
            raise ValueError(f"blocking pass {self.name!r}: suffix needs one length per key")
        if any(p < 0 for p in (*self.prefix, *self.suffix)):
            raise ValueError(f"blocking pass {self.name!r}: prefix/suffix lengths must be >= 0")
        if self.window < 2:
            raise ValueError(f"blocking pass {self.name!r}: window must be >= 2")
        if self.bands < 1 or self.rows < 1:
            raise ValueError(f"blocking pass {self.name!r}: bands and rows must be >= 1")
        if self.q < 1 or self.min_shared < 1:
            raise ValueError(f"blocking pass {self.name!r}: q and min_shared must be >= 1")
        if self.kind in ("qgram", "token") and len(self.keys) != 1:
            raise ValueError(f"blocking pass {self.name!r}: a {self.kind} pass takes one key")
        if self.sub_keys and self.kind != "exact":
            raise ValueError(f"blocking pass {self.name!r}: sub_keys split exact blocks only")
        if self.sub_prefix and len(self.sub_prefix) != len(self.sub_keys):
            raise ValueError(f"blocking pass {self.name!r}: sub_prefix needs one length per "
                             "sub key")
        if any(p < 0 for p in self.sub_prefix):
            raise ValueError(f"blocking pass {self.name!r}: sub_prefix lengths must be >= 0")
        if self.keys_right and (self.kind != "exact" or self.sub_keys
                                or len(self.keys_right) != len(self.keys)):
            raise ValueError(f"blocking pass {self.name!r}: keys_right needs an exact pass "
                             "without sub_keys and one right-hand key per key")
        if self.keys_where and not self.keys_right:
            raise ValueError(f"blocking pass {self.name!r}: keys_where chooses which records "
                             "stand by their keys in a cross-column pass; give keys_right too")

    def right_side(self) -> BlockingPass:
        """A cross-column pass as the plain pass over its right-hand keys (same cuts)."""
        return replace(self, keys=self.keys_right, keys_right=(), keys_where="")


@dataclass(frozen=True)
class BlockingResult:
    """Candidate pairs (CandidatePairs schema) and a report of what each pass produced."""

    pairs: pa.Table
    report: dict[str, Any] = field(default_factory=dict)


def block(
    records: pa.Table,
    passes: Sequence[BlockingPass],
    *,
    truth_pairs: pa.Table | None = None,
    memory_limit: str | None = None,
    max_in_memory_pairs: int = 50_000_000,
    codes: ColumnCodes | None = None,
) -> BlockingResult:
    """Union of the pairs of every pass, id_l < id_r, each tagged with its first pass.

    ``codes``: a :class:`~linkage.match.encoding.ColumnCodes` of ``records``; an exact pass's
    whole standardised key column that it keeps is hashed through it, so the compare
    stage, given the same object, does not hash that column again.

    ``truth_pairs`` (id_l, id_r of true matches), when given, adds pair completeness (the
    share of true pairs among the candidates) to the report. Up to ``max_in_memory_pairs``
    pairs are generated and united with NumPy; beyond that, in DuckDB, which spills to a
    temporary directory (``memory_limit``, e.g. "2GB", bounds it).
    """
    require_fields(records, ["record_id"], what="block(records)")
    for bp in passes:
        require_fields(records, [*bp.keys, *bp.sub_keys, *bp.keys_right,
                                 *([bp.keys_where] if bp.keys_where else [])],
                       what=f"block pass {bp.name!r}")
        if bp.link_only:
            require_fields(records, ["source"], what=f"block pass {bp.name!r} (link_only)")
    names = [bp.name for bp in passes]
    if len(set(names)) != len(names):
        raise SchemaError(f"blocking pass names must be unique, got {names}")
    if len(names) > MAX_PASSES:
        raise SchemaError(f"at most {MAX_PASSES} blocking passes, got {len(names)}")
    ids = _int64(records.column("record_id"))
    # sources only matter to link_only passes (and their report), so a dedupe run never
    # reads (or, memory-mapped, pages in) the source column
    linking = any(bp.link_only for bp in passes)
    sources = _source_codes(records) if linking and "source" in records.column_names else None
    id_width = int(ids.max()) + 1 if len(ids) else 1
    if len(ids) and int(ids.min()) < 0:
        raise SchemaError("block(records): record_id must be >= 0")
    with PairSink(max_in_memory=max_in_memory_pairs, id_width=id_width,
                  memory_limit=memory_limit) as sink:
        pass_reports = []
        for index, bp in enumerate(passes):
            pass_reports.append(_run_pass(sink, records, ids, sources, bp, index, codes))
            pa.default_memory_pool().release_unused()  # hash tables of this pass's keys
        spilled = sink.spilled
        pairs, new_counts = sink.union(names)
    for rep, new in zip(pass_reports, new_counts, strict=True):
        rep["new_pairs"] = new
    report = _report(records, ids, sources, passes, pass_reports, pairs.num_rows)
    report["engine"] = "duckdb" if spilled else "numpy"
    if truth_pairs is not None:
        require_fields(truth_pairs, ["id_l", "id_r"], what="block(truth_pairs)")
        left, right = _int64(truth_pairs.column("id_l")), _int64(truth_pairs.column("id_r"))
        found, total = pair_completeness(pairs, np.minimum(left, right),
                                         np.maximum(left, right))
        report["truth_pairs"] = total
        report["pair_completeness"] = found / total if total else None
    for warning in report["warnings"]:
        log.warning("block: %s", warning)
    log.info("block: %d records, %d passes, %d candidate pairs (reduction ratio %.6f)",
             records.num_rows, len(passes), pairs.num_rows, report["reduction_ratio"])
    return BlockingResult(pairs=pairs, report=report)


# --- passes ------------------------------------------------------------------------------


def _run_pass(
    sink: PairSink,
    records: pa.Table,
    ids: npt.NDArray[np.int64],
    sources: npt.NDArray[np.int32] | None,
    bp: BlockingPass,
    index: int,
    codes: ColumnCodes | None = None,
) -> dict[str, Any]:
    if bp.keys_right:
        return _cross_pass(sink, records, ids, sources, bp, index)
    if bp.kind == "exact":
        return _exact_pass(sink, ids, sources, _block_ids(records, bp, codes), bp, index,
                           lambda: _block_ids(records, refined_pass(bp), codes))
    key = joined_key(records, bp)
    if bp.kind == "minhash":
        return _minhash_pass(sink, ids, sources, key, bp, index)
    if bp.kind == "sorted_neighbourhood":
        return _sorted_pass(sink, ids, sources, key, bp, index)
    return _gram_pass(sink, ids, sources, key, bp, index)


def _clean_key(records: pa.Table, bp: BlockingPass, i: int,
               standardised: bool | None = None) -> pa.ChunkedArray:
    """Key part ``i`` as trimmed strings, cut to its prefix/suffix (null when unusable).

    Works chunk-wise, and leaves standardised columns (those with a ``__status``, or
    ``standardised``) as they are, to keep the peak memory of large runs low."""
    col: pa.ChunkedArray = records.column(bp.keys[i])
    if pa.types.is_dictionary(col.type):
        col = pc.cast(col, col.type.value_type)
    if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
        col = pc.cast(col, pa.string())
    if standardised is None:
        standardised = _is_standardised(records, bp.keys[i])
    if not standardised:
        col = pa.chunked_array([_trimmed(chunk) for chunk in col.chunks], col.type)
    length = bp.prefix[i] if bp.prefix else 0
    if length:
        short = pc.less(pc.utf8_length(col), length)
        head = pc.utf8_slice_codeunits(col, 0, length)
        col = pc.if_else(short, pa.scalar(None, col.type), head)
    tail_len = bp.suffix[i] if bp.suffix else 0
    if tail_len:
        short = pc.less(pc.utf8_length(col), tail_len)
        tail = pc.utf8_slice_codeunits(col, -tail_len, 2**31 - 1)
        col = pc.if_else(short, pa.scalar(None, col.type), tail)
    return col


def _trimmed(chunk: pa.Array) -> pa.Array:
    """Values without surrounding whitespace, blanks as null. A chunk that is already
    clean (the usual case) is returned as it is, not copied: on memory-mapped records a
    copy would be the pass's largest allocation."""
    trimmed = pc.utf8_trim_whitespace(chunk)
    if pc.sum(pc.binary_length(trimmed)) != pc.sum(pc.binary_length(chunk)):
        chunk = trimmed  # trimming only removes bytes: equal totals mean nothing changed
    del trimmed
    blank = pc.equal(chunk, "")
    if pc.any(blank).as_py():
        chunk = pc.if_else(blank, pa.scalar(None, chunk.type), chunk)
    return chunk


def joined_key(records: pa.Table, bp: BlockingPass) -> pa.Array:
    """The pass's key per record as one string (null when any part is null or blank):
    what an exact pass groups records by (a master index stores it hashed)."""
    parts = [_clean_key(records, bp, i).combine_chunks() for i in range(len(bp.keys))]
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*parts, _SEP)


def record_key(record: Mapping[str, Any], bp: BlockingPass) -> str | None:
    """:func:`joined_key` of one record given as a mapping of its columns (a standardised
    record: ``<field>__status`` present), in plain Python: the same trimming (columns
    that are not standardised), prefix and suffix cuts (in characters) and joining."""
    parts: list[str] = []
    for i, column in enumerate(bp.keys):
        value = record.get(column)
        if value is None:
            return None
        text = value if isinstance(value, str) else (
            ("true" if value else "false") if isinstance(value, bool) else str(value))
        if f"{column.split('__', 1)[0]}__status" not in record:
            text = text.strip()
            if not text:
                return None
        length = bp.prefix[i] if bp.prefix else 0
        if length:
            if len(text) < length:
                return None
            text = text[:length]
        tail = bp.suffix[i] if bp.suffix else 0
        if tail:
            if len(text) < tail:
                return None
            text = text[-tail:]
        parts.append(text)
    return _SEP.join(parts)


def _block_ids(
    records: pa.Table, bp: BlockingPass, cache: ColumnCodes | None = None
) -> npt.NDArray[np.int64]:
    """Dense block id per record (-1 when a key part is missing): each part is hashed to
    an integer code and the codes are combined, so no composite string is ever built."""
    combined: npt.NDArray[np.int64] | None = None
    for i in range(len(bp.keys)):
        if cache is not None and _whole_standardised(records, bp, i) \
                and cache.serves(records, bp.keys[i]):
            # the same codes as below (a standardised value has no blank to trim)
            uniques, part_codes = cache.get(bp.keys[i])
            codes = part_codes.astype(np.int64)
            dictionary_size = len(uniques)
        else:
            encoded = pc.dictionary_encode(_clean_key(records, bp, i))
            codes = _chunked_codes(encoded)
            dictionary_size = len(encoded.chunk(0).dictionary) if encoded.num_chunks else 0
        if combined is None:
            combined = codes
            continue
        missing = (combined < 0) | (codes < 0)
        width = np.int64(max(dictionary_size, 1))
        merged = np.where(missing, -1, combined * width + codes)
        dense = pc.dictionary_encode(pa.array(merged)).indices  # renumber to stay small
        combined = np.where(missing, -1, np.asarray(dense.to_numpy(), dtype=np.int64))
    assert combined is not None
    return combined


def pass_agreement(
    records: pa.Table, bp: BlockingPass, left: npt.NDArray[np.int64],
    right: npt.NDArray[np.int64],
) -> npt.NDArray[np.bool_]:
    """Whether each pair of rows (positions in ``records``) agrees on every key of exact
    pass ``bp`` (after its prefix / suffix, no part missing): exactly the pairs the pass
    generates, before any cap. The scoring fit uses it to train on each pass's pairs;
    only the pairs' own values are read, so it costs O(pairs), not a hash of the table.
    Pairs go in slices, so the values taken (a string per side and key) stay slice-sized."""
    agree = np.ones(len(left), dtype=bool)
    for lo in range(0, len(left), _AGREEMENT_SLICE):
        hi = min(lo + _AGREEMENT_SLICE, len(left))
        n = hi - lo
        # one take for both sides
        rows = pa.array(np.concatenate([left[lo:hi], right[lo:hi]]), pa.int64())
        for i, key in enumerate(bp.keys):
            both = _clean_key(pa.table({key: records.column(key).take(rows)}), bp, i,
                              standardised=_is_standardised(records, key)).combine_chunks()
            equal = pc.fill_null(pc.equal(both.slice(0, n), both.slice(n)), False)
            agree[lo:hi] &= np.asarray(equal.to_numpy(zero_copy_only=False), dtype=bool)
    return agree


#: pairs per slice of :func:`pass_agreement`
_AGREEMENT_SLICE = 1 << 18


def _whole_standardised(records: pa.Table, bp: BlockingPass, i: int) -> bool:
    """Whether key part ``i`` is a whole standardised column (no prefix or suffix cut)."""
    cut = (bp.prefix[i] if bp.prefix else 0) or (bp.suffix[i] if bp.suffix else 0)
    return not cut and _is_standardised(records, bp.keys[i])


def _is_standardised(records: pa.Table, column: str) -> bool:
    """Standardised values (and their derived columns) are trimmed, with blanks as null."""
    return f"{column.split('__', 1)[0]}__status" in records.column_names


def _chunked_codes(encoded: pa.ChunkedArray) -> npt.NDArray[np.int64]:
    """Row codes of a chunk-wise dictionary encoding (chunks share one dictionary), -1 for
    null."""
    if encoded.num_chunks == 0:
        return np.zeros(0, dtype=np.int64)
    parts = [np.asarray(pc.fill_null(pc.cast(chunk.indices, pa.int64()), -1).to_numpy(
        zero_copy_only=False), dtype=np.int64) for chunk in encoded.chunks]
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def _exact_pass(
    sink: PairSink,
    ids: npt.NDArray[np.int64],
    sources: npt.NDArray[np.int32] | None,
    blk: npt.NDArray[np.int64],
    bp: BlockingPass,
    index: int,
    refined: Callable[[], npt.NDArray[np.int64]] | None = None,
) -> dict[str, Any]:
    """Pairs of records sharing a block id, skipping blocks above the cap (after splitting
    them by the pass's ``sub_keys``: ``refined`` gives the block ids on keys + sub keys)."""
    keyed, sizes = _block_sizes(blk)
    capped = sizes > bp.max_block_size
    largest = _largest(sizes)
    split_blocks = split_records = unsplit = 0
    if bp.sub_keys and refined is not None and capped.any():
        in_split = np.zeros(len(blk), dtype=bool)
        in_split[keyed] = capped[blk[keyed]]
        finer = refined()[in_split]  # within a capped block: its part of each sub key
        split_blocks, split_records = int(capped.sum()), int(in_split.sum())
        unsplit = int((finer < 0).sum())  # no sub key: left out, like a capped block's
        blk = blk.copy()
        blk[in_split] = np.where(finer >= 0, finer + len(sizes), -1)
        keyed, sizes = _block_sizes(blk)
        capped = sizes > bp.max_block_size
    kept_blk, usable = _usable_blocks(blk, keyed, sizes, capped)
    expected = int((sizes[usable] * (sizes[usable] - 1) // 2).sum())
    if sink.spilled or sink.produced_total() + expected > sink.max_in_memory:
        _duckdb_block_join(sink, ids, sources, kept_blk, bp, index)
    else:
        lo, hi = pairs_within_blocks(kept_blk, ids, sources, link_only=bp.link_only)
        sink.add(lo, hi, index)
    report = _pass_report(bp, sink, index, keyed=int(keyed.sum()) + unsplit,
                          blocks=int((sizes >= 2).sum()), largest=largest,
                          capped_blocks=int(capped.sum()),
                          capped_records=int(sizes[capped].sum()) + unsplit)
    if bp.sub_keys:
        report["split_blocks"] = split_blocks
        report["split_records"] = split_records
        report["unsplit_records"] = unsplit
        report["largest_after_split"] = _largest(sizes)
    return report


def _cross_pass(
    sink: PairSink,
    records: pa.Table,
    ids: npt.NDArray[np.int64],
    sources: npt.NDArray[np.int32] | None,
    bp: BlockingPass,
    index: int,
) -> dict[str, Any]:
    """Pairs whose one record's keys equal the other's right-hand keys. Every record
    stands twice in one block table, by its keys (role 0) and by its right-hand keys
    (role 1), on one encoding of both; pairs are taken across roles only
    (:func:`~linkage.match.pairgen.pairs_across`), then a record paired with itself is
    dropped. A block is capped by
    its records of both roles; a block with records of one role only pairs nothing (a
    former name nobody bears as a name, ID ends no masked number has), so it is neither
    counted nor capped."""
    n = len(ids)
    right = bp.right_side()
    combined: npt.NDArray[np.int64] | None = None
    for i in range(len(bp.keys)):
        both = pa.chunked_array([*_clean_key(records, bp, i).chunks,
                                 *_clean_key(records, right, i).chunks], pa.string())
        encoded = pc.dictionary_encode(both)
        codes = _chunked_codes(encoded)
        size = len(encoded.chunk(0).dictionary) if encoded.num_chunks else 0
        if combined is None:
            combined = codes
            continue
        missing = (combined < 0) | (codes < 0)
        merged = np.where(missing, -1, combined * np.int64(max(size, 1)) + codes)
        dense = pc.dictionary_encode(pa.array(merged)).indices
        combined = np.where(missing, -1, np.asarray(dense.to_numpy(), dtype=np.int64))
    blk = combined if combined is not None else np.full(2 * n, -1, dtype=np.int64)
    if bp.keys_where:
        blk[:n][~flagged(records, bp.keys_where)] = -1
    blk = _two_sided(blk, n)
    keyed, sizes = _block_sizes(blk)
    capped = sizes > bp.max_block_size
    kept_blk, _ = _usable_blocks(blk, keyed, sizes, capped)
    p, q = pairs_across(kept_blk[:n], kept_blk[n:])
    keep = p != q
    if bp.link_only and sources is not None:
        keep &= sources[p] != sources[q]
    a, b = ids[p[keep]], ids[q[keep]]
    sink.add(np.minimum(a, b), np.maximum(a, b), index)
    key_side, right_side = keyed[:n], keyed[n:]
    return _pass_report(bp, sink, index, keyed=int((key_side | right_side).sum()),
                        blocks=int((sizes >= 2).sum()), largest=_largest(sizes),
                        capped_blocks=int(capped.sum()),
                        capped_records=int(sizes[capped].sum()))


def _two_sided(blk: npt.NDArray[np.int64], n: int) -> npt.NDArray[np.int64]:
    """A cross pass's block ids (keys side ``[:n]``, right-hand side ``[n:]``) with the
    blocks that lack one side set to -1."""
    if not (blk >= 0).any():
        return blk
    n_blocks = int(blk.max()) + 1
    sides = [np.bincount(part[part >= 0], minlength=n_blocks) > 0
             for part in (blk[:n], blk[n:])]
    both = sides[0] & sides[1]
    keep = blk >= 0
    keep[keep] = both[blk[keep]]
    return np.where(keep, blk, -1)


def flagged(records: pa.Table, column: str) -> npt.NDArray[np.bool_]:
    """A boolean column as a NumPy mask (null counts as false)."""
    values = records.column(column)
    if not pa.types.is_boolean(values.type):
        raise SchemaError(f"keys_where column {column!r} must be boolean, not {values.type}")
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _block_sizes(
    blk: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """Which records have a block (id >= 0), and each block id's size."""
    keyed = blk >= 0
    n_blocks = int(blk.max()) + 1 if keyed.any() else 0
    return keyed, np.bincount(blk[keyed], minlength=n_blocks)


def _usable_blocks(
    blk: npt.NDArray[np.int64], keyed: npt.NDArray[np.bool_], sizes: npt.NDArray[np.int64],
    capped: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Block ids with every record of a single or capped block set to -1 (no pairs), and
    which blocks are usable (two or more records, not capped)."""
    usable = (sizes >= 2) & ~capped
    member = np.zeros(len(blk), dtype=bool)
    member[keyed] = usable[blk[keyed]]
    return np.where(member, blk, -1), usable


def refined_pass(bp: BlockingPass) -> BlockingPass:
    """The pass on its keys followed by its sub keys (the parts an over-large block is
    split into)."""
    def cuts(own: tuple[int, ...], sub: tuple[int, ...], n_sub: int) -> tuple[int, ...]:
        if not own and not sub:
            return ()
        return (own or (0,) * len(bp.keys)) + (sub or (0,) * n_sub)
    n_sub = len(bp.sub_keys)
    return replace(bp, keys=bp.keys + bp.sub_keys, sub_keys=(), sub_prefix=(),
                   prefix=cuts(bp.prefix, bp.sub_prefix, n_sub),
                   suffix=cuts(bp.suffix, (), n_sub))


def _duckdb_block_join(
    sink: PairSink,
    ids: npt.NDArray[np.int64],
    sources: npt.NDArray[np.int32] | None,
    blk: npt.NDArray[np.int64],
    bp: BlockingPass,
    index: int,
) -> None:
    """The same pairs as :func:`pairs_within_blocks`, by a DuckDB self-join that spills."""
    keep = blk >= 0
    src = sources[keep] if sources is not None else np.zeros(int(keep.sum()), np.int32)
    con = sink.connection()
    con.register("pass_rows", pa.table({"rid": ids[keep], "blk": blk[keep], "src": src}))
    cross = "AND l.src <> r.src" if bp.link_only else ""
    run(con, f"""INSERT INTO all_pairs
            SELECT least(l.rid, r.rid), greatest(l.rid, r.rid), {index}::SMALLINT
            FROM pass_rows l JOIN pass_rows r
            ON l.blk = r.blk AND l.rid < r.rid {cross}""")
    con.unregister("pass_rows")
    sink.count_from_sql(index)


def _minhash_pass(
    sink: PairSink,
    ids: npt.NDArray[np.int64],
    sources: npt.NDArray[np.int32] | None,
    key: pa.Array,
    bp: BlockingPass,
    index: int,
) -> dict[str, Any]:
    """Records sharing any LSH band of their key's MinHash signature."""
    encoded = pc.dictionary_encode(key)
    codes = np.asarray(pc.fill_null(pc.cast(encoded.indices, pa.int64()), -1)
                       .to_numpy(zero_copy_only=False), dtype=np.int64)
    values = [str(v) for v in encoded.dictionary.to_pylist()]
    sig = signatures(values, q=bp.q, n_hashes=bp.bands * bp.rows, seed=bp.seed)
    blocks = capped = capped_records = 0
    largest: list[int] = []
    for blk in band_block_ids(sig, codes, bands=bp.bands, rows=bp.rows):
        keyed, sizes = _block_sizes(blk)
        too_big = sizes > bp.max_block_size
        kept_blk, _ = _usable_blocks(blk, keyed, sizes, too_big)
        lo, hi = pairs_within_blocks(kept_blk, ids, sources, link_only=bp.link_only)
        sink.add(lo, hi, index)
        blocks += int((sizes >= 2).sum())
        capped += int(too_big.sum())
        capped_records += int(sizes[too_big].sum())
        largest = sorted([*largest, *_largest(sizes)], reverse=True)[:5]
    return _pass_report(bp, sink, index, keyed=int((codes >= 0).sum()), blocks=blocks,
                        largest=largest, capped_blocks=capped, capped_records=capped_records)


def _sorted_pass(
    sink: PairSink,
    ids: npt.NDArray[np.int64],
    sources: npt.NDArray[np.int32] | None,
    key: pa.Array,
    bp: BlockingPass,
    index: int,
) -> dict[str, Any]:
    valid = np.asarray(key.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    positions = np.flatnonzero(valid)
    sub = pa.table({"k": key.filter(pa.array(valid)), "rid": ids[valid]})
    order = pc.sort_indices(sub, sort_keys=[("k", "ascending"), ("rid", "ascending")])
    sorted_pos = positions[order.to_numpy()]
    del sub, order, positions
    shifts = range(1, min(bp.window, len(sorted_pos)))  # window - 1 vectorised shifts
    total = sum(len(sorted_pos) - d for d in shifts)
    lo, hi = np.empty(total, np.int64), np.empty(total, np.int64)  # filled in place
    at = 0
    for d in shifts:
        a, b = sorted_pos[:-d], sorted_pos[d:]
        if bp.link_only and sources is not None:
            cross = sources[a] != sources[b]
            a, b = a[cross], b[cross]
        left, right = ids[a], ids[b]
        np.minimum(left, right, out=lo[at:at + len(a)])
        np.maximum(left, right, out=hi[at:at + len(a)])
        at += len(a)
    lo, hi = lo[:at], hi[:at]
    different = lo < hi  # all, unless record ids repeat
    if not different.all():
        lo, hi = lo[different], hi[different]
    del different
    sink.add(lo, hi, index)
    report = _pass_report(bp, sink, index, keyed=int(valid.sum()))
    return {**report, "window": bp.window}


def _gram_pass(
    sink: PairSink,
    ids: npt.NDArray[np.int64],
    sources: npt.NDArray[np.int32] | None,
    key: pa.Array,
    bp: BlockingPass,
    index: int,
) -> dict[str, Any]:
    """Pairs sharing >= min_shared q-grams (or tokens), in DuckDB; too-common grams are
    ignored."""
    con = sink.connection()
    src = sources if sources is not None else np.zeros(len(ids), np.int32)
    con.register("pass_keys", pa.table({"rid": ids, "src": src, "k": key}))
    if bp.kind == "token":
        explode = "SELECT DISTINCT rid, src, unnest(string_split(k, ' ')) AS g FROM pass_keys"
    else:
        explode = (
            f"SELECT DISTINCT rid, src, substr(k, i, {bp.q}) AS g FROM pass_keys, "
            f"range(1, greatest(length(k) - {bp.q} + 2, 2)) AS t(i) WHERE k IS NOT NULL"
        )
    run(con, f"CREATE OR REPLACE TEMP TABLE grams AS {explode}")
    con.unregister("pass_keys")
    run(con, "DELETE FROM grams WHERE g IS NULL OR g = ''")
    stats = con.execute(
        f"""SELECT count(*), coalesce(sum(CASE WHEN n > {bp.max_block_size} THEN 1 END), 0),
                   coalesce(sum(CASE WHEN n > {bp.max_block_size} THEN n END), 0)
            FROM (SELECT count(*) AS n FROM grams GROUP BY g HAVING count(*) >= 2)"""
    ).fetchall()[0]
    top = con.execute("SELECT count(*) AS n FROM grams GROUP BY g ORDER BY n DESC LIMIT 5"
                      ).fetchall()
    run(con, f"""CREATE OR REPLACE TEMP TABLE grams_kept AS SELECT rid, src, g FROM grams
            WHERE g IN (SELECT g FROM grams GROUP BY g
                        HAVING count(*) BETWEEN 2 AND {bp.max_block_size})""")
    cross = "AND l.src <> r.src" if bp.link_only else ""
    run(con, f"""INSERT INTO all_pairs
            SELECT l.rid, r.rid, {index}::SMALLINT FROM grams_kept l JOIN grams_kept r
            ON l.g = r.g AND l.rid < r.rid {cross}
            GROUP BY l.rid, r.rid HAVING count(*) >= {bp.min_shared}""")
    run(con, "DROP TABLE grams")
    run(con, "DROP TABLE grams_kept")
    sink.count_from_sql(index)
    keyed = int(np.asarray(key.is_valid().to_numpy(zero_copy_only=False)).sum())
    return _pass_report(bp, sink, index, keyed=keyed, blocks=int(stats[0]),
                        largest=[r[0] for r in top], capped_blocks=int(stats[1]),
                        capped_records=int(stats[2]))


def _pass_report(
    bp: BlockingPass,
    sink: PairSink,
    index: int,
    *,
    keyed: int,
    blocks: int = 0,
    largest: Sequence[Any] = (),
    capped_blocks: int = 0,
    capped_records: int = 0,
) -> dict[str, Any]:
    """One pass's line of the blocking report (sizes only, never key values)."""
    return {
        "name": bp.name,
        "kind": bp.kind,
        "keys": list(bp.keys),
        "records_keyed": keyed,
        "blocks": blocks,
        "largest_blocks": [int(s) for s in largest],
        "capped_blocks": capped_blocks,
        "capped_records": capped_records,
        "pairs": sink.produced(index),
    }


# --- report ---------------------------------------------------------------------------------


def _report(
    records: pa.Table,
    ids: npt.NDArray[np.int64],
    sources: npt.NDArray[np.int32] | None,
    passes: Sequence[BlockingPass],
    pass_reports: list[dict[str, Any]],
    n_pairs: int,
) -> dict[str, Any]:
    n = len(ids)
    link_only = bool(passes) and all(bp.link_only for bp in passes)
    if link_only and sources is not None:
        counts = np.bincount(sources).astype(np.float64)
        possible = float((counts.sum() ** 2 - (counts**2).sum()) / 2)
    else:
        possible = n * (n - 1) / 2
    warnings: list[str] = []
    for rep in pass_reports:
        if rep.get("unsplit_records"):
            bp = next(b for b in passes if b.name == rep["name"])
            warnings.append(
                f"pass {rep['name']!r}: {rep['unsplit_records']} records of blocks larger "
                f"than max_block_size={bp.max_block_size} have no {list(bp.sub_keys)} to be "
                "split by and got no pairs from this pass")
        if rep["capped_blocks"]:
            what = "grams" if rep["kind"] in ("qgram", "token") else "blocks"
            bp = next(b for b in passes if b.name == rep["name"])
            split = rep.get("split_blocks", 0)
            largest = rep["largest_after_split"] if split else rep["largest_blocks"]
            after = f" after splitting {split} blocks by {list(bp.sub_keys)}" if split else ""
            warnings.append(
                f"pass {rep['name']!r}: {rep['capped_blocks']} {what} larger than "
                f"max_block_size={bp.max_block_size} were skipped{after} "
                f"({rep['capped_records']} record slots; largest {largest[:1]})"
            )
    return {
        "records": n,
        "mode": "link_only" if link_only else "dedupe",
        "possible_pairs": possible,
        "candidate_pairs": n_pairs,
        "reduction_ratio": 1.0 - n_pairs / possible if possible else 0.0,
        "passes": pass_reports,
        "warnings": warnings,
    }


def _largest(sizes: npt.NDArray[np.int64], k: int = 5) -> list[int]:
    """The ``k`` largest block sizes, descending (a partition, not a sort of every block)."""
    if len(sizes) > k:
        sizes = np.partition(sizes, len(sizes) - k)[-k:]
    return [int(s) for s in np.sort(sizes)[::-1]]


def _int64(column: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.int64]:
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return np.asarray(pc.cast(arr, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def _source_codes(records: pa.Table) -> npt.NDArray[np.int32]:
    col = records.column("source").combine_chunks()
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    enc = pc.dictionary_encode(pc.fill_null(col, ""))
    return np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int32)
