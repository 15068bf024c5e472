"""What a pipeline file can say about reading a source beyond "this column is that field".

Departments' files rarely hold one field per column. Applied to a source's cells (all text)
before its columns are renamed to canonical fields, in this order:

``where``    a row filter, for a file holding persons and enterprises together: a small,
             safe comparison language evaluated over the one table with Arrow compute,
             never SQL and never a path (``当事人类型 = '自然人' and 证件号码 is not null``).
             Grammar: ``or`` / ``and`` / ``not`` / parentheses over comparisons
             ``column op literal`` (``= == != <> < <= > >=``), ``column [not] in (a, b)``,
             ``column is [not] null`` (blank counts as null), ``column [not] like 'pat%'``
             (``%`` any run, ``_`` one character). A column is a bare word or written in
             double quotes or backquotes; a literal is a number or in single quotes. A
             number compares as a number, anything else as text. A comparison with a null
             cell is false, as in SQL. Rows left out are counted in the log: they belong to
             the other ``[[sources]]`` entry reading the same file.
``columns``  a field may list several columns (``address = ["户籍省份", "户籍城市",
             "户籍区县", "详细地址"]``): their trimmed, non-blank cells joined in order.
``units``    the unit a source writes a field's plain numbers in
             (``units = { capital = "yuan" }``): ``yuan`` (元), ``wan`` (万元) or ``yi``
             (亿元). A cell that names its own unit (``300万元``) keeps it.
``values``   per-source value maps (``values = { status = { "正常" = "存续" } }``): a cell
             equal to a key (after trimming) reads as its value; others pass unchanged.

:func:`apply_mapping` returns the table with one prepared column per field and the field ->
column mapping to rename by, so the reader's own checks (absent columns, blank keys) run
unchanged on the result.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from linkage.config import SourceConfig
from linkage.errors import SourceError

log = logging.getLogger(__name__)

__all__ = ["UNIT_SUFFIX", "WhereError", "apply_mapping", "parse_where", "where_mask"]

#: What a plain number of each unit becomes for the ``amount_wan`` standardiser.
UNIT_SUFFIX: Mapping[str, str] = {"yuan": "元", "wan": "万元", "yi": "亿元"}
_PLAIN_NUMBER = r"^\s*[+-]?[0-9][0-9,]*(\.[0-9]+)?\s*$"
_PREFIX = "\x00field:"  # names of prepared columns (no file header starts with NUL)


def apply_mapping(table: pa.Table, rows: pa.Array,
                  source: SourceConfig) -> tuple[pa.Table, pa.Array, dict[str, str]]:
    """The rows ``where`` keeps (and their data-row numbers), with a prepared column for
    every field that needs one, and the field -> column mapping to rename by."""
    if source.where:
        try:
            keep = where_mask(source.where, table)
        except WhereError as exc:
            raise SourceError(f"where: {exc}", source=source.label, field="where") from None
        n = table.num_rows
        table, rows = table.filter(keep), rows.filter(keep)
        log.info("source %s: where kept %d of %d rows", source.label, table.num_rows, n)
    columns: dict[str, str] = {}
    for name, spec in source.columns.items():
        parts = (spec,) if isinstance(spec, str) else tuple(spec)
        unit = source.units.get(name)
        mapping = source.values.get(name)
        if len(parts) == 1 and unit is None and not mapping:
            columns[name] = parts[0]
            continue
        absent = [c for c in parts if c not in table.column_names]
        if absent:
            raise SourceError(f"mapped column(s) not in the file: {', '.join(map(repr, absent))}"
                              f" (columns present: "
                              f"{', '.join(map(repr, table.column_names[:30]))})",
                              source=source.label, field=f"columns.{name}")
        value = _joined(table, parts)
        if unit is not None:
            value = with_unit(value, unit)
        if mapping:
            value = mapped(value, mapping)
        prepared = f"{_PREFIX}{name}"
        table = table.append_column(prepared, value)
        columns[name] = prepared
    return table, rows, columns


def _joined(table: pa.Table, parts: Sequence[str]) -> pa.Array:
    """The trimmed, non-blank cells of ``parts`` joined in order (null when all blank)."""
    texts = []
    for name in parts:
        col = table.column(name).combine_chunks()
        col = col if pa.types.is_string(col.type) else pc.cast(col, pa.string())
        texts.append(pc.fill_null(pc.utf8_trim_whitespace(col), ""))
    out = texts[0] if len(texts) == 1 else pc.binary_join_element_wise(*texts, "")
    return pc.if_else(pc.equal(out, ""), pa.scalar(None, pa.string()), out)


def with_unit(values: pa.Array, unit: str) -> pa.Array:
    """Plain numbers get the unit's suffix; cells that name a unit stay as written."""
    suffix = UNIT_SUFFIX[unit]
    plain = pc.fill_null(pc.match_substring_regex(values, _PLAIN_NUMBER), False)
    return pc.if_else(plain, pc.binary_join_element_wise(pc.utf8_trim_whitespace(values),
                                                         suffix, ""), values)


