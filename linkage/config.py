"""The pipeline file (TOML) and the frozen configuration objects it becomes.

Each stage owns the dataclass of its own options (``BlockingPass`` in ``block``,
``Comparison`` in ``compare``, ...). This module only knows how to turn a TOML table into
any such dataclass: it checks keys, types, ``Literal`` choices and each class's own
``__post_init__`` checks, and collects *every* problem before raising one
:class:`~linkage.errors.ConfigError` that names the file, the key path and the bad value.

Layout of a pipeline file::

    name = "sample"            # optional
    seed = 42                  # every random step derives from it
    truth = "truth"            # optional ground-truth directory (for metrics)

    [[sources]]                # one table per departmental file
    department = "household"
    entity_type = "person"
    path = "household.csv"     # relative to the pipeline file
    key = "记录号"
    updated_at = "更新日期"
    [sources.columns]          # canonical field -> column in the file
    name = "姓名"

    [person]                   # and/or [enterprise], and/or [entities.<type>]
    fields = { name = "person_name", id_number = "id_number" }   # field -> standardiser
    [[person.blocking]] ...    # see linkage.match.block.BlockingPass
    [[person.comparisons]] ... # see linkage.match.compare.Comparison
    [person.scoring] ...       # see linkage.match.score.ScoringConfig
    [person.survivorship] ...  # see linkage.master.golden.SurvivorshipConfig
    [person.conflicts] ...     # see linkage.master.conflicts.ConflictConfig

    [gates]                    # optional: see linkage.master.gates.GatesConfig
    max_new_merges = 0.01      # a build fails (exit 3) when the master moves abnormally
    max_identity_conflicts = 0

    [entities.restaurant]      # any other entity type, declared the same way
    fields = { name = "text", phone = "phone_intl:US" }
    [[entities.restaurant.blocking]] ...

Every object can also be built in code (``PipelineConfig(sources=..., person=...)``, or
``linkage.Pipeline(sources=..., person=EntityConfig.preset("person"))``): :func:`validate`
checks it as thoroughly as a file, and :func:`to_toml` writes it back as a file.

Why no validation library: the dataclasses belong to the stage modules that use them, and
this one converter, walking their type hints, already reports every problem at once with
its key path and value; pydantic would make every stage depend on it for no new check.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

from linkage.engines.settings import EngineConfig
from linkage.errors import ConfigError
from linkage.master.conflicts import ConflictConfig
from linkage.master.gates import GatesConfig
from linkage.master.golden import SurvivorshipConfig
from linkage.master.review import ReviewConfig
from linkage.match.block import BlockingPass
from linkage.match.compare import Comparison
from linkage.match.presets import section_toml
from linkage.match.score import ScoringConfig
from linkage.schemas import ENTITY_TYPES
from linkage.standardisers import STANDARDISERS
from linkage.standardisers.registry import standardiser_problem

#: an entity type: "person", "enterprise" or any type a pipeline file declares under
#: ``[entities.<type>]`` (see :func:`check_entity_type_name`)
EntityType = str
SourceFormat = Literal["csv", "parquet", "xlsx", "arrow", "sqlite", "duckdb"]
#: formats read through an SQL query rather than as a file of rows
DATABASE_FORMATS = ("sqlite", "duckdb")
Encoding = Literal["utf-8", "utf-8-sig", "gb18030", "gbk"]

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class SourceConfig:
    """One departmental file and how its columns map to canonical fields.

    A database (an SQLite or DuckDB file, opened read-only) is read through ``query``, an
    SQL statement whose result columns are mapped like a file's."""

    department: str
    entity_type: EntityType
    path: Path
    #: the department's record key; without one (or where it is blank or repeated) a row
    #: is keyed by its file and row number
    key: str | None = None
    #: field -> column, or a list of columns joined in order (``address = ["省", "市",
    #: "区县", "详细地址"]``); see :mod:`linkage.io.mapping`
    columns: Mapping[str, str | tuple[str, ...]]
    format: SourceFormat | None = None
    encoding: Encoding = "utf-8"
    delimiter: str = ","
    sheet: str | None = None
    updated_at: str | None = None
    snapshot_date: str | None = None
    trust: Mapping[str, float] = field(default_factory=dict)
    default_trust: float = 0.5
    query: str | None = None
    #: row filter over the file's columns (``linkage.io.mapping``: a small comparison
    #: language, e.g. ``当事人类型 = '自然人'``) for files mixing persons and enterprises
    where: str | None = None
    #: field -> unit of its plain numbers: ``yuan`` (元), ``wan`` (万元), ``yi`` (亿元)
    units: Mapping[str, Literal["yuan", "wan", "yi"]] = field(default_factory=dict)
    #: field -> {value as written: value to read}: the department's own vocabulary
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: a batch of new and changed records of a department that already has a source (see
    #: ``linkage run --incremental``); the same department and key is a new version
    delta: bool = False
    #: a column whose non-blank value other than 0 / false / 否 / N retires the record of
    #: this department and key (incremental runs)
    deleted: str | None = None

    def __post_init__(self) -> None:
        if not self.department.strip():
            raise ValueError("department must not be blank")
        database = self.resolved_format in DATABASE_FORMATS
        if database and not (self.query or "").strip():
            raise ValueError(f"a {self.resolved_format} source needs a query "
                             f"(e.g. query = \"SELECT * FROM persons\")")
        if self.query is not None and not database:
            raise ValueError(f"query is for database sources (format sqlite or duckdb), this "
                             f"one is {self.resolved_format}")
        if len(self.delimiter) != 1:
            raise ValueError(f"delimiter must be one character, got {self.delimiter!r}")
        check_entity_type_name(self.entity_type)
        for name, spec in self.columns.items():
            if not isinstance(spec, str) and not spec:
                raise ValueError(f"columns.{name}: list at least one column")
        for what, keyed in (("units", self.units), ("values", self.values)):
            stray = sorted(set(keyed) - set(self.columns))
            if stray:
                raise ValueError(f"{what}: field(s) {', '.join(map(repr, stray))} are not "
                                 f"mapped in columns")
        for name, value in {**self.trust, "default_trust": self.default_trust}.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"trust {name!r} must be within 0..1, got {value!r}")

    @property
    def resolved_format(self) -> SourceFormat:
        """The declared format, or the one the file's suffix implies."""
        if self.format is not None:
            return self.format
        suffix = self.path.suffix.lower().lstrip(".")
        guesses: dict[str, SourceFormat] = {
            "csv": "csv", "txt": "csv", "tsv": "csv", "parquet": "parquet", "pq": "parquet",
            "xlsx": "xlsx", "arrow": "arrow", "feather": "arrow", "ipc": "arrow",
            "sqlite": "sqlite", "sqlite3": "sqlite", "db": "sqlite", "duckdb": "duckdb",
        }
        return guesses.get(suffix, "csv")

    @property
    def label(self) -> str:
        """How messages name this source: department and entity type."""
        return f"{self.department}/{self.entity_type}"


