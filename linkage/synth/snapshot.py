"""A department's view of the true world at its snapshot date, before any corruption.

Which entities the department holds (its coverage), each record's update date (the
snapshot date minus a lag), within-department duplicates, and every field's value as of
the record's update date: a record updated before a move still shows the old address.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.synth import words
from linkage.synth.columns import BoolArray, IntArray, date_strings, day, join
from linkage.synth.config import SynthConfig
from linkage.synth.departments import DepartmentFile
from linkage.synth.enterprises import Enterprises
from linkage.synth.population import Addresses, Persons


@dataclass
class Snapshot:
    """Rows of one departmental file: entity index, update date, values as of that date."""

    spec: DepartmentFile
    entity: IntArray
    as_of: IntArray
    duplicate_of: IntArray  # row of the original for a within-department duplicate, else -1
    values: dict[str, pa.Array] = field(default_factory=dict)
    current: dict[str, pa.Array] = field(default_factory=dict)
    address: Addresses | None = None

    @property
    def n(self) -> int:
        return len(self.entity)


def _select(rng: np.random.Generator, spec: DepartmentFile, config: SynthConfig,
            eligible: BoolArray, born: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Entity per row (covered entities plus duplicates, shuffled), update day per row, and
    the row each duplicate copies (-1 for originals)."""
    snapshot = day(config.snapshot(spec.department))
    coverage = config.coverage.get(f"{spec.department}/{spec.entity_type}", 0.0)
    held = np.flatnonzero(eligible & (rng.random(len(eligible)) < coverage))
    dup = rng.random(len(held)) < config.within_department_duplicate
    entity = np.concatenate([held, held[dup]])
    source = np.concatenate([np.full(len(held), -1), np.flatnonzero(dup)])
    lag = np.floor(rng.exponential(spec.mean_lag_days, len(entity))).astype(np.int64)
    as_of = np.maximum(snapshot - lag, born[entity])
    order = rng.permutation(len(entity))
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    duplicate_of = np.where(source >= 0, position[np.maximum(source, 0)], -1)
    return entity[order], as_of[order], duplicate_of[order]


def _pick(flag: BoolArray, new: pa.Array, old: pa.Array) -> pa.Array:
    return pc.if_else(pa.array(flag), new, old)


def _take(values: pa.Array, idx: IntArray) -> pa.Array:
    return values.take(pa.array(idx, pa.int64()))


def person_snapshot(rng: np.random.Generator, spec: DepartmentFile, config: SynthConfig,
                    persons: Persons) -> Snapshot:
    """The department's person records, true as of each record's update date."""
    eligible = np.ones(persons.n, dtype=bool)
    entity, as_of, dup = _select(rng, spec, config, eligible, persons.birth + 16 * 365)
    snap = Snapshot(spec, entity, as_of, dup)
    moved = as_of >= persons.move[entity]
    snap.address = Addresses(
        np.where(moved, persons.addr_new.county[entity], persons.addr_old.county[entity]),
        _pick(moved, _take(persons.addr_new.detail, entity),
              _take(persons.addr_old.detail, entity)))
    phone_new = as_of >= persons.phone_change[entity]
    values = {
        "name": _take(persons.name, entity),
        "id_number": _take(persons.id_number, entity),
        "birth_date": date_strings(persons.birth[entity], "iso"),
        "sex": pc.if_else(pa.array(persons.sex[entity]), "M", "F"),
        "phone": _pick(phone_new, _take(persons.phone_new, entity),
                       _take(persons.phone_old, entity)),
        "address": _pick(moved, _take(persons.addr_new.full(), entity),
                         _take(persons.addr_old.full(), entity)),
    }
    current = dict(values)
    current["phone"] = _take(persons.phone_new, entity)
    current["address"] = _take(persons.addr_new.full(), entity)
    snap.values = {f: values[f] for f in spec.headers}
    snap.current = {f: current[f] for f in spec.headers}
    return snap


def enterprise_snapshot(rng: np.random.Generator, spec: DepartmentFile, config: SynthConfig,
                        enterprises: Enterprises, persons: Persons) -> Snapshot:
    """The department's enterprise records, true as of each record's update date."""
    ent = enterprises
    snapshot = day(config.snapshot(spec.department))
    eligible = ent.established <= snapshot
    if spec.department == "customs":
        eligible &= pc.is_valid(ent.customs_code).to_numpy(zero_copy_only=False)
    entity, as_of, dup = _select(rng, spec, config, eligible, ent.established)
    snap = Snapshot(spec, entity, as_of, dup)
    renamed = as_of >= ent.rename[entity]
    rep_changed = as_of >= ent.rep_change[entity]
    rep = np.where(rep_changed, ent.rep_new[entity], ent.rep_old[entity])
    rep_now = ent.rep_new[entity]
    moved = as_of >= ent.move[entity]
    snap.address = Addresses(ent.addr_old.county[entity],
                             _pick(moved, _take(ent.addr_new.detail, entity),
                                   _take(ent.addr_old.detail, entity)))
    ended = as_of >= ent.status_change[entity]
    active = pa.array([words.ENTERPRISE_STATUS_ACTIVE] * len(entity), pa.string())
    values = {
        "name": _pick(renamed, _take(ent.name_new, entity), _take(ent.name_old, entity)),
        "credit_code": _take(ent.credit_code, entity),
        "legal_rep_name": _take(persons.name, rep),
        "legal_rep_id": _take(persons.id_number, rep),
        "address": _pick(moved, _take(ent.addr_new.full(), entity),
                         _take(ent.addr_old.full(), entity)),
        "established_date": date_strings(ent.established[entity], "iso"),
        "capital": _take(ent.capital, entity),
        "status": _pick(ended, _take(ent.status_new, entity), active),
        "customs_code": _take(ent.customs_code, entity),
    }
    current = dict(values)
    current["name"] = _take(ent.name_new, entity)
    current["legal_rep_name"] = _take(persons.name, rep_now)
    current["legal_rep_id"] = _take(persons.id_number, rep_now)
    current["address"] = _take(ent.addr_new.full(), entity)
    current["status"] = _take(ent.status_new, entity)
    snap.values = {f: values[f] for f in spec.headers}
    snap.current = {f: current[f] for f in spec.headers}
    return snap


def record_keys(spec: DepartmentFile, n: int) -> pa.Array:
    """The department's own record keys: prefix + zero-padded row number (unique)."""
    width = max(8, len(str(n)))
    numbers = pc.cast(pa.array(np.arange(1, n + 1, dtype=np.int64)), pa.string())
    return join(spec.key_prefix, pc.utf8_lpad(numbers, width, "0"))
