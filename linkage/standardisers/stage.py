"""Apply the configured standardiser to every field of a RecordTable."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from linkage.flags import collect_flags
from linkage.runtime.threads import field_workers
from linkage.schemas import RECORD_BASE, require_columns
from linkage.standardisers.base import (
    MISSING,
    NULL_WORDS,
    OK,
    Standardised,
    is_null_word,
    null_words_to_null,
)
from linkage.standardisers.latin_name import NAME_VALUES
from linkage.standardisers.registry import ONE_VALUE, get_standardiser

log = logging.getLogger(__name__)

#: Standardisers that read null words themselves (an ID column's "无" is a placeholder,
#: reported as such); every other one receives them as missing values.
_READS_NULL_WORDS = frozenset({"id_number"})

#: Null words that are values for a field type (``latin_name``: the surnames Na and Nan,
#: the given name None), by standardiser name (before any ``:argument``).
NULL_WORD_VALUES: dict[str, frozenset[str]] = {"latin_name": NAME_VALUES}


def null_words_for(name: str) -> frozenset[str]:
    """The null words of the field type standardised by ``name``."""
    values = NULL_WORD_VALUES.get(name.partition(":")[0])
    return NULL_WORDS - values if values else NULL_WORDS


def standardise(records: pa.Table, fields: Mapping[str, str]) -> pa.Table:
    """Return ``records`` with each field in ``fields`` (field -> standardiser name) replaced
    by its normalised value (null words such as 无 / 不详 / N/A count as missing, see
    :data:`linkage.standardisers.base.NULL_WORDS`), plus ``<field>__raw``,
    ``<field>__status``, derived ``<field>__<name>`` columns and a ``flags`` list of every
    non-ok status.

    A field absent from ``records`` (no source mapped it) is added as all-missing, so every
    later stage sees the same columns whatever the sources hold.
    """
    require_columns(records, RECORD_BASE, what="standardise(records)")
    n = records.num_rows
    table = records
    flag_parts: list[pa.Array] = []
    inputs = [(field, name, _raw_column(records, field, n)) for field, name in fields.items()]
    # The fields are independent and their standardisers spend most of their time in Arrow
    # and NumPy kernels that release the GIL: run them side by side, assemble in order.
    with ThreadPoolExecutor(max_workers=field_workers(len(inputs))) as pool:
        results = list(pool.map(lambda item: _standardise_field(*item), inputs))
    for (field, name, raw), result in zip(inputs, results, strict=True):
        _check_lengths(field, name, n, result)
        table = _set(table, field, result.value)
        table = _set(table, f"{field}__raw", raw)
        table = _set(table, f"{field}__status", result.status)
        for derived, column in result.derived.items():
            table = _set(table, f"{field}__{derived}", column)
        # a field the record's department never collects is no missing value of it
        quiet = pc.or_(pc.equal(result.status, OK), pc.and_(
            pc.equal(result.status, MISSING), pa.array(~carried_rows(table, field))))
        flag_parts.append(
            pc.if_else(quiet, pa.scalar(None, pa.string()),
                       pc.binary_join_element_wise(field, result.status, ":"))
        )
        bad = n - pc.sum(pc.starts_with(result.status, OK)).as_py() if n else 0
        log.debug("standardised %s with %s: %d of %d rows not ok", field, name, bad, n)
    table = _set(table, "flags", collect_flags(flag_parts, n))
    log.info("standardise: %d records, %d fields", n, len(fields))
    return table


def carried_rows(records: pa.Table, field: str) -> npt.NDArray[np.bool_]:
    """Per record: its source carries ``field`` (some record of that source has a value
    read for it, blank or not; a source that never mapped the field has nulls only).
    Completeness, missing-value flags and ``missing`` conflicts count only these.

    Read from ``<field>__raw`` (what was read) when standardised, else ``field``. A pure
    function of the records given: over a slice, a source whose rows there are all null
    counts as not carrying the field."""
    raw = f"{field}__raw" if f"{field}__raw" in records.column_names else field
    n = records.num_rows
    if raw not in records.column_names or "source" not in records.column_names:
        return np.zeros(n, dtype=bool)
    read = pc.is_valid(records[raw])
    status = f"{field}__status"
    if raw == field and status in records.column_names:  # no raw text: a non-missing status
        read = pc.or_(read, pc.fill_null(pc.not_equal(records[status], MISSING), False))
    has = np.asarray(read.to_numpy(zero_copy_only=False), dtype=bool)
    encoded = pc.dictionary_encode(records["source"].combine_chunks()
                                   if isinstance(records["source"], pa.ChunkedArray)
                                   else records["source"])
    codes = np.asarray(pc.fill_null(encoded.indices, len(encoded.dictionary)).to_numpy(
        zero_copy_only=False), dtype=np.int64)
    per_source = np.zeros(len(encoded.dictionary) + 1, dtype=bool)
    per_source[codes[has]] = True
    return np.asarray(per_source[codes], dtype=bool)


def standardise_record(values: Mapping[str, str | None], fields: Mapping[str, str], *,
                       carried: Collection[str] | None = None) -> dict[str, Any]:
    """:func:`standardise` of one record, in plain Python: ``values`` (field -> text or
    None) -> every column :func:`standardise` sets for that row (``<field>``,
    ``<field>__raw``, ``<field>__status``, the derived ``<field>__<name>``, ``flags``),
    as ``standardise(table).to_pylist()[0]`` would give them. Each standardiser's
    :data:`~linkage.standardisers.registry.ONE_VALUE` form does the work; one without such
    a form runs its array function on a one-row array."""
    out: dict[str, Any] = {}
    flags: list[str] = []
    for field, name in fields.items():
        raw = values.get(field)
        if name in _READS_NULL_WORDS or raw is None or not is_null_word(raw):
            given = raw
        elif name.partition(":")[0] in NULL_WORD_VALUES:  # some null words are values here
            given = null_words_to_null(pa.array([raw], pa.string()), null_words_for(name))[
                0].as_py()
        else:
            given = None
        form = ONE_VALUE.get(name)
        if form is not None:
            row = form(given)
            derived = dict(zip(form.derived, row[2:], strict=True))
            value, status = row[0], row[1]
        else:
            result = get_standardiser(name)(pa.array([given], pa.string()))
            value, status = result.value[0].as_py(), result.status[0].as_py()
            derived = {k: v[0].as_py() for k, v in result.derived.items()}
        out[field] = value
        out[f"{field}__raw"] = raw
        out[f"{field}__status"] = status
        for d, v in derived.items():
            out[f"{field}__{d}"] = v
        # as in the stage: a field the record's department does not carry is no missing
        # value of it (``carried``; by default the fields this record has a value read for)
        held = field in carried if carried is not None else raw is not None
        if status != OK and not (status == MISSING and not held):
            flags.append(f"{field}:{status}")
    out["flags"] = flags
    return out


def _raw_column(records: pa.Table, field: str, n: int) -> pa.Array:
    """The field's column as read, one string array (all null when no source mapped it)."""
    if field not in records.column_names:
        return pa.nulls(n, pa.string())
    raw = records.column(field).combine_chunks()
    return raw if pa.types.is_string(raw.type) else pc.cast(raw, pa.string())


def _standardise_field(field: str, name: str, raw: pa.Array) -> Standardised:
    """One field's standardiser over its raw column (null words read as missing first)."""
    # "无" / "不详" / "N/A" in a name or address column is a missing value, not a name
    given = raw if name in _READS_NULL_WORDS else null_words_to_null(
        raw, null_words_for(name))
    result: Standardised = get_standardiser(name)(given)
    return result


def _set(table: pa.Table, name: str, column: pa.Array) -> pa.Table:
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, column)
    return table.append_column(name, column)


def _check_lengths(field: str, name: str, n: int, result: Standardised) -> None:
    columns = {"value": result.value, "status": result.status, **dict(result.derived)}
    for label, column in columns.items():
        if len(column) != n:
            raise AssertionError(
                f"standardiser {name!r} returned {len(column)} rows for {label} of field "
                f"{field!r}, expected {n}"
            )