@dataclass(frozen=True, kw_only=True)
class EntityConfig:
    """How records of one entity type are standardised, linked and summarised."""

    fields: Mapping[str, str]
    blocking: tuple[BlockingPass, ...]
    comparisons: tuple[Comparison, ...]
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    survivorship: SurvivorshipConfig = field(default_factory=SurvivorshipConfig)
    conflicts: ConflictConfig = field(default_factory=ConflictConfig)
    #: Fields (or derived columns) whose two different valid values can never belong to
    #: one entity (``id_number`` for persons, ``credit_code__org_code`` for enterprises).
    identity_fields: tuple[str, ...] = ()
    #: A scoring model an earlier run wrote (its ``model_<type>.json``): its fitted m, u and
    #: prior score this run's pairs instead of a new fit, so a production build scores
    #: with the parameters it was validated with. Its comparisons must be this section's.
    model: Path | None = None
    #: Clerical review: the queue of pairs near the threshold and the decisions file.
    review: ReviewConfig = field(default_factory=ReviewConfig)

    def __post_init__(self) -> None:
        missing_identity = [f for f in self.identity_fields
                            if f.split("__", 1)[0] not in self.fields]
        if missing_identity:
            raise ValueError(f"identity_fields {missing_identity} are not declared fields or "
                             f"derived columns of them")
        unknown = [s for s in self.fields.values() if s not in STANDARDISERS]
        if unknown:
            # a parametrised one (``phone_intl:GB``, ``date:%d/%m/%Y``) may still be usable
            problems = [p for p in map(standardiser_problem, unknown) if p is not None]
            if problems:
                raise ValueError("; ".join(problems))
        if not self.blocking:
            raise ValueError("at least one blocking pass is needed")
        if not self.comparisons:
            raise ValueError("at least one comparison is needed")

    @classmethod
    def preset(cls, entity_type: EntityType) -> EntityConfig:
        """The shipped section for ``entity_type`` (``"person"`` or ``"enterprise"``): the
        fields the standardisers know, and the measured blocking passes, comparisons,
        scoring and survivorship rules (:mod:`linkage.match.presets`). Use
        :func:`dataclasses.replace` to change a part of it."""
        if entity_type not in ENTITY_TYPES:
            raise ConfigError([f"no preset for {entity_type!r} (presets: person, enterprise)"])
        data = tomllib.loads(section_toml(entity_type))[entity_type]
        return config_from_dict(cls, data, origin=f"preset {entity_type!r}")


