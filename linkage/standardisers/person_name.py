"""Person names: one spelling per name, a pinyin key, and the parts of dotted names.

Standardiser ``"person_name"``. Value: NFKC; traditional -> simplified (OpenCC ``t2s``) with
the surname protected where OpenCC is wrong for surnames (``於`` and ``乾`` stay as they
are, OpenCC would write 于 and 干) and a small
variant fold applied to every name alike (``锺`` -> ``钟``); whitespace and punctuation
removed; notes in brackets dropped (``张三（曾用名）``); every separator of minority and
foreign names (``. • ・ ‧ - =`` and a space between long Han parts) written as ``·``.
Replacement characters that stand for a character the source could not store
(``? □ 〇 ■ �``) are written as ``?``. Latin-only names are upper-cased.

Statuses: ``ok``; ``replacement_char`` (contains a replacement character); ``not_chinese``
(no Han character: pinyin written instead, a foreign name, digits); ``no_name`` (something
was written, but nothing of a name is left: only a bracketed note or punctuation, e.g.
``<script>``); ``missing``.

Derived:
    pinyin        toneless syllables joined by spaces, surnames read as surnames
                  (单 shan, 曾 zeng, 区 ou, 万俟 mo qi, ...); latin words lower-cased
    pinyin_key    the syllables concatenated: ``zhangsan`` (same for 张三 and ZHANG SAN)
    surname       one or two characters (compound surnames); null for dotted names
    parts_sorted  dotted parts sorted and joined with ``·``: an order-insensitive key
    unstorable    bool, a replacement character was present
    written       the spelling as the department wrote it (cleaned like the value, but no
                  traditional -> simplified or variant folding): the golden record shows
                  this, since a golden value is always a spelling some department wrote
                  (``王涛頔``, never the folded ``王涛𬱖``)
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import opencc
import pyarrow as pa
import pyarrow.compute as pc
from pypinyin import lazy_pinyin

from linkage.standardisers.base import (
    MISSING,
    OK,
    OneValue,
    Standardised,
    combine_parts,
    map_distinct_columns,
    rows_where,
)

REPLACEMENT_CHAR = "replacement_char"
NOT_CHINESE = "not_chinese"
NO_NAME = "no_name"
DOT = "·"

#: Characters a source writes where it could not store the real character.
REPLACEMENT_CHARS = frozenset("?□〇■�")
#: Every way departments write the separator between parts of a minority/foreign name.
SEPARATORS = frozenset(".·•・‧∙⋅•﹒-=—_")
#: Surnames OpenCC's t2s would turn into a different surname: keep them as written.
SURNAME_PROTECT = frozenset("於乾")
#: Variant surname characters folded to one form on every record (both sides agree).
SURNAME_FOLD = {"锺": "钟"}

#: Surnames whose common reading differs from the default reading of the character.
SURNAME_READINGS = {
    "单": "shan", "曾": "zeng", "区": "ou", "仇": "qiu", "查": "zha", "解": "xie",
    "朴": "piao", "乐": "yue", "盖": "ge", "缪": "miao", "覃": "qin", "翟": "zhai",
    "尉": "yu", "员": "yun", "召": "shao", "繁": "po", "种": "chong", "秘": "bi",
    "能": "nai", "句": "gou", "过": "guo", "隗": "wei", "任": "ren", "华": "hua",
    "燕": "yan", "薄": "bo", "柏": "bai", "贲": "ben", "宓": "mi", "冼": "xian",
    "洗": "xian", "藏": "zang", "折": "she", "车": "che", "卜": "bu", "黑": "he",
    "祭": "zhai", "谌": "chen", "眭": "sui", "乜": "nie", "郇": "xun", "相": "xiang",
    "长": "chang", "重": "chong", "沈": "shen", "石": "shi", "朝": "chao", "哈": "ha",
    "阚": "kan", "纪": "ji", "蔚": "yu", "佴": "nai", "粘": "nian", "逄": "pang",
    "於": "yu", "乾": "qian", "都": "du", "角": "jue", "万": "wan", "行": "xing", "莘": "shen",
}
#: Compound surnames and their readings.
COMPOUND_SURNAMES = {
    "欧阳": "ou yang", "司马": "si ma", "上官": "shang guan", "诸葛": "zhu ge",
    "夏侯": "xia hou", "皇甫": "huang fu", "公孙": "gong sun", "慕容": "mu rong",
    "宇文": "yu wen", "司徒": "si tu", "司空": "si kong", "端木": "duan mu",
    "百里": "bai li", "呼延": "hu yan", "轩辕": "xuan yuan", "令狐": "ling hu",
    "闻人": "wen ren", "独孤": "du gu", "南宫": "nan gong", "西门": "xi men",
    "钟离": "zhong li", "宗政": "zong zheng", "濮阳": "pu yang", "太叔": "tai shu",
    "申屠": "shen tu", "公羊": "gong yang", "赫连": "he lian", "澹台": "tan tai",
    "拓跋": "tuo ba", "第五": "di wu", "羊舌": "yang she", "左丘": "zuo qiu",
    "东郭": "dong guo", "梁丘": "liang qiu", "公冶": "gong ye", "谷梁": "gu liang",
    "乐正": "yue zheng", "万俟": "mo qi", "长孙": "zhang sun", "尉迟": "yu chi",
    "单于": "chan yu", "东方": "dong fang", "完颜": "wan yan", "爱新觉罗": "ai xin jue luo",
}

_BRACKETED = re.compile(r"[(\[{（【〔《<][^)\]}）】〕》>]*[)\]}）】〕》>]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0003134f\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")

NameRow = tuple[str | None, str, str | None, str | None, str | None, str | None, bool,
                str | None]
_NULL_ROW: NameRow = (None, MISSING, None, None, None, None, False, None)
_NO_NAME_ROW: NameRow = (None, NO_NAME, None, None, None, None, False, None)
_DERIVED_TYPES = {
    "pinyin": pa.string(),
    "pinyin_key": pa.string(),
    "surname": pa.string(),
    "parts_sorted": pa.string(),
    "unstorable": pa.bool_(),
    "written": pa.string(),
}
_TYPES = [pa.string(), pa.string(), *_DERIVED_TYPES.values()]


@lru_cache(maxsize=1)
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def standardise_name_text(text: str) -> NameRow:
    """One raw name -> (value, status, pinyin, pinyin_key, surname, parts_sorted, unstorable,
    written)."""
    s = unicodedata.normalize("NFKC", text)
    if not any(ch.isalnum() for ch in s):  # blank, or only brackets and punctuation
        return _NULL_ROW
    s = _BRACKETED.sub("", s).strip()
    if not s:
        return _NO_NAME_ROW
    if not _HAN.search(s):
        return _latin(s)
    written = DOT.join(_split_parts(s))
    s = _to_simplified(s)
    unstorable = any(c in REPLACEMENT_CHARS for c in s)
    parts = _split_parts(s)
    if not parts:
        return _NO_NAME_ROW
    value = DOT.join(parts)
    surname = None if len(parts) > 1 else _surname(parts[0])
    syllables: list[str] = []
    for i, part in enumerate(parts):
        syllables.extend(_pinyin(part, surname if i == 0 else None))
    pinyin = " ".join(syllables)
    key = "".join(syllables)
    status = REPLACEMENT_CHAR if unstorable else OK
    return (value, status, pinyin, key, surname, DOT.join(sorted(parts)), unstorable,
            written or value)


def _to_simplified(s: str) -> str:
    """Fold traditional characters to simplified for comparison, one character at a time: a
    name is no phrase, and OpenCC's phrase table rewrites 沈思 (a surname and a given name)
    as the word 沉思 and 沈香 as 沉香."""
    first = s[0]
    converted = "".join(_char_t2s(ch) for ch in s)
    if first in SURNAME_PROTECT:
        converted = first + converted[1:]
    head = converted[0]
    return SURNAME_FOLD.get(head, head) + converted[1:]


@lru_cache(maxsize=1 << 16)
def _char_t2s(ch: str) -> str:
    return str(_converter().convert(ch))


def _split_parts(s: str) -> list[str]:
    """Split on any separator; a space separates parts only between long Han runs."""
    kept: list[str] = []
    for ch in s:
        if ch in SEPARATORS:
            kept.append(DOT)
        elif ch.isspace():
            kept.append(" ")
        elif ch in REPLACEMENT_CHARS:
            kept.append("?")
        elif unicodedata.category(ch)[0] in "LN":
            kept.append(ch)
        # other punctuation and symbols are dropped
    joined = "".join(kept)
    if " " in joined:
        words = joined.replace(DOT, " ").split()
        spaced_parts = DOT not in joined and len("".join(words)) >= 5 and len(words) > 1
        joined = DOT.join(words) if spaced_parts else "".join(joined.split())
    return [p for p in joined.split(DOT) if p]


def _surname(name: str) -> str | None:
    if len(name) >= 3:
        for compound in (name[:4], name[:2]):
            if compound in COMPOUND_SURNAMES:
                return compound
    first = name[0]
    return first if _HAN.match(first) else None


def _pinyin(part: str, surname: str | None) -> list[str]:
    syllables: list[str] = []
    rest = part
    if surname is not None and part.startswith(surname):
        if surname in COMPOUND_SURNAMES:
            syllables.extend(COMPOUND_SURNAMES[surname].split())
        elif surname in SURNAME_READINGS:
            syllables.append(SURNAME_READINGS[surname])
        else:
            syllables.extend(_syllables(surname))
        rest = part[len(surname):]
    syllables.extend(_syllables(rest))
    return syllables


def _syllables(text: str) -> list[str]:
    """One syllable per Han character (cached per character: names are short and pypinyin's
    phrase segmentation costs ~30 us a call), latin runs as one lower-case word, ``?``
    kept as its own syllable."""
    out: list[str] = []
    latin = ""
    for ch in text:
        if ch.isascii() and ch.isalnum():
            latin += ch.lower()
            continue
        if latin:
            out.append(latin)
            latin = ""
        if _HAN.match(ch):
            out.append(_char_pinyin(ch))
        elif ch == "?":
            out.append("?")
    if latin:
        out.append(latin)
    return out


@lru_cache(maxsize=1 << 16)
def _char_pinyin(ch: str) -> str:
    """Toneless default reading of one character (the character itself when unknown)."""
    reading = lazy_pinyin(ch, errors=_keep)
    return reading[0].lower() if reading else ch


def _keep(chunk: str) -> str:
    """pypinyin hook: keep text it has no reading for as it is."""
    return chunk


def _latin(s: str) -> NameRow:
    words = [w.upper() for w in _LATIN_WORD.findall(s)]
    if not words:
        digits = "".join(ch for ch in s if ch.isalnum())
        return (digits or None, NOT_CHINESE, None, None, None, None, False, digits or None)
    value = " ".join(words)
    lower = [w.lower() for w in words]
    return (value, NOT_CHINESE, " ".join(lower), "".join(lower), None, DOT.join(sorted(words)),
            False, value)


#: a name written in Han characters of the basic block only (most names): column work
_HAN_ONLY = "^[\u4e00-\u9fff]+$"
#: compound surnames as code points, longest first (the order :func:`_surname` tries them)
_COMPOUNDS = sorted((tuple(ord(c) for c in k) for k in COMPOUND_SURNAMES), key=len,
                    reverse=True)


def _names_distinct(texts: pa.Array) -> list[pa.Array]:
    """:func:`standardise_name_text` of distinct names, as its eight columns: names of
    Han characters only (whose characters convert, fold and read one by one) are done as
    arrays of code points, the others one by one."""
    han = rows_where(pc.match_substring_regex(texts, _HAN_ONLY))
    fast, columns = _han_names(texts.take(pa.array(han))) if len(han) else (han, [])
    done = han[fast]
    rest = np.setdiff1d(np.arange(len(texts), dtype=np.int64), done, assume_unique=True)
    parts: list[tuple[npt.NDArray[np.int64], Sequence[pa.Array]]] = []
    if len(done):
        parts.append((done, columns))
    if len(rest):
        rows = [standardise_name_text(t) for t in texts.take(pa.array(rest)).to_pylist()]
        parts.append((rest, [pa.array([r[j] for r in rows], typ)
                             for j, typ in enumerate(_TYPES)]))
    return combine_parts(len(texts), parts) if parts else [pa.array([], t) for t in _TYPES]


def _han_names(names: pa.Array) -> tuple[npt.NDArray[np.int64], list[pa.Array]]:
    """(positions of the names done, their eight columns) for names of basic-block Han
    characters (three UTF-8 bytes each). A name is done here when each of its characters
    converts to one such letter that reads as one syllable; the rest is left to
    :func:`standardise_name_text`. What this computes is what that function computes for
    such a name: value = the characters converted (the first one protected, then folded),
    one part, surname = a compound surname or the first character, syllables = the
    surname's reading, then each further character's."""
    offsets = np.frombuffer(names.buffers()[1], dtype=np.int32)[
        names.offset: names.offset + len(names) + 1].astype(np.int64)
    data = np.frombuffer(names.buffers()[2], dtype=np.uint8)[offsets[0]: offsets[-1]]
    offsets -= offsets[0]
    utf8 = data.reshape(-1, 3).astype(np.int64)
    points = ((utf8[:, 0] & 0x0F) << 12) | ((utf8[:, 1] & 0x3F) << 6) | (utf8[:, 2] & 0x3F)
    starts, lengths = offsets[:-1] // 3, np.diff(offsets) // 3
    n = len(names)
    distinct, at = np.unique(points, return_inverse=True)
    converted, safe = _simplified_points(distinct)
    # value: each character converted; the first one kept when protected, then folded
    value = converted[at]
    first = points[starts]
    head = np.where(np.isin(first, [ord(c) for c in SURNAME_PROTECT]), first, value[starts])
    for variant, folded in SURNAME_FOLD.items():
        head = np.where(head == ord(variant), ord(folded), head)
    value[starts] = head
    value_text = _utf8_strings(value, lengths)
    # surname: a compound one (tried longest first, in names of three characters or more)
    compound = np.full(n, -1, dtype=np.int64)
    for k, word in enumerate(_COMPOUNDS):
        fits = (compound < 0) & (lengths >= max(3, len(word)))
        for i, code in enumerate(word):
            fits[fits] &= value[starts[fits] + i] == code
        compound[fits] = k
    size = np.ones(n, dtype=np.int64)
    for k, word in enumerate(_COMPOUNDS):
        size[compound == k] = len(word)
    surname = pc.utf8_slice_codeunits(value_text, 0, 1)
    for length in np.unique(size[size > 1]).tolist():
        surname = pc.if_else(pa.array(size == length),
                             pc.utf8_slice_codeunits(value_text, 0, length), surname)
    # syllables: the surname's reading, then one per further character
    spoken, read_at = np.unique(value, return_inverse=True)
    readings = [_char_pinyin(chr(c)) for c in spoken.tolist()]
    sound = np.array([bool(r) and " " not in r for r in readings], dtype=bool)
    syllable = np.array(readings, dtype=object)[read_at]
    own = [SURNAME_READINGS.get(chr(c)) for c in spoken.tolist()]
    surname_reading = np.array(own, dtype=object)[read_at[starts]]
    single = np.flatnonzero((compound < 0) & (surname_reading != None))  # noqa: E711
    syllable[starts[single]] = surname_reading[single]
    key = syllable.copy()
    for k, word in enumerate(_COMPOUNDS):
        mine = starts[compound == k]
        reading = COMPOUND_SURNAMES["".join(map(chr, word))]
        syllable[mine], key[mine] = reading, reading.replace(" ", "")
    kept = np.ones(len(value), dtype=bool)
    for i in range(1, int(size.max(initial=1))):
        kept[starts[size > i] + i] = False
    counts = np.add.reduceat(kept.astype(np.int64), starts)
    bounds = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    pinyin = pc.binary_join(pa.ListArray.from_arrays(
        bounds, pa.array(syllable[kept].tolist(), pa.string())), " ")
    keys = pc.binary_join(pa.ListArray.from_arrays(
        bounds, pa.array(key[kept].tolist(), pa.string())), "")
    ok = np.logical_and.reduceat(safe[at] & sound[read_at], starts)
    done = np.flatnonzero(ok)
    pick = pa.array(done)
    columns = [value_text, pa.repeat(pa.scalar(OK), n), pinyin, keys, surname, value_text,
               pa.repeat(pa.scalar(False), n), names]
    return done, [c.take(pick) for c in columns]


def _simplified_points(points: npt.NDArray[np.int64]) -> tuple[
        npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Per distinct code point: its simplified one, and whether a name of such characters
    is column work (the character and its conversion are letters of the basic block)."""
    converted = points.copy()
    safe = np.zeros(len(points), dtype=bool)
    for i, code in enumerate(points.tolist()):
        ch = chr(code)
        simple = _char_t2s(ch)
        if len(simple) == 1 and "\u4e00" <= simple <= "\u9fff" and all(
                unicodedata.category(c)[0] == "L" for c in (ch, simple)):
            converted[i], safe[i] = ord(simple), True
    return converted, safe


def _utf8_strings(points: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64]) -> pa.Array:
    """Strings of basic-block code points (three UTF-8 bytes each), ``lengths`` per string."""
    utf8 = np.empty((len(points), 3), dtype=np.uint8)
    utf8[:, 0] = 0xE0 | (points >> 12)
    utf8[:, 1] = 0x80 | ((points >> 6) & 0x3F)
    utf8[:, 2] = 0x80 | (points & 0x3F)
    offsets = np.concatenate([[0], np.cumsum(lengths * 3)]).astype(np.int32)
    return pa.StringArray.from_buffers(len(lengths), pa.py_buffer(offsets),
                                       pa.py_buffer(utf8.tobytes()))


def standardise_person_name(values: pa.Array) -> Standardised:
    """Standardiser ``"person_name"`` (see the module docstring)."""
    columns = map_distinct_columns(values, _names_distinct, _TYPES, null_result=_NULL_ROW)
    return Standardised(
        value=columns[0],
        status=columns[1],
        derived=dict(zip(_DERIVED_TYPES, columns[2:], strict=True)),
    )


#: :func:`standardise_person_name` for one value
PERSON_NAME_ONE = OneValue(standardise_name_text, tuple(_DERIVED_TYPES), _NULL_ROW)
