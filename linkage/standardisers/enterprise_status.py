"""Enterprise registration status: each department's words folded to one vocabulary.

Standardiser ``"enterprise_status"``. Market regulation writes ``存续（在营、开业、在册）``,
tax writes ``正常``, courts and customs write ``在业`` or ``开业``: the same state. Comparing the
words as text made 41,399 of 45,033 status conflicts on one real run pure vocabulary. The
shipped vocabulary (:data:`STATUS_VOCABULARY`) maps the words in use to the registration
states of the market-regulation register:

    存续      active (在营 / 开业 / 在册 / 正常 / 在业 / 登记成立 / 确立 / 有效 ...)
    吊销      licence revoked, not yet deregistered (吊销未注销 ...)
    注销      deregistered (also 吊销后注销: revoked, then deregistered)
    迁出      moved to another registration authority
    撤销      registration cancelled
    停业      business suspended (歇业)
    清算      in liquidation
    非正常    a tax-only state (非正常户: the taxpayer cannot be reached); still registered

A department's other words go through the pipeline file's per-source ``values`` map
(:mod:`linkage.io.mapping`) before this runs.

Value: the state above; an unknown word is kept as written (trimmed, NFKC), status
``unknown_term``. Derived ``term``: the word as written (NFKC, spaces removed), so a report
can show which vocabulary a department used.

Statuses: ``ok``, ``unknown_term``, ``missing``.
"""

from __future__ import annotations

import re
import unicodedata

import pyarrow as pa

from linkage.standardisers.base import MISSING, OK, Standardised, map_distinct

UNKNOWN_TERM = "unknown_term"

#: State -> the words departments write for it (compared after NFKC, without spaces and
#: brackets' content order kept).
STATUS_VOCABULARY: dict[str, tuple[str, ...]] = {
    "存续": ("存续", "在营", "开业", "在册", "正常", "在业", "营业", "登记成立", "确立", "有效",
             "存续(在营、开业、在册)", "存续(在营,开业,在册)", "在营(开业)", "在营(开业)企业",
             "开业/正常", "正常户", "登记", "已登记", "active"),
    "吊销": ("吊销", "已吊销", "吊销未注销", "吊销,未注销", "吊销、未注销", "吊销营业执照",
             "吊销(未注销)", "已吊销未注销"),
    "注销": ("注销", "已注销", "注销登记", "吊销后注销", "吊销,已注销", "吊销、已注销",
             "吊销已注销", "注销企业", "终止", "已终止"),
    "迁出": ("迁出", "已迁出", "迁往外地", "迁移"),
    "撤销": ("撤销", "已撤销", "撤销登记", "撤销设立登记"),
    "停业": ("停业", "歇业", "停业(歇业)", "暂停营业"),
    "清算": ("清算", "清算中", "正在清算", "破产清算"),
    "非正常": ("非正常", "非正常户", "非正常户认定"),
}

_LOOKUP = {term: state for state, terms in STATUS_VOCABULARY.items() for term in terms}
_SPACES = re.compile(r"\s+")

StatusRow = tuple[str | None, str, str | None]
_NULL_ROW: StatusRow = (None, MISSING, None)


def standardise_status_text(text: str) -> StatusRow:
    """One raw status word -> (state, status, term as written)."""
    term = _SPACES.sub("", unicodedata.normalize("NFKC", text))
    if not term:
        return _NULL_ROW
    key = term.replace("，", ",").replace("（", "(").replace("）", ")")
    state = _LOOKUP.get(key) or _LOOKUP.get(key.lower())
    if state is None:
        return (term, UNKNOWN_TERM, term)
    return (state, OK, term)


def standardise_enterprise_status(values: pa.Array) -> Standardised:
    """Standardiser ``"enterprise_status"`` (see the module docstring)."""
    columns = map_distinct(values, standardise_status_text, [pa.string()] * 3,
                           null_result=_NULL_ROW)
    return Standardised(value=columns[0], status=columns[1], derived={"term": columns[2]})