@dataclass(frozen=True, kw_only=True)
class PipelineConfig:
    """A whole pipeline: sources plus one section per entity type resolved."""

    sources: tuple[SourceConfig, ...]
    person: EntityConfig | None = None
    enterprise: EntityConfig | None = None
    name: str = "linkage"
    seed: int = 0
    truth: Path | None = None
    base_dir: Path = Path()
    #: limits on how far the master data may move in one run (``[gates]``)
    gates: GatesConfig = field(default_factory=GatesConfig)
    #: how the run is executed: ``[engine] kind = "local"`` or ``"spark"``, its memory
    #: budget and Spark settings
    engine: EngineConfig = field(default_factory=EngineConfig)
    #: sections of any other entity types (``[entities.restaurant]``), by type name; a
    #: built-in type may be declared here too instead of as ``[person]`` / ``[enterprise]``
    entities: Mapping[str, EntityConfig] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.sources:
            raise ValueError("at least one [[sources]] table is needed")
        if self.person is None and self.enterprise is None and not self.entities:
            raise ValueError("declare a [person], [enterprise] or [entities.<type>] section")
        for name in self.entities:
            check_entity_type_name(name)
            if name in ENTITY_TYPES and getattr(self, name) is not None:
                raise ValueError(f"entity type {name!r} is declared twice: as [{name}] and "
                                 f"as [entities.{name}]")
        if not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must be a whole number from 0 to 2**63 - 1, got {self.seed}")

    def entity(self, entity_type: str) -> EntityConfig | None:
        """The section for ``entity_type``, or None when this pipeline does not resolve it."""
        section: EntityConfig | None = (getattr(self, entity_type)
                                        if entity_type in ENTITY_TYPES else None)
        return section if section is not None else self.entities.get(entity_type)

    @property
    def entity_types(self) -> tuple[str, ...]:
        """Entity types this pipeline resolves, in a fixed order: the built-in ones, then
        the declared ones as the file lists them."""
        builtin = tuple(t for t in ENTITY_TYPES if self.entity(t) is not None)
        return builtin + tuple(t for t in self.entities if t not in builtin)


_ENTITY_TYPE_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def check_entity_type_name(name: str) -> None:
    """An entity type names output files (``golden_<type>.parquet``) and report sections,
    so it is a short lower-case identifier."""
    if not _ENTITY_TYPE_NAME.fullmatch(name):
        raise ValueError(f"entity type {name!r} must be a lower-case identifier "
                         "(a-z, 0-9, _; at most 40 characters, starting with a letter)")


# --- loading -------------------------------------------------------------------------------


def load_pipeline(path: str | Path) -> PipelineConfig:
    """Read and validate a pipeline file; relative paths resolve against its folder."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"file not found: {path}"], origin=str(path))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError([f"not UTF-8 text ({exc.reason} at byte {exc.start})"],
                          origin=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"], origin=str(path)) from None
    return pipeline_from_dict(data, base_dir=path.parent.resolve(), origin=str(path))


def pipeline_from_dict(
    data: Mapping[str, Any], *, base_dir: Path = Path(), origin: str = "configuration"
) -> PipelineConfig:
    """Validate a parsed pipeline mapping (e.g. from TOML) into a :class:`PipelineConfig`."""
    problems: list[str] = _entity_type_problems(data)
    data = {**data, "base_dir": str(base_dir)}
    config = _build(PipelineConfig, data, "", problems, base_dir)
    if config is not None:
        problems.extend(_cross_checks(config))
    if problems or config is None:
        raise ConfigError(problems or ["invalid configuration"], origin=origin)
    return config


def config_from_dict(
    cls: type[T], data: Mapping[str, Any], *, base_dir: Path = Path(),
    origin: str = "configuration",
) -> T:
    """Validate ``data`` into the frozen dataclass ``cls`` (any stage's or the generator's
    options), reporting every problem at once."""
    problems: list[str] = []
    built = _build(cls, data, "", problems, base_dir)
    if problems or built is None:
        raise ConfigError(problems or ["invalid configuration"], origin=origin)
    return built


def to_dict(obj: Any) -> Any:
    """A configuration object as plain JSON-able data (for ``run.json``)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, tuple | list):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def validate(config: PipelineConfig, *, origin: str = "configuration") -> PipelineConfig:
    """A configuration built in code, checked as a pipeline file is: types, choices, each
    object's own checks and the cross checks, every problem in one
    :class:`~linkage.errors.ConfigError`. Returns the validated (normalised) copy."""
    data = to_dict(config)
    data.pop("base_dir", None)
    return pipeline_from_dict(_without_none(data), base_dir=config.base_dir, origin=origin)


