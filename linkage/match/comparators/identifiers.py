"""Identity numbers and enterprise identifiers, compared on fixed-width byte matrices.

Levels are encoded as similarity values (see ``default_thresholds``: 0.85, 0.95):

* 0.95  equal once wildcards (``*`` masked positions) and legacy forms are accounted for:
  a 15-digit ID upgraded to 18 digits, a credit code whose embedded organisation code
  (positions 9-17) equals an organisation code;
* 0.90  one substitution or one adjacent transposition apart (typing errors);
* < 0.85  anything else (share of agreeing positions, scaled below the first threshold);
* NaN  not comparable (a credit code against a 15-digit registration number).

A 15-character tax registration number (division + organisation code) meets credit codes
and organisation codes through its organisation code, like an organisation code does.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from linkage.match.comparators.strings import Cache, Codes, Derived, Values, as_list, memo

# GB 11643-1999 check (see shared DOMAIN notes); kept here so comparing does not import the
# standardisers (OpenCC, pypinyin: ~100 MB) just for one checksum.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_STAR = ord("*")
_CHUNK = 1 << 12  # pairs per slab: byte matrices of ~74 kB stay in cache (and off mmap)


def id_number_similarity(
    uniques: Values, a: Codes, b: Codes, derived: Derived | None = None,
    cache: Cache | None = None,
) -> npt.NDArray[np.float32]:
    """ID numbers: masked positions are wildcards, 15 digits equal their 18-digit upgrade,
    one substitution / transposition is its own level."""
    matrix, lengths = memo(cache, "ids", lambda: _prepare_ids(uniques))
    return _positional(matrix, lengths, a, b)


def _prepare_ids(uniques: Values) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Byte matrix of the values, legacy / lower-case ones upgraded first (only those go
    through Python: nearly every value is already an 18-character number)."""
    matrix, lengths = _char_matrix(uniques, 18)
    odd = np.flatnonzero((lengths != 18) | (matrix == ord("x")).any(axis=1))
    if len(odd):
        odd_values = (uniques.take(pa.array(odd)).to_pylist() if isinstance(uniques, pa.Array)
                      else [uniques[i] for i in odd.tolist()])
        upgraded = [_upgrade_id(v) for v in odd_values]
        odd_matrix, odd_lengths = _byte_matrix(upgraded, 18)
        matrix[odd] = odd_matrix
        short = np.minimum(lengths, 18)
        short[odd] = odd_lengths
        return matrix, short
    return matrix, np.minimum(lengths, 18)


def credit_code_similarity(
    uniques: Values, a: Codes, b: Codes, derived: Derived | None = None,
    cache: Cache | None = None,
) -> npt.NDArray[np.float32]:
    """Credit code vs credit code positionally; credit code vs organisation code through the
    embedded organisation code; registration numbers only against registration numbers."""
    kinds, (full, full_len), (org_m, org_len) = memo(
        cache, "codes", lambda: _prepare_codes(uniques))
    sims = np.full(len(a), np.nan, dtype=np.float32)
    ka, kb = kinds[a], kinds[b]
    same = (ka == kb) & (ka != 0)
    if same.any():
        sims[same] = _positional(full, full_len, a[same], b[same])
    # credit code, organisation code and tax registration number (16) meet through the
    # organisation code each of them holds
    holds_org = (ka == 18) | (ka == 9) | (ka == _TAX)
    mixed = holds_org & ((kb == 18) | (kb == 9) | (kb == _TAX)) & (ka != kb)
    if mixed.any():
        via_org = _positional(org_m, org_len, a[mixed], b[mixed])
        sims[mixed] = np.where(via_org >= 1.0, 0.95, via_org)
    other = (ka == 0) | (kb == 0)
    if other.any():  # unknown shapes: plain positional agreement, never a high level
        sims[other] = np.minimum(_positional(full, full_len, a[other], b[other]), 0.8)
    return sims


def _prepare_codes(uniques: Values) -> tuple[
    npt.NDArray[np.int8],
    tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]],
    tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]],
]:
    """Kind of each code and byte matrices of the full code and its organisation part."""
    cleaned = [_clean_code(v) for v in as_list(uniques)]
    kinds = np.asarray([_code_kind(v) for v in cleaned], dtype=np.int8)
    # The organisation-code part of each value (credit code positions 9-17, or the org code).
    org = [v[8:17] if k == 18 else (v if k == 9 else (v[6:] if k == _TAX else ""))
           for v, k in zip(cleaned, kinds.tolist(), strict=True)]
    return kinds, _byte_matrix(cleaned, 18), _byte_matrix(org, 9)


def _positional(
    matrix: npt.NDArray[np.uint8], lengths: npt.NDArray[np.int64], a: Codes, b: Codes
) -> npt.NDArray[np.float32]:
    """Per pair: 1.0 equal, 0.95 equal up to wildcards, 0.9 one substitution or adjacent
    transposition, else 0.8 x the share of agreeing positions."""
    out = np.empty(len(a), dtype=np.float32)
    for start in range(0, len(a), _CHUNK):
        sa, sb = a[start:start + _CHUNK], b[start:start + _CHUNK]
        left, right = matrix[sa], matrix[sb]
        same_len = lengths[sa] == lengths[sb]
        wild = (left == _STAR) | (right == _STAR)
        differ = (left != right) & ~wild
        n_diff = differ.sum(axis=1)
        n_wild = (wild & (left != right)).sum(axis=1)
        width = np.maximum(np.maximum(lengths[sa], lengths[sb]), 1)
        sim = 0.8 * (1.0 - n_diff / width)
        one_sub = same_len & (n_diff == 1) & (n_wild == 0)
        transposed = same_len & (n_diff == 2) & (n_wild == 0) & _adjacent_swap(left, right, differ)
        sim = np.where(one_sub | transposed, 0.9, sim)
        sim = np.where(same_len & (n_diff == 0) & (n_wild > 0), 0.95, sim)
        sim = np.where(same_len & (n_diff == 0) & (n_wild == 0), 1.0, sim)
        out[start:start + _CHUNK] = sim
    return out


