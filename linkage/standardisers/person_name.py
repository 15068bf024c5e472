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
from functools import lru_cache

import opencc
import pyarrow as pa
from pypinyin import lazy_pinyin

from linkage.standardisers.base import MISSING, OK, OneValue, Standardised, map_distinct

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


def standardise_person_name(values: pa.Array) -> Standardised:
    """Standardiser ``"person_name"`` (see the module docstring)."""
    columns = map_distinct(values, standardise_name_text, _TYPES, null_result=_NULL_ROW)
    return Standardised(
        value=columns[0],
        status=columns[1],
        derived=dict(zip(_DERIVED_TYPES, columns[2:], strict=True)),
    )


#: :func:`standardise_person_name` for one value
PERSON_NAME_ONE = OneValue(standardise_name_text, tuple(_DERIVED_TYPES), _NULL_ROW)
