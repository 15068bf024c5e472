"""Every knob of the generator in one frozen dataclass: dates, coverage, error rates.

Defaults follow the error model in DOMAIN.md ("Error model for synthetic departmental
data"). A rate is a probability per eligible record; ``department_rates`` overrides a rate
for one department (courts miss ID numbers far more often than the household registry).
Nothing here reads today's date: the world is frozen at ``reference_date``.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

DEPARTMENTS = ("household", "social_security", "tax", "market", "courts", "customs")


def _default_snapshots() -> dict[str, str]:
    return {
        "household": "2026-06-30",
        "social_security": "2025-12-31",
        "tax": "2026-03-31",
        "market": "2026-05-31",
        "courts": "2024-09-30",
        "customs": "2014-12-31",
    }


def _default_coverage() -> dict[str, float]:
    return {
        "household/person": 0.95,
        "social_security/person": 0.70,
        "tax/person": 0.55,
        "courts/person": 0.06,
        "tax/enterprise": 0.85,
        "market/enterprise": 0.97,
        "courts/enterprise": 0.15,
        "customs/enterprise": 0.60,  # of enterprises holding a customs code
    }


def _default_department_rates() -> dict[str, dict[str, float]]:
    return {
        "courts": {"id_missing": 0.20, "credit_code_missing": 0.30, "abbreviated_name": 0.10,
                   "id_masked": 0.90, "phone_missing": 0.60, "birth_date_missing": 0.10},
        "customs": {"id_missing": 0.05},
        "social_security": {"id_15_digit": 0.03},
        "household": {"rare_char_replaced": 0.0, "address_drop_prefix": 0.05},
    }


@dataclass(frozen=True, kw_only=True)
class SynthConfig:
    """Dates, coverage and error rates of a synthetic multi-department world."""

    reference_date: str = "2026-06-30"
    snapshot_dates: Mapping[str, str] = field(default_factory=_default_snapshots)
    coverage: Mapping[str, float] = field(default_factory=_default_coverage)
    department_rates: Mapping[str, Mapping[str, float]] = field(
        default_factory=_default_department_rates)

    # population
    common_name_share: float = 0.02
    minority_name_share: float = 0.005
    rare_char_share: float = 0.04
    hmt_share: float = 0.005
    twin_share: float = 0.005
    branch_share: float = 0.05
    customs_share: float = 0.30
    person_move_share: float = 0.20
    phone_change_share: float = 0.15
    rename_share: float = 0.12
    legal_rep_change_share: float = 0.12
    enterprise_move_share: float = 0.10
    status_end_share: float = 0.08
    within_department_duplicate: float = 0.01

    # identity numbers
    id_missing: float = 0.005
    id_15_digit: float = 0.01
    id_fullwidth: float = 0.005
    id_spaced: float = 0.005
    id_typo: float = 0.003
    id_transposition: float = 0.001
    id_placeholder: float = 0.002
    id_shared_pre2015: float = 0.001
    id_masked: float = 0.0

    # names
    # DOMAIN: 1.5% of names carry a character error; about half are homophones, 30% both
    # homophone and look-alike (counted here as homophones), a sixth look-alikes only.
    name_homophone: float = 0.012
    name_lookalike: float = 0.0025
    traditional: float = 0.005
    traditional_hmt: float = 0.30
    rare_char_replaced: float = 0.60
    minority_separator: float = 0.50
    minority_order_swap: float = 0.05
    name_missing: float = 0.001

    # other person fields
    registration_error: float = 0.008
    birth_date_missing: float = 0.002
    sex_missing: float = 0.002
    phone_missing: float = 0.05
    phone_typo: float = 0.003

    # addresses
    outdated_division_base: float = 0.05
    outdated_division_per_year: float = 0.01
    outdated_division_max: float = 0.15
    address_drop_prefix: float = 0.30
    address_drop_suffix: float = 0.10
    address_missing: float = 0.01

    # enterprises
    credit_code_missing: float = 0.01
    old_reg_number_pre2016: float = 0.075
    org_code_pre2016: float = 0.05
    credit_code_typo: float = 0.003
    legal_form_variant: float = 0.03
    region_prefix: float = 0.05
    abbreviated_name: float = 0.02
    former_name_per_year: float = 0.02
    branch_confusion: float = 0.01
    field_missing: float = 0.01

    def __post_init__(self) -> None:
        problems: list[str] = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not 0.0 <= value <= 1.0:
                problems.append(f"{f.name} must be within 0..1, got {value!r}")
        for dept, rates in self.department_rates.items():
            for kind, value in rates.items():
                if not hasattr(self, kind) or not isinstance(getattr(self, kind), float):
                    problems.append(f"department_rates.{dept}.{kind}: unknown rate")
                elif not 0.0 <= value <= 1.0:
                    problems.append(f"department_rates.{dept}.{kind} must be within 0..1")
        for dept, text in {**self.snapshot_dates, "reference_date": self.reference_date}.items():
            try:
                date.fromisoformat(text)
            except ValueError:
                problems.append(f"date {dept!r} is not ISO YYYY-MM-DD: {text!r}")
        unknown = sorted(set(self.snapshot_dates) - set(DEPARTMENTS))
        if unknown:
            problems.append(f"snapshot_dates: unknown department(s) {unknown}")
        if problems:
            raise ValueError("; ".join(problems))

    def rate(self, kind: str, department: str) -> float:
        """The rate of error ``kind`` in ``department`` (its override, else the default)."""
        override = self.department_rates.get(department, {})
        if kind in override:
            return float(override[kind])
        value = getattr(self, kind)
        assert isinstance(value, float), kind
        return value

    def snapshot(self, department: str) -> date:
        """The snapshot date of ``department``."""
        return date.fromisoformat(self.snapshot_dates[department])

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (for the manifest)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Mapping):
                value = {k: dict(v) if isinstance(v, Mapping) else v
                         for k, v in sorted(value.items())}
            out[f.name] = value
        return out


def load_synth_config(path: str | Path) -> SynthConfig:
    """Generator options from a TOML file: any subset of :class:`SynthConfig`'s keys.

    Tables (``snapshot_dates``, ``coverage``, ``department_rates``) are merged into the
    defaults key by key, so a file can change one department's rate without restating the
    others. Every problem is reported at once, naming the key.
    """
    from linkage.config import config_from_dict
    from linkage.errors import ConfigError

    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"file not found: {path}"], origin=str(path)) from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError([f"not valid UTF-8 TOML: {exc}"], origin=str(path)) from None
    defaults = SynthConfig()
    for name in ("snapshot_dates", "coverage"):
        if isinstance(data.get(name), Mapping):
            data[name] = {**getattr(defaults, name), **data[name]}
    if isinstance(data.get("department_rates"), Mapping):
        merged = {k: dict(v) for k, v in defaults.department_rates.items()}
        for dept, rates in data["department_rates"].items():
            # A value that is not a table is left as it is for the validator to name.
            merged[dept] = {**merged.get(dept, {}), **rates} if isinstance(rates, Mapping) \
                else rates
        data["department_rates"] = merged
    return config_from_dict(SynthConfig, data, origin=str(path))
