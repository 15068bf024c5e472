"""Column codes shared by blocking and comparison: the same pairs and levels as when each
stage hashes for itself."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.match.block import BlockingPass, block
from linkage.match.compare import Comparison, compare, compared_columns
from linkage.match.encoding import ColumnCodes, encode_column

# standardised columns hold no blank strings (a standardiser writes null instead)
NAMES = st.sampled_from(["张伟", "张玮", "李娜", "王芳", "王方", None])
PHONES = st.sampled_from(["13800138000", "13800138001", "13900139000", None])
#: (address, its county code): two counties, so some pairs are settled as "else" apart
PLACES = st.sampled_from([("北京市东城区东华门街道1号", "110101"),
                          ("北京市东城区东华门街道2号", "110101"),
                          ("上海市黄浦区南京东路1号", "310101"), (None, None)])


def _records(names: list[str | None], phones: list[str | None],
             places: list[tuple[str | None, str | None]] | None = None) -> pa.Table:
    n = len(names)
    places = places or [(None, None)] * n
    return pa.table({
        "record_id": pa.array(range(n), pa.int64()),
        "name": pa.array(names, pa.string()),
        "name__status": pa.array(["ok"] * n),
        "phone": pa.array(phones, pa.string()),
        "phone__status": pa.array(["ok"] * n),
        "address": pa.array([p[0] for p in places], pa.string()),
        "address__county_code": pa.array([p[1] for p in places], pa.string()),
        "address__status": pa.array(["ok"] * n),
    })


def _same(a: pa.Table, b: pa.Table) -> bool:
    """Equal tables, NaN equal to NaN (a pair with a null side has no term frequency)."""
    return a.column_names == b.column_names and all(
        np.array_equal(a.column(c).to_numpy(), b.column(c).to_numpy(),
                       equal_nan=a.column(c).type == pa.float32())
        for c in a.column_names)


PASSES = [BlockingPass(name="name", keys=("name",)),
          BlockingPass(name="name_phone", keys=("name", "phone")),
          BlockingPass(name="phone_head", keys=("phone",), prefix=(7,)),
          BlockingPass(name="name_county", keys=("name", "address__county_code"))]
COMPARISONS = [Comparison(name="name", field="name", method="person_name",
                          term_frequency=True),
               Comparison(name="phone", field="phone", method="exact"),
               Comparison(name="address", field="address", method="address")]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(NAMES, PHONES, PLACES), min_size=2, max_size=40))
def test_shared_codes_give_the_same_pairs_and_vectors(
    rows: list[tuple[str | None, str | None, tuple[str | None, str | None]]],
) -> None:
    records = _records([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    alone = block(records, PASSES)
    columns = compared_columns(COMPARISONS)
    assert columns == {"name", "phone", "address", "address__county_code"}
    codes = ColumnCodes(records, columns)
    shared = block(records, PASSES, codes=codes)
    assert shared.pairs.equals(alone.pairs)
    assert shared.report["passes"] == alone.report["passes"]
    # blocking filled what it hashes whole (not the phone prefix, not the address)
    assert "name" in codes and "address__county_code" in codes and "phone" in codes
    assert "address" not in codes
    assert _same(compare(records, shared.pairs, COMPARISONS, codes=codes),
                 compare(records, alone.pairs, COMPARISONS))


def test_codes_are_computed_once_and_only_for_their_table_and_columns() -> None:
    records = _records(["张伟", "李娜", None, "张伟"], ["1", "2", "3", None])
    codes = ColumnCodes(records, {"name"})
    uniques, row_codes = codes.get("name")
    assert codes.get("name")[1] is row_codes  # the same arrays, not a second hashing
    assert not row_codes.flags.writeable  # shared: a stage writing into it would fail loudly
    assert uniques.to_pylist() == ["张伟", "李娜"]
    assert row_codes.tolist() == [0, 1, -1, 0]
    assert row_codes.tolist() == encode_column(records.column("name"))[1].tolist()
    assert codes.serves(records, "name")
    assert not codes.serves(records, "phone")
    assert not codes.serves(_records(["张伟"], ["1"]), "name")  # another table
    with pytest.raises(KeyError, match="not 'phone'"):
        codes.get("phone")
    # codes of another table are ignored, not misapplied
    other = _records(["李娜", "李娜"], ["1", "1"])
    pairs = block(other, PASSES).pairs
    assert _same(compare(other, pairs, COMPARISONS, codes=codes),
                 compare(other, pairs, COMPARISONS))