def to_toml(config: PipelineConfig) -> str:
    """``config`` as pipeline-file text that :func:`load_pipeline` reads back to an equal
    configuration (written into ``config.base_dir``; keys at their defaults are left out)."""
    import tomli_w

    data = _toml_data(config, config.base_dir)
    header = f"# pipeline {config.name!r}, written by linkage\n"
    return header + tomli_w.dumps(data)


def _toml_data(obj: Any, base: Path) -> Any:
    """Plain TOML data: dataclass fields that differ from their defaults, no None."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            if f.name == "base_dir":
                continue
            value = getattr(obj, f.name)
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = dataclasses.MISSING
            if value is None or (default is not dataclasses.MISSING and value == default):
                continue
            out[f.name] = _toml_data(value, base)
        return out
    if isinstance(obj, Mapping):
        return {str(k): _toml_data(v, base) for k, v in obj.items()}
    if isinstance(obj, tuple | list):
        return [_toml_data(v, base) for v in obj]
    if isinstance(obj, Path):
        try:
            return obj.relative_to(base).as_posix() if base.is_absolute() else str(obj)
        except ValueError:
            return str(obj)
    return obj


def _without_none(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _without_none(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [_without_none(v) for v in data]
    return data


def _cross_checks(config: PipelineConfig) -> list[str]:
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    for i, source in enumerate(config.sources):
        where = f"sources[{i}]"
        ident = (source.department, source.entity_type)
        if ident in seen and not source.delta:
            problems.append(f"{where}: department {source.department!r} has two "
                            f"{source.entity_type} sources; give each file its own department, "
                            "or mark a batch of new versions of its records delta = true")
        seen.add(ident)
        section = config.entity(source.entity_type)
        if section is None:
            continue  # reported by _entity_type_problems
        extra = sorted(set(source.columns) - set(section.fields))
        if extra:
            problems.append(f"{where}.columns: field(s) {', '.join(map(repr, extra))} are not "
                            f"declared in [{_header(config, source.entity_type)}.fields]")
    for etype in config.entity_types:
        section = config.entity(etype)
        assert section is not None
        label = _header(config, etype)
        # the columns passes and comparisons name (a cross-column pass's right-hand keys
        # and a cross-column comparison's other field too)
        for j, bp in enumerate(section.blocking):
            for what, keys in (("keys", bp.keys), ("keys_right", bp.keys_right)):
                problems += [f"{label}.blocking[{j}].{what}: {key!r} is not a field or "
                             f"derived column of [{label}.fields]"
                             for key in keys if not _is_known_column(key, section)]
            if bp.keys_where and not _is_known_column(bp.keys_where, section):
                problems.append(f"{label}.blocking[{j}].keys_where: {bp.keys_where!r} is not "
                                f"a field or derived column of [{label}.fields]")
        for j, comp in enumerate(section.comparisons):
            for what, column in (("field", comp.field), ("other_field", comp.other_field)):
                if column is not None and not _is_known_column(column, section):
                    problems.append(f"{label}.comparisons[{j}].{what}: {column!r} is not a "
                                    f"field of [{label}.fields]")
    return problems


def _entity_type_problems(data: Mapping[str, Any]) -> list[str]:
    """Sources whose entity type has no section, found on the raw mapping so that a typo
    (``persn``) is reported with every other problem of the file."""
    entities = data.get("entities")
    declared = [t for t in ENTITY_TYPES if isinstance(data.get(t), Mapping)]
    declared += [str(t) for t in entities] if isinstance(entities, Mapping) else []
    sources = data.get("sources")
    problems: list[str] = []
    for i, source in enumerate(sources if isinstance(sources, list) else []):
        etype = source.get("entity_type") if isinstance(source, Mapping) else None
        if not isinstance(etype, str):
            continue  # a missing or non-string type is reported by the build
        if etype not in declared:
            header = etype if etype in ENTITY_TYPES else f"entities.{etype}"
            problems.append(f"sources[{i}].entity_type: {etype!r} has no [{header}] section "
                            f"(declared: {', '.join(declared) or 'none'})")
    return problems


def _header(config: PipelineConfig, etype: str) -> str:
    """How the file names a type's section: ``person`` or ``entities.restaurant``."""
    builtin = etype in ENTITY_TYPES and getattr(config, etype) is not None
    return etype if builtin else f"entities.{etype}"


