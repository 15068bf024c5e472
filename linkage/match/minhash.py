"""MinHash signatures and LSH bands for a fuzzy blocking pass (enterprise names, addresses).

Two values whose character q-gram sets have Jaccard similarity s share at least one of
``bands`` bands of ``rows`` MinHash values with probability 1 - (1 - s**rows)**bands, so
near-duplicates meet in some block while unrelated values rarely do. Signatures are
computed once per distinct value (seeded, deterministic); each band then becomes an
ordinary block id per record, handled like an exact pass.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc


def signatures(
    values: Sequence[str], *, q: int, n_hashes: int, seed: int
) -> npt.NDArray[np.uint64]:
    """(len(values), n_hashes) MinHash signatures of each value's character q-grams.

    Hash function i is splitmix64 of (crc32(gram) XOR salt_i): a full 64-bit mix, so the
    minima of different functions are independent (an affine a*h+b would keep the order
    of small hashes and pick the same gram every time)."""
    rng = np.random.default_rng(seed)
    salts = rng.integers(0, np.iinfo(np.int64).max, size=n_hashes, dtype=np.int64)
    salts = salts.astype(np.uint64)
    out = np.empty((len(values), n_hashes), dtype=np.uint64)
    for i, value in enumerate(values):
        grams = {value[j:j + q] for j in range(max(len(value) - q + 1, 1))}
        hashed = np.fromiter((zlib.crc32(g.encode("utf-8")) for g in grams), np.uint64,
                             len(grams))
        mixed = np.bitwise_xor(hashed[:, None], salts[None, :], dtype=np.uint64)
        out[i] = splitmix64(mixed).min(axis=0)
    return out


def splitmix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64's step and finaliser on each word (uint64 arithmetic wraps)."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return np.asarray(x ^ (x >> np.uint64(31)), dtype=np.uint64)


def band_block_ids(
    sig: npt.NDArray[np.uint64], codes: npt.NDArray[np.int64], *, bands: int, rows: int
) -> Iterator[npt.NDArray[np.int64]]:
    """Per band, a dense block id per record (-1 where the record has no value), one band
    at a time (a record-sized array each, so they are not all held at once)."""
    if len(sig) == 0:
        for _ in range(bands):
            yield np.full(len(codes), -1, dtype=np.int64)
        return
    for band in range(bands):
        part = sig[:, band * rows:(band + 1) * rows]
        combined = np.zeros(len(sig), dtype=np.uint64)
        for col in range(part.shape[1]):  # fold the band's rows into one 64-bit key
            combined = splitmix64(combined ^ part[:, col])
        dense = np.asarray(pc.dictionary_encode(pa.array(combined)).indices.to_numpy(),
                           dtype=np.int64)
        yield np.where(codes >= 0, dense[np.clip(codes, 0, None)], -1)
