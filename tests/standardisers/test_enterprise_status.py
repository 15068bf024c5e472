"""Enterprise status: every department's word for a state reads as that state."""

from __future__ import annotations

import pyarrow as pa

from linkage.standardisers import get_standardiser
from linkage.standardisers.enterprise_status import standardise_enterprise_status


def test_departments_words_fold_to_one_state() -> None:
    words = ["存续（在营、开业、在册）", "正常", " 在业 ", "开业", "吊销，未注销", "吊销后注销",
             "非正常户", "破产重整", "", None]
    out = standardise_enterprise_status(pa.array(words, pa.string()))
    assert out.value.to_pylist() == ["存续", "存续", "存续", "存续", "吊销", "注销", "非正常",
                                     "破产重整", None, None]
    assert out.status.to_pylist() == ["ok"] * 7 + ["unknown_term", "missing", "missing"]
    assert out.derived["term"].to_pylist()[:2] == ["存续(在营、开业、在册)", "正常"]
    assert get_standardiser("enterprise_status") is standardise_enterprise_status