def _is_known_column(name: str, section: EntityConfig) -> bool:
    """A declared field, or a derived ``<field>__<name>`` column of one. Derived names are
    checked again when the standardiser runs, since only it knows what it derives."""
    return name.split("__", 1)[0] in section.fields


def _build(cls: type[T], data: Any, where: str, problems: list[str], base: Path) -> T | None:
    """Construct dataclass ``cls`` from ``data``, appending every problem to ``problems``."""
    label = where or "top level"
    if not isinstance(data, Mapping):
        problems.append(f"{label}: expected a table, got {_show(data)}")
        return None
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in data:
        if key not in fields:
            problems.append(f"{_join(where, key)}: unknown key (known: {', '.join(fields)})")
    kwargs: dict[str, Any] = {}
    before = len(problems)
    for name, f in fields.items():
        if name not in data:
            required = (f.default is dataclasses.MISSING
                        and f.default_factory is dataclasses.MISSING)
            if required:
                problems.append(f"{_join(where, name)}: required key is missing")
            continue
        ok, value = _convert(hints[name], data[name], _join(where, name), problems, base)
        if ok:
            kwargs[name] = value
    if len(problems) > before:
        return None
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        problems.append(f"{label}: {exc}")
        return None


def _convert(tp: Any, value: Any, where: str, problems: list[str], base: Path) -> tuple[bool, Any]:
    origin = get_origin(tp)
    args = get_args(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if value is None:
            return True, None
        if len(options) == 1:
            return _convert(options[0], value, where, problems, base)
        for option in options:
            trial: list[str] = []
            ok, out = _convert(option, value, where, trial, base)
            if ok and not trial:
                return True, out
        problems.append(f"{where}: unexpected value {_show(value)}")
        return False, None
    if origin is Literal:
        if value in args:
            return True, value
        problems.append(f"{where}: {_show(value)} is not one of {', '.join(map(repr, args))}")
        return False, None
    if dataclasses.is_dataclass(tp):
        built = _build(tp, value, where, problems, base)  # type: ignore[arg-type]
        return built is not None, built
    if origin is tuple:
        if not isinstance(value, list | tuple):
            problems.append(f"{where}: expected a list, got {_show(value)}")
            return False, None
        item_type = args[0]
        out = []
        ok_all = True
        for i, item in enumerate(value):
            ok, converted = _convert(item_type, item, f"{where}[{i}]", problems, base)
            ok_all &= ok
            out.append(converted)
        return ok_all, tuple(out)
    if origin in (Mapping, dict, typing.Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            problems.append(f"{where}: expected a table, got {_show(value)}")
            return False, None
        value_type = args[1] if len(args) == 2 else Any
        result: dict[str, Any] = {}
        ok_all = True
        for k, v in value.items():
            ok, converted = _convert(value_type, v, _join(where, str(k)), problems, base)
            ok_all &= ok
            result[str(k)] = converted
        return ok_all, result
    if tp is Any:
        return True, value
    if tp is Path:
        if not isinstance(value, str) or not value:
            problems.append(f"{where}: expected a path string, got {_show(value)}")
            return False, None
        p = Path(value)
        return True, p if p.is_absolute() else (base / p)
    if tp is bool:
        if isinstance(value, bool):
            return True, value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return True, value
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return True, float(value)
    elif tp is str:
        if isinstance(value, str):
            return True, value
    else:
        raise TypeError(f"config parser cannot handle type {tp!r} at {where}")
    problems.append(f"{where}: expected {tp.__name__}, got {_show(value)}")
    return False, None


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
