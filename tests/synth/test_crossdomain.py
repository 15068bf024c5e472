"""The cross-domain generator: seeded, shuffled, with the duplicates its docstring
promises and the errors that make them hard."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import pytest

from linkage.synth.crossdomain import DOMAINS, crossdomain


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_same_seed_same_table_other_seed_other_table(domain: str) -> None:
    a = crossdomain(domain, 300, seed=1)
    assert a.equals(crossdomain(domain, 300, seed=1))
    assert not a.equals(crossdomain(domain, 300, seed=2))
    assert a.column("record_id").to_pylist() == list(range(a.num_rows))
    assert len(np.unique(a.column("truth").to_numpy())) == 300


def test_person_register_has_few_typod_duplicates() -> None:
    table = crossdomain("persons", 3000, seed=4)
    sizes = np.bincount(table.column("truth").to_numpy())
    assert 0.08 < (sizes > 1).mean() < 0.16  # about 12% of people appear more than once
    # duplicates differ: among pairs of one person, surnames often still agree, but not
    # every field of every copy does
    truth = table.column("truth").to_numpy()
    order = np.argsort(truth, kind="stable")
    same = truth[order][1:] == truth[order][:-1]
    for field in ("surname", "date_of_birth", "phone"):
        values = np.asarray(table.column(field).to_pylist(), dtype=object)[order]
        agree = (values[1:] == values[:-1])[same]
        assert 0.5 < agree.mean() < 0.99, field


def test_guides_overlap_and_write_their_own_way() -> None:
    table = crossdomain("restaurants", 2000, seed=3)
    b = table.filter(pc.equal(table.column("source"), "guide_b"))
    dashed = pc.fill_null(pc.match_substring(b.column("phone"), "-"), False)
    assert pc.mean(dashed.cast("int8")).as_py() > 0.9  # guide_b dashes its phones
    a = table.filter(pc.equal(table.column("source"), "guide_a"))
    assert not pc.any(pc.fill_null(pc.match_substring(a.column("phone"), "-"), False)).as_py()
    assert set(table.column("source").to_pylist()) == {"guide_a", "guide_b"}


def test_unknown_domain_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown domain"):
        crossdomain("ships", 10)
