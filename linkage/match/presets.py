"""Recommended blocking passes and comparisons for the standardised person and enterprise
fields (the columns the shipped standardisers produce), as objects and as pipeline-file
TOML. Measured on the synthetic generator (benchmarks/bench_synth_quality.py)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from linkage.match.block import BlockingPass
from linkage.match.compare import Comparison

PERSON_BLOCKING: tuple[BlockingPass, ...] = (
    BlockingPass(name="id_number", keys=("id_number",), max_block_size=100),
    BlockingPass(name="name_birth_date", keys=("name", "birth_date")),
    BlockingPass(name="phone", keys=("phone",), max_block_size=100),
    BlockingPass(name="pinyin_birth_date", keys=("name__pinyin_key", "id_number__birth_date")),
    # a common name in a large county (王伟) is split by birth year rather than paired whole
    BlockingPass(name="name_county", keys=("name", "address__county_code"), max_block_size=500,
                 sub_keys=("birth_date",), sub_prefix=(4,)),
    # the characters a masked ID number keeps (3301**********056X)
    BlockingPass(name="id_masked", keys=("id_number", "id_number"), prefix=(4, 0),
                 suffix=(0, 4), max_block_size=500),
    BlockingPass(name="address", keys=("address",), max_block_size=100),
)

PERSON_COMPARISONS: tuple[Comparison, ...] = (
    Comparison(name="name", field="name", method="person_name", term_frequency=True),
    Comparison(name="id_number", field="id_number", method="id_number", must_link=True,
               cannot_link=True),
    Comparison(name="birth_date", field="birth_date", method="date"),
    Comparison(name="sex", field="sex", method="exact"),
    Comparison(name="phone", field="phone", method="exact", term_frequency=True),
    Comparison(name="address", field="address", method="address"),
)

ENTERPRISE_BLOCKING: tuple[BlockingPass, ...] = (
    BlockingPass(name="credit_code", keys=("credit_code",), max_block_size=50),
    BlockingPass(name="org_code", keys=("credit_code__org_code",), max_block_size=50),
    BlockingPass(name="core_county", keys=("name__core", "address__county_code")),
    BlockingPass(name="core_legal_rep", keys=("name__core", "legal_rep_name")),
    BlockingPass(name="legal_rep_id", keys=("legal_rep_id",), max_block_size=50),
    BlockingPass(name="address", keys=("address",), max_block_size=50),
    BlockingPass(name="core", keys=("name__core",), max_block_size=50),
)

ENTERPRISE_COMPARISONS: tuple[Comparison, ...] = (
    Comparison(name="name", field="name", method="enterprise_name", term_frequency=True),
    Comparison(name="credit_code", field="credit_code", method="credit_code", must_link=True,
               cannot_link=True),
    Comparison(name="legal_rep_name", field="legal_rep_name", method="person_name"),
    Comparison(name="legal_rep_id", field="legal_rep_id", method="id_number"),
    Comparison(name="address", field="address", method="address"),
    Comparison(name="established_date", field="established_date", method="date"),
)

PRESETS: dict[str, tuple[tuple[BlockingPass, ...], tuple[Comparison, ...]]] = {
    "person": (PERSON_BLOCKING, PERSON_COMPARISONS),
    "enterprise": (ENTERPRISE_BLOCKING, ENTERPRISE_COMPARISONS),
}


def linking_toml(entity_type: str, preset: str | None = None) -> str:
    """``[[<type>.blocking]]`` and ``[[<type>.comparisons]]`` tables for a pipeline file.

    ``preset`` (default: the type itself) names the preset of :data:`PRESETS` to write; a
    type other than the built-in ones is a declared one, so its tables are
    ``[[entities.<type>.blocking]]`` (e.g. Chinese citizens resolved as ``resident``:
    ``linking_toml("resident", preset="person")``)."""
    name = preset or entity_type
    if name not in PRESETS:
        raise ValueError(f"no preset {name!r} (known: {', '.join(PRESETS)})")
    blocking, comparisons = PRESETS[name]
    section = entity_type if entity_type in PRESETS else f"entities.{entity_type}"
    parts = [_table(f"{section}.blocking", bp, BlockingPass) for bp in blocking]
    parts += [_table(f"{section}.comparisons", c, Comparison) for c in comparisons]
    return "\n".join(parts)


def _table(header: str, obj: Any, cls: type) -> str:
    """Only the keys that differ from the dataclass defaults, as TOML."""
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    lines = [f"[[{header}]]"]
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.name in defaults and defaults[f.name] == value:
            continue
        lines.append(f"{f.name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)