def mapped(values: pa.Array, mapping: Mapping[str, str]) -> pa.Array:
    """Cells equal to a key of ``mapping`` (after trimming) replaced by its value."""
    keys = pa.array(list(mapping), pa.string())
    targets = pa.array(list(mapping.values()), pa.string())
    at = pc.index_in(pc.utf8_trim_whitespace(values), value_set=keys)
    return pc.if_else(pc.is_valid(at), targets.take(at), values)


# --- where ----------------------------------------------------------------------------------


class WhereError(ValueError):
    """A ``where`` expression that does not parse or names an absent column."""


@dataclass(frozen=True)
class _Cmp:
    column: str
    op: str  # = != < <= > >= in like null
    value: Any = None
    negate: bool = False


@dataclass(frozen=True)
class _Bool:
    op: str  # and / or / not
    args: tuple[Any, ...]


_TOKEN = re.compile(r"""
    \s*(?:
      (?P<str>'(?:[^']|'')*')
    | (?P<qid>"[^"]+"|`[^`]+`)
    | (?P<num>[+-]?\d+(?:\.\d+)?(?![^\s()=!<>,]))
    | (?P<op><=|>=|<>|!=|==|=|<|>)
    | (?P<punct>[(),])
    | (?P<word>[^\s()=!<>,'"`]+)
    )""", re.VERBOSE)
_KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "like"})


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise WhereError(f"cannot read {text[pos:pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup
        assert kind is not None
        value = m.group(kind)
        if kind == "word" and value.lower() in _KEYWORDS:
            out.append(("kw", value.lower()))
        else:
            out.append((kind, value))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise WhereError("the expression ends too early")
        self.i += 1
        return token

    def keyword(self, word: str) -> bool:
        if self.peek() == ("kw", word):
            self.i += 1
            return True
        return False

    def expect(self, kind: str, value: str) -> None:
        token = self.take()
        if token != (kind, value):
            raise WhereError(f"expected {value!r}, found {token[1]!r}")

    def parse(self) -> Any:
        node = self.or_()
        if self.peek() is not None:
            raise WhereError(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return node

    def or_(self) -> Any:
        args = [self.and_()]
        while self.keyword("or"):
            args.append(self.and_())
        return args[0] if len(args) == 1 else _Bool("or", tuple(args))

    def and_(self) -> Any:
        args = [self.not_()]
        while self.keyword("and"):
            args.append(self.not_())
        return args[0] if len(args) == 1 else _Bool("and", tuple(args))

    def not_(self) -> Any:
        if self.keyword("not"):
            return _Bool("not", (self.not_(),))
        if self.peek() == ("punct", "("):
            self.take()
            node = self.or_()
            self.expect("punct", ")")
            return node
        return self.comparison()

    def comparison(self) -> _Cmp:
        kind, text = self.take()
        if kind == "qid":
            column = text[1:-1]
        elif kind == "word":
            column = text
        else:
            raise WhereError(f"expected a column name, found {text!r}")
        if self.keyword("is"):
            negate = self.keyword("not")
            if not self.keyword("null"):
                raise WhereError(f"expected 'null' after 'is' ({column})")
            return _Cmp(column, "null", negate=negate)
        negate = self.keyword("not")
        if self.keyword("in"):
            self.expect("punct", "(")
            items = [self.literal()]
            while self.peek() == ("punct", ","):
                self.take()
                items.append(self.literal())
            self.expect("punct", ")")
            return _Cmp(column, "in", tuple(items), negate)
        if self.keyword("like"):
            pattern = self.literal()
            if not isinstance(pattern, str):
                raise WhereError("like needs a quoted pattern")
            return _Cmp(column, "like", pattern, negate)
        if negate:
            raise WhereError(f"expected 'in' or 'like' after 'not' ({column})")
        kind, op = self.take()
        if kind != "op":
            raise WhereError(f"expected a comparison after {column!r}, found {op!r}")
        op = {"==": "=", "<>": "!="}.get(op, op)
        return _Cmp(column, op, self.literal())

    def literal(self) -> str | float:
        kind, text = self.take()
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return float(text)
        raise WhereError(f"expected a quoted text or a number, found {text!r}")


def parse_where(text: str) -> Any:
    """The expression tree of a ``where`` text (raises :class:`WhereError`)."""
    if not text.strip():
        raise WhereError("the expression is empty")
    return _Parser(text).parse()


def where_mask(text: str, table: pa.Table) -> pa.Array:
    """Boolean mask of the rows ``text`` keeps (nulls count as not kept)."""
    tree = parse_where(text)
    return pc.fill_null(_evaluate(tree, table), False)


def _evaluate(node: Any, table: pa.Table) -> pa.Array:
    if isinstance(node, _Bool):
        parts = [pc.fill_null(_evaluate(a, table), False) for a in node.args]
        if node.op == "not":
            return pc.invert(parts[0])
        out = parts[0]
        for p in parts[1:]:
            out = pc.and_(out, p) if node.op == "and" else pc.or_(out, p)
        return out
    assert isinstance(node, _Cmp)
    if node.column not in table.column_names:
        raise WhereError(f"no column {node.column!r} (columns present: "
                         f"{', '.join(map(repr, table.column_names[:30]))})")
    col = table.column(node.column).combine_chunks()
    col = col if pa.types.is_string(col.type) else pc.cast(col, pa.string())
    text = pc.utf8_trim_whitespace(col)
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    if node.op == "null":
        out = pc.is_null(text)
    elif node.op == "in":
        values = node.value
        if all(isinstance(v, float) for v in values):
            out = pc.is_in(_numbers(text), value_set=pa.array(values, pa.float64()))
        else:
            out = pc.is_in(text, value_set=pa.array([_as_text(v) for v in values], pa.string()))
        out = pc.if_else(pc.is_null(text), pa.scalar(None, pa.bool_()), out)
    elif node.op == "like":
        regex = "^" + "".join(".*" if c == "%" else "." if c == "_" else re.escape(c)
                              for c in node.value) + "$"
        out = pc.match_substring_regex(text, regex)
    else:
        if isinstance(node.value, float):
            left: pa.Array = _numbers(text)
            right: Any = pa.scalar(node.value, pa.float64())
        else:
            left, right = text, pa.scalar(node.value, pa.string())
        fn = {"=": pc.equal, "!=": pc.not_equal, "<": pc.less, "<=": pc.less_equal,
              ">": pc.greater, ">=": pc.greater_equal}[node.op]
        out = fn(left, right)
    if node.negate:
        out = pc.invert(out)
    return out


def _numbers(text: pa.Array) -> pa.Array:
    """Text cells as numbers; a cell that is no number is null (compares false)."""
    numeric = pc.fill_null(pc.match_substring_regex(text, r"^[+-]?\d+(\.\d+)?$"), False)
    return pc.cast(pc.if_else(numeric, text, pa.scalar(None, pa.string())), pa.float64())


def _as_text(value: str | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
