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

    [person]                   # and/or [enterprise]
    fields = { name = "person_name", id_number = "id_number" }   # field -> standardiser
    [[person.blocking]] ...    # see linkage.match.block.BlockingPass
    [[person.comparisons]] ... # see linkage.match.compare.Comparison
    [person.scoring] ...       # see linkage.match.score.ScoringConfig
    [person.survivorship] ...  # see linkage.master.golden.SurvivorshipConfig
    [person.conflicts] ...     # see linkage.master.conflicts.ConflictConfig
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

from linkage.errors import ConfigError
from linkage.master.conflicts import ConflictConfig
from linkage.master.golden import SurvivorshipConfig
from linkage.match.block import BlockingPass
from linkage.match.compare import Comparison
from linkage.match.score import ScoringConfig
from linkage.schemas import ENTITY_TYPES
from linkage.standardisers import STANDARDISERS

EntityType = Literal["person", "enterprise"]
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
    key: str
    columns: Mapping[str, str]
    format: SourceFormat | None = None
    encoding: Encoding = "utf-8"
    delimiter: str = ","
    sheet: str | None = None
    updated_at: str | None = None
    snapshot_date: str | None = None
    trust: Mapping[str, float] = field(default_factory=dict)
    default_trust: float = 0.5
    query: str | None = None
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

    def __post_init__(self) -> None:
        missing_identity = [f for f in self.identity_fields
                            if f.split("__", 1)[0] not in self.fields]
        if missing_identity:
            raise ValueError(f"identity_fields {missing_identity} are not declared fields or "
                             f"derived columns of them")
        unknown = [s for s in self.fields.values() if s not in STANDARDISERS]
        if unknown:
            raise ValueError(
                f"unknown standardiser(s) {', '.join(map(repr, unknown))} "
                f"(known: {', '.join(sorted(STANDARDISERS))})"
            )
        if not self.blocking:
            raise ValueError("at least one blocking pass is needed")
        if not self.comparisons:
            raise ValueError("at least one comparison is needed")


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

    def __post_init__(self) -> None:
        if not self.sources:
            raise ValueError("at least one [[sources]] table is needed")
        if self.person is None and self.enterprise is None:
            raise ValueError("declare a [person] or [enterprise] section (or both)")

    def entity(self, entity_type: str) -> EntityConfig | None:
        """The section for ``entity_type``, or None when this pipeline does not resolve it."""
        section: EntityConfig | None = getattr(self, entity_type)
        return section

    @property
    def entity_types(self) -> tuple[str, ...]:
        """Entity types this pipeline resolves, in a fixed order."""
        return tuple(t for t in ENTITY_TYPES if self.entity(t) is not None)


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
    problems: list[str] = []
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
            problems.append(f"{where}.entity_type: {source.entity_type!r} has no "
                            f"[{source.entity_type}] section")
            continue
        extra = sorted(set(source.columns) - set(section.fields))
        if extra:
            problems.append(f"{where}.columns: field(s) {', '.join(map(repr, extra))} are not "
                            f"declared in [{source.entity_type}.fields]")
    for etype in config.entity_types:
        section = config.entity(etype)
        assert section is not None
        for j, bp in enumerate(section.blocking):
            for key in bp.keys:
                if not _is_known_column(key, section):
                    problems.append(f"{etype}.blocking[{j}].keys: {key!r} is not a field or "
                                    f"derived column of [{etype}.fields]")
        for j, comp in enumerate(section.comparisons):
            if not _is_known_column(comp.field, section):
                problems.append(f"{etype}.comparisons[{j}].field: {comp.field!r} is not a "
                                f"field of [{etype}.fields]")
    return problems


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