def _adjacent_swap(
    left: npt.NDArray[np.uint8], right: npt.NDArray[np.uint8], differ: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    """Rows whose only two differing positions are adjacent and hold swapped characters."""
    pair = differ[:, :-1] & differ[:, 1:]
    crossed = (left[:, :-1] == right[:, 1:]) & (left[:, 1:] == right[:, :-1])
    return np.asarray((pair & crossed).any(axis=1), dtype=bool)


def _byte_matrix(
    values: Values, width: int
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Values as an (n, width) uint8 matrix (non-ASCII -> 0xFF, padding 0) plus lengths
    (capped at ``width``)."""
    matrix, lengths = _char_matrix(values, width)
    return matrix, np.minimum(lengths, width)


def _char_matrix(
    values: Values, width: int
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Values as an (n, width) uint8 matrix of their first ``width`` characters (non-ASCII
    -> 0xFF, padding 0) plus their full lengths in characters. An all-ASCII Arrow array
    is read from its buffers; anything else goes through NumPy's fixed-width strings."""
    if isinstance(values, pa.Array):
        fast = _ascii_matrix(values, width)
        if fast is not None:
            return fast
        values = values.to_pylist()
    n = len(values)
    matrix = np.zeros((n, width), dtype=np.uint8)
    lengths = np.zeros(n, dtype=np.int64)
    if n == 0:
        return matrix, lengths
    raw = np.asarray(values, dtype=f"<U{width}")  # NumPy cuts longer values to width
    codes = raw.view(np.uint32).reshape(n, width)
    matrix[:] = np.where(codes > 127, 255, codes).astype(np.uint8)
    lengths[:] = np.fromiter(map(len, values), np.int64, n)
    return matrix, lengths


def _ascii_matrix(
    values: pa.Array, width: int
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]] | None:
    """:func:`_char_matrix` of a null-free, all-ASCII Arrow string array straight from its
    offsets and data (one byte per character), or None when it is not one."""
    if not pa.types.is_string(values.type) or values.null_count:
        return None
    n = len(values)
    if n == 0 or not pc.all(pc.string_is_ascii(values)).as_py():
        return None
    _, offset_buf, data_buf = values.buffers()
    offsets = np.frombuffer(offset_buf, dtype=np.int32)[values.offset:values.offset + n + 1]
    lengths = np.diff(offsets).astype(np.int64)
    data = (np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None
            else np.zeros(0, dtype=np.uint8))
    if len(data) == 0:
        return np.zeros((n, width), dtype=np.uint8), lengths
    if (lengths == width).all():  # fixed width: the data buffer is the matrix
        return data[offsets[0]:offsets[-1]].reshape(n, width).copy(), lengths
    columns = np.arange(width)
    matrix = data[np.minimum(offsets[:-1, None] + columns, len(data) - 1)]
    matrix[columns >= lengths[:, None]] = 0
    return matrix, lengths


def _upgrade_id(value: str) -> str:
    """Upper-case; a 15-digit legacy number becomes its 18-digit form (born 19xx)."""
    v = value.strip().upper()
    if len(v) == 15 and v.isdigit():
        body = v[:6] + "19" + v[6:]
        total = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True))
        return body + _ID_CHECK[total % 11]
    return v


def _clean_code(value: str) -> str:
    return value.strip().upper().replace("-", "").replace(" ", "")


_TAX = 16
_ORG_VALUES = {c: i for i, c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")}
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _is_tax_number(value: str) -> bool:
    """A 15-character tax registration number: 6-digit division + an organisation code
    (with letters, or all digits with a valid org check but no valid registration-number
    check) (GB 11714 / ISO 7064, restated from
    the standardisers' checksums for the reason given at the top)."""
    if not value[:6].isdigit() or not value.isascii() or len(value) != 15:
        return False
    if not value.isdigit():  # letters: no registration number (org check or not)
        return all(c in _ORG_VALUES for c in value[6:14]) and value[14] in "0123456789X"
    if value.isdigit():
        p = 10
        for d in value[:14]:
            t = (p + int(d)) % 10 or 10
            p = (2 * t) % 11
        if str((11 - p) % 10) == value[14]:
            return False
    body = value[6:14]
    if any(c not in _ORG_VALUES for c in body):
        return False
    c = 11 - sum(_ORG_VALUES[ch] * w for ch, w in zip(body, _ORG_WEIGHTS, strict=True)) % 11
    return ("X" if c == 10 else "0" if c == 11 else str(c)) == value[14]


def _code_kind(value: str) -> int:
    """18 credit code, 9 organisation code, 15 registration number, 16 (``_TAX``) tax
    registration number (division + organisation code), 0 anything else."""
    n = len(value)
    if n in (18, 9):
        return n
    if n == 15:
        if _is_tax_number(value):
            return _TAX
        if value.isdigit():
            return 15
    return 0
