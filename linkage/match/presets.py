"""Recommended blocking passes and comparisons for the standardised person and enterprise
fields (the columns the shipped standardisers produce), as objects and as pipeline-file
TOML. Measured on the synthetic generator (benchmarks/bench_synth_quality.py).

:func:`section_toml` gives a whole entity section (fields, identity fields, blocking,
comparisons, scoring, survivorship): the one ``linkage generate`` writes and the one
``linkage.EntityConfig.preset("person")`` builds in code."""

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
    # a common name in a county (王伟) is split by birth year rather than paired whole: the
    # blocks of a name and a county grow with the population, so past 20 records they are
    # split (at 3M records: 4.16M pairs at a cap of 500, 3.45M at 20, the same true pairs)
    BlockingPass(name="name_county", keys=("name", "address__county_code"), max_block_size=20,
                 sub_keys=("birth_date",), sub_prefix=(4,)),
    # the characters a masked ID number keeps (3301**********056X), a masked number against
    # every number with the same ends; two full numbers sharing only their ends are not
    # paired (they are different people, and such blocks grow with the population: at 3M
    # records 11.3M pairs when every record stood by its ends, 0.47M this way)
    BlockingPass(name="id_masked", keys=("id_number", "id_number"), prefix=(4, 0),
                 suffix=(0, 4), keys_right=("id_number", "id_number"),
                 keys_where="id_number__masked", max_block_size=500),
    BlockingPass(name="address", keys=("address",), max_block_size=100),
    # a person one department knows by a former name (曾用名) another holds beside the name
    BlockingPass(name="former_name", keys=("former_name",), keys_right=("name",),
                 max_block_size=300),
)

PERSON_COMPARISONS: tuple[Comparison, ...] = (
    Comparison(name="name", field="name", method="person_name", term_frequency=True),
    Comparison(name="id_number", field="id_number", method="id_number", must_link=True,
               cannot_link=True),
    Comparison(name="birth_date", field="birth_date", method="date"),
    Comparison(name="sex", field="sex", method="exact"),
    Comparison(name="phone", field="phone", method="exact", term_frequency=True),
    Comparison(name="address", field="address", method="address"),
    # a name agreeing with the other record's former name explains why the names differ
    Comparison(name="former_name", field="former_name", other_field="name",
               method="person_name", explains=True),
)

ENTERPRISE_BLOCKING: tuple[BlockingPass, ...] = (
    BlockingPass(name="credit_code", keys=("credit_code",), max_block_size=50),
    BlockingPass(name="org_code", keys=("credit_code__org_code",), max_block_size=50),
    BlockingPass(name="core_county", keys=("name__core", "address__county_code")),
    BlockingPass(name="core_legal_rep", keys=("name__core", "legal_rep_name")),
    BlockingPass(name="legal_rep_id", keys=("legal_rep_id",), max_block_size=50),
    BlockingPass(name="address", keys=("address",), max_block_size=50),
    BlockingPass(name="core", keys=("name__core",), max_block_size=50),
    # a separate 注册号 / 税务登记号 column against the code column of other records: the
    # legacy registration number as written, the tax number through its organisation code
    BlockingPass(name="reg_number", keys=("reg_number",), keys_right=("credit_code",),
                 max_block_size=50),
    BlockingPass(name="reg_org_code", keys=("reg_number__org_code",),
                 keys_right=("credit_code__org_code",), max_block_size=50),
)

ENTERPRISE_COMPARISONS: tuple[Comparison, ...] = (
    Comparison(name="name", field="name", method="enterprise_name", term_frequency=True),
    Comparison(name="credit_code", field="credit_code", method="credit_code", must_link=True,
               cannot_link=True),
    Comparison(name="legal_rep_name", field="legal_rep_name", method="person_name"),
    Comparison(name="legal_rep_id", field="legal_rep_id", method="id_number"),
    Comparison(name="address", field="address", method="address"),
    Comparison(name="established_date", field="established_date", method="date"),
    # registration number against registration number, tax number against credit code
    # through the organisation code (the credit_code comparator's levels); a valid legacy
    # registration number equal to another record's is an identifier like a credit code
    Comparison(name="reg_number", field="reg_number", other_field="credit_code",
               method="credit_code", must_link=True),
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


PERSON_FIELDS = {
    "name": "person_name", "id_number": "id_number", "birth_date": "date", "sex": "sex",
    "phone": "phone", "address": "address", "former_name": "person_name",
}
ENTERPRISE_FIELDS = {
    "name": "enterprise_name", "credit_code": "credit_code", "legal_rep_name": "person_name",
    "legal_rep_id": "id_number", "address": "address", "established_date": "date",
    "capital": "amount_wan", "status": "text", "customs_code": "text", "reg_number": "credit_code",
}

PERSON_LINKING = linking_toml("person") + """
[person.scoring]
link_threshold = 0.9

[person.survivorship]
default = ["valid", "frequent", "trust", "recent"]
derive = { birth_date = "id_number__birth_date", sex = "id_number__sex" }
typo_fields = ["phone"]
[person.survivorship.fields]
name = ["valid", "original", "frequent", "trust", "recent"]
birth_date = ["valid", "agrees:id_number__birth_date", "frequent", "trust", "recent"]
sex = ["valid", "agrees:id_number__sex", "frequent", "trust", "recent"]
address = ["recent", "valid", "frequent", "trust"]
phone = ["recent", "valid", "frequent", "trust"]
"""

ENTERPRISE_LINKING = linking_toml("enterprise") + """
[enterprise.scoring]
link_threshold = 0.9

[enterprise.survivorship]
default = ["valid", "frequent", "trust", "recent"]
complete_divisions = { address = "credit_code__division" }
[enterprise.survivorship.fields]
name = ["valid", "once:name__region,name__bracket_region", "latest:name__core", "longest",
        "frequent", "trust", "recent"]
status = ["recent", "trust"]
legal_rep_name = ["valid", "original", "recent", "trust"]
legal_rep_id = ["valid", "recent", "trust"]
address = ["recent", "valid", "frequent", "trust"]
"""


#: each entity type's identity fields: two different valid values never share an entity
IDENTITY_FIELDS: dict[str, tuple[str, ...]] = {
    "person": ("id_number",),
    "enterprise": ("credit_code__org_code",),
}


def section_toml(entity_type: str) -> str:
    """A whole ``[<type>]`` section of a pipeline file: identity fields, fields (canonical
    field -> standardiser), blocking, comparisons, scoring and survivorship."""
    if entity_type not in PRESETS:
        raise KeyError(f"no preset for {entity_type!r} (presets: {', '.join(PRESETS)})")
    fields = PERSON_FIELDS if entity_type == "person" else ENTERPRISE_FIELDS
    linking = PERSON_LINKING if entity_type == "person" else ENTERPRISE_LINKING
    identity = ", ".join(json.dumps(f) for f in IDENTITY_FIELDS[entity_type])
    body = "\n".join(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in fields.items())
    return (f"[{entity_type}]\nidentity_fields = [{identity}]\n\n"
            f"[{entity_type}.fields]\n{body}\n\n{linking}")
