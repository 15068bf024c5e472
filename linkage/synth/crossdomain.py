"""Cross-domain test data with ground truth: the engine's fit must hold on data it was not
built for, so these sets are deliberately unlike the Chinese departmental records.

Three domains, each from its own vocabulary (pronounceable words made from syllables,
drawn with Zipf frequencies so that some values are common and most are rare) and its own
error model:

* ``persons``: an English-style person register (given name, surname, date of birth,
  street number, street, city, postcode, phone) in which a minority of people appear two
  to four times, each copy with typos, swapped day and month, missing values, a changed
  address or a given name cut to its initial.
* ``restaurants``: two guides listing restaurants (name, address, city, phone, cuisine),
  overlapping in part; names lose "the", gain "restaurant" or "cafe", "&" becomes "and",
  streets are abbreviated, phones are formatted differently, cities change their alias.
* ``papers``: two bibliographic catalogues (title, authors, venue, year); the second is
  noisier: titles truncated or mistyped, authors as initials or in another order, venues
  abbreviated, years off by one.

Every table has ``record_id`` (int64, 0..n-1), ``source``, ``truth`` (the entity) and
string fields (null where missing). Same arguments, same table: every draw takes ``seed``.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

__all__ = ["DOMAINS", "crossdomain"]

Rng = random.Random

_ONSETS = ("b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v",
           "w", "br", "ch", "cl", "dr", "fr", "gr", "sh", "st", "th", "tr", "kn", "ph", "wh")
_VOWELS = ("a", "e", "i", "o", "u", "ea", "ou", "ai", "ie", "y")
_CODAS = ("", "", "n", "r", "l", "s", "t", "m", "ck", "nd", "rt", "ss", "th", "ng", "x")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _word(rng: Rng, syllables: int) -> str:
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
                   for _ in range(syllables))


def _vocabulary(rng: Rng, size: int, syllables: tuple[int, ...] = (2, 3)) -> list[str]:
    """``size`` distinct pronounceable words."""
    words: dict[str, None] = {}
    while len(words) < size:
        words[_word(rng, syllables[rng.randrange(0, len(syllables))])] = None
    return list(words)


class _Zipf:
    """Draws from a vocabulary with Zipf frequencies (rank r has weight 1 / r**s)."""

    def __init__(self, words: list[str], s: float = 1.0) -> None:
        self.words = words
        weights = 1.0 / np.arange(1, len(words) + 1, dtype=np.float64) ** s
        self.cdf = np.cumsum(weights / weights.sum()).tolist()

    def draw(self, rng: Rng) -> str:
        at = bisect.bisect_left(self.cdf, rng.random())
        return self.words[min(at, len(self.words) - 1)]


def _typo(rng: Rng, text: str) -> str:
    """One keyboard slip: a letter inserted, dropped, substituted or two swapped."""
    if len(text) < 2:
        return text
    i = rng.randrange(0, len(text) - 1)
    kind = rng.randrange(0, 4)
    letter = _LETTERS[rng.randrange(0, 26)]
    if kind == 0:
        return text[:i] + letter + text[i:]
    if kind == 1:
        return text[:i] + text[i + 1:]
    if kind == 2:
        return text[:i] + letter + text[i + 1:]
    return text[:i] + text[i + 1] + text[i] + text[i + 2:]


def _digit_typo(rng: Rng, digits: str) -> str:
    positions = [i for i, c in enumerate(digits) if c.isdigit()]
    if not positions:
        return digits
    i = positions[rng.randrange(0, len(positions))]
    return digits[:i] + str(rng.randrange(0, 10)) + digits[i + 1:]


@dataclass(frozen=True)
class _Rates:
    """Chance of each error per copied field (a duplicate's fields are corrupted
    independently)."""

    typo: float
    missing: float
    change: float


def _maybe(rng: Rng, p: float) -> bool:
    return bool(rng.random() < p)


# --- persons --------------------------------------------------------------------------------


def _persons(rng: Rng, n_entities: int) -> pa.Table:
    given = _Zipf(_vocabulary(rng, 800, (2,)), 0.9)
    surnames = _Zipf(_vocabulary(rng, 4000, (2, 3)), 0.8)
    streets = _Zipf(_vocabulary(rng, 1500, (2, 3)), 0.7)
    cities = _Zipf(_vocabulary(rng, 400, (2, 3)), 1.0)
    postcode_of = {c: [f"{rng.randrange(1000, 9999)}" for _ in range(rng.randrange(1, 4))]
                   for c in cities.words}
    kinds = ("street", "road", "avenue", "lane", "drive", "court", "place", "crescent")
    rates = _Rates(typo=0.15, missing=0.06, change=0.15)
    rows: list[dict[str, str | None]] = []
    truth: list[int] = []
    for entity in range(n_entities):
        city = cities.draw(rng)
        year = rng.randrange(1930, 2005)
        month, day = rng.randrange(1, 13), rng.randrange(1, 29)
        base = {
            "given_name": given.draw(rng), "surname": surnames.draw(rng),
            "date_of_birth": f"{year:04d}-{month:02d}-{day:02d}",
            "street_number": str(rng.randrange(1, 400)),
            "street": f"{streets.draw(rng)} {kinds[rng.randrange(0, len(kinds))]}",
            "city": city, "postcode": postcode_of[city][rng.randrange(0, len(postcode_of[city]))],
            "phone": "0" + "".join(rng.choices("0123456789", k=9)),
        }
        copies = 1 + ((1, 1, 1, 2, 3)[rng.randrange(0, 5)] if _maybe(rng, 0.12) else 0)
        for k in range(copies):
            rec: dict[str, str | None] = dict(base)
            if k > 0:
                _corrupt_person(rng, rec, rates, cities, streets, postcode_of)
            rows.append(rec)
            truth.append(entity)
    return _table(rows, truth, ["register"] * len(rows))


def _corrupt_person(rng: Rng, rec: dict[str, str | None], rates: _Rates, cities: _Zipf,
                    streets: _Zipf, postcode_of: dict[str, list[str]]) -> None:
    for name in ("given_name", "surname", "street", "city"):
        if rec[name] and _maybe(rng, rates.typo):
            rec[name] = _typo(rng, str(rec[name]))
    if rec["given_name"] and _maybe(rng, 0.05):
        rec["given_name"] = str(rec["given_name"])[0]
    if _maybe(rng, 0.04):
        rec["given_name"], rec["surname"] = rec["surname"], rec["given_name"]
    dob = str(rec["date_of_birth"])
    if _maybe(rng, 0.06):
        rec["date_of_birth"] = f"{dob[:5]}{dob[8:10]}-{dob[5:7]}" if int(dob[8:10]) <= 12 \
            else _digit_typo(rng, dob)
    elif _maybe(rng, 0.10):
        rec["date_of_birth"] = _digit_typo(rng, dob)
    if _maybe(rng, rates.change):  # moved house: new street, maybe new city
        rec["street_number"] = str(rng.randrange(1, 400))
        rec["street"] = f"{streets.draw(rng)} {str(rec['street']).split(' ')[-1]}"
        if _maybe(rng, 0.5):
            city = cities.draw(rng)
            rec["city"] = city
            rec["postcode"] = postcode_of[city][0]
    for name in ("postcode", "phone", "street_number"):
        if rec[name] and _maybe(rng, rates.typo / 2):
            rec[name] = _digit_typo(rng, str(rec[name]))
    if _maybe(rng, rates.change):
        rec["phone"] = "0" + "".join(rng.choices("0123456789", k=9))
    for name in rec:
        if _maybe(rng, rates.missing):
            rec[name] = None


# --- restaurants -----------------------------------------------------------------------------


_CUISINES = ("italian", "french", "american", "chinese", "japanese", "mexican", "indian",
             "thai", "seafood", "steakhouse", "vegetarian", "greek", "spanish", "korean")
_PLACE_WORDS = ("cafe", "grill", "bistro", "kitchen", "house", "diner", "trattoria",
                "tavern", "brasserie", "bar & grill", "restaurant")
_STREET_KINDS = {"street": "st", "avenue": "ave", "boulevard": "blvd", "road": "rd",
                 "drive": "dr", "place": "pl"}


def _restaurants(rng: Rng, n_entities: int) -> pa.Table:
    words = _Zipf(_vocabulary(rng, 2500, (1, 2, 3)), 0.8)
    streets = _Zipf(_vocabulary(rng, 600, (2, 3)), 0.8)
    cities = _Zipf(_vocabulary(rng, 60, (2, 3)), 1.1)
    aliases = {c: c + " city" if rng.random() < 0.3 else c for c in cities.words}
    kinds = list(_STREET_KINDS)
    rows: list[dict[str, str | None]] = []
    truth: list[int] = []
    sources: list[str] = []
    for entity in range(n_entities):
        name = " ".join(words.draw(rng) for _ in range((1, 2, 2, 3)[rng.randrange(0, 4)]))
        if _maybe(rng, 0.6):
            name += " " + _PLACE_WORDS[rng.randrange(0, len(_PLACE_WORDS))]
        if _maybe(rng, 0.15):
            name = "the " + name
        city = cities.draw(rng)
        digits = "".join(rng.choices("0123456789", k=10))
        base = {"name": name,
                "address": f"{rng.randrange(1, 3000)} {streets.draw(rng)} "
                           f"{kinds[rng.randrange(0, len(kinds))]}",
                "city": city, "phone": digits,
                "cuisine": _CUISINES[rng.randrange(0, len(_CUISINES))]}
        in_a, in_b = _maybe(rng, 0.8), _maybe(rng, 0.5)
        if not (in_a or in_b):
            in_a = True
        for source, present, noisy in (("guide_a", in_a, False), ("guide_b", in_b, True)):
            if not present:
                continue
            copies = 2 if _maybe(rng, 0.03) else 1
            for _ in range(copies):
                rec: dict[str, str | None] = dict(base)
                _format_restaurant(rng, rec, noisy, aliases)
                rows.append(rec)
                truth.append(entity)
                sources.append(source)
    return _table(rows, truth, sources)


def _format_restaurant(rng: Rng, rec: dict[str, str | None], noisy: bool,
                       aliases: dict[str, str]) -> None:
    """guide_b writes its own way (abbreviated streets, dashed phones, city aliases); both
    make slips."""
    name = str(rec["name"])
    address = str(rec["address"])
    digits = str(rec["phone"])
    if noisy:
        for full, short in _STREET_KINDS.items():
            if address.endswith(" " + full) and _maybe(rng, 0.7):
                address = address[: -len(full)] + short + ("." if _maybe(rng, 0.3) else "")
        rec["phone"] = f"{digits[:3]}-{digits[3:6]}-{digits[6:]}" if _maybe(rng, 0.8) \
            else f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
        rec["city"] = aliases[str(rec["city"])]
        if name.startswith("the ") and _maybe(rng, 0.6):
            name = name[4:]
        name = name.replace(" & ", " and ") if _maybe(rng, 0.7) else name
        if _maybe(rng, 0.1):
            name += " restaurant"
    rate = 0.12 if noisy else 0.04
    if _maybe(rng, rate):
        name = _typo(rng, name)
    if _maybe(rng, rate):
        address = _typo(rng, address)
    if _maybe(rng, rate / 2):
        rec["phone"] = _digit_typo(rng, str(rec["phone"]))
    if _maybe(rng, 0.05):  # moved or second branch address
        address = f"{rng.randrange(1, 3000)} {address.split(' ', 1)[1]}"
    if noisy and _maybe(rng, 0.2):
        rec["cuisine"] = _CUISINES[rng.randrange(0, len(_CUISINES))]
    rec["name"], rec["address"] = name, address
    for field in ("address", "phone", "cuisine"):
        if _maybe(rng, 0.04 if noisy else 0.01):
            rec[field] = None


# --- papers ------------------------------------------------------------------------------------


def _papers(rng: Rng, n_entities: int) -> pa.Table:
    words = _Zipf(_vocabulary(rng, 3000, (1, 2, 3)), 0.9)
    given = _Zipf(_vocabulary(rng, 600, (2,)), 0.9)
    family = _Zipf(_vocabulary(rng, 5000, (2, 3)), 0.7)
    venues = [(" ".join(_word(rng, 2) for _ in range(rng.randrange(3, 6))),
               "".join(_LETTERS[rng.randrange(0, 26)] for _ in range(4)))
              for _ in range(40)]
    rows: list[dict[str, str | None]] = []
    truth: list[int] = []
    sources: list[str] = []
    for entity in range(n_entities):
        title = " ".join(words.draw(rng) for _ in range(rng.randrange(4, 11)))
        authors = [(given.draw(rng), family.draw(rng))
                   for _ in range(rng.randrange(1, 6))]
        venue = venues[rng.randrange(0, len(venues))]
        year = rng.randrange(1990, 2021)
        in_a, in_b = _maybe(rng, 0.85), _maybe(rng, 0.5)
        if not (in_a or in_b):
            in_a = True
        for source, present, noisy in (("catalogue_a", in_a, False),
                                       ("catalogue_b", in_b, True)):
            if not present:
                continue
            copies = 2 if noisy and _maybe(rng, 0.08) else 1
            for _ in range(copies):
                rows.append(_format_paper(rng, title, authors, venue, year, noisy))
                truth.append(entity)
                sources.append(source)
    return _table(rows, truth, sources)


def _format_paper(rng: Rng, title: str, authors: list[tuple[str, str]],
                  venue: tuple[str, str], year: int, noisy: bool) -> dict[str, str | None]:
    if noisy and _maybe(rng, 0.5):
        names = [f"{g[0]}. {f}" for g, f in authors]
    else:
        names = [f"{g} {f}" for g, f in authors]
    if noisy and len(names) > 1 and _maybe(rng, 0.15):
        names = names[1:] + names[:1]
    if noisy and len(names) > 3 and _maybe(rng, 0.3):
        names = names[:3]
    rate = 0.2 if noisy else 0.05
    if _maybe(rng, rate):
        title = _typo(rng, title)
    if noisy and _maybe(rng, 0.1):
        title = " ".join(title.split(" ")[: max(3, len(title.split(" ")) - 2)])
    if _maybe(rng, rate / 2):
        i = rng.randrange(0, len(names))
        names[i] = _typo(rng, names[i])
    out_year = year + ((-1, 1)[rng.randrange(0, 2)] if _maybe(rng, 0.08 if noisy else 0.01) else 0)
    rec: dict[str, str | None] = {
        "title": title.upper() if noisy and _maybe(rng, 0.2) else title,
        "authors": ", ".join(names),
        "venue": venue[1] if noisy and _maybe(rng, 0.6) else venue[0],
        "year": str(out_year),
    }
    for field in ("authors", "venue", "year"):
        if _maybe(rng, 0.05 if noisy else 0.01):
            rec[field] = None
    return rec


# --- assembly -----------------------------------------------------------------------------------


def _table(rows: list[dict[str, str | None]], truth: list[int], sources: list[str]) -> pa.Table:
    fields = list(rows[0]) if rows else []
    columns: dict[str, pa.Array] = {
        "record_id": pa.array(np.arange(len(rows), dtype=np.int64)),
        "source": pa.array(sources, pa.string()),
        "truth": pa.array(truth, pa.int64()),
    }
    for name in fields:
        columns[name] = pa.array([r[name] for r in rows], pa.string())
    return pa.table(columns)


DOMAINS: dict[str, Callable[[Rng, int], pa.Table]] = {
    "persons": _persons, "restaurants": _restaurants, "papers": _papers}


def crossdomain(domain: str, n_entities: int, *, seed: int = 0) -> pa.Table:
    """Records of ``n_entities`` entities of ``domain`` (see the module docstring), in a
    shuffled order, with ``truth``."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r} (choose {', '.join(DOMAINS)})")
    if n_entities < 1:
        raise ValueError("n_entities must be >= 1")
    rng = random.Random(seed)
    table = DOMAINS[domain](rng, n_entities)
    order = list(range(table.num_rows))
    rng.shuffle(order)
    table = table.take(pa.array(order))
    return table.set_column(0, "record_id", pa.array(np.arange(table.num_rows, dtype=np.int64)))
