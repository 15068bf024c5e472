"""Who may ask the service what, what they see, and the audit log of every lookup.

API keys come from a key file (TOML) or the environment::

    audit_secret = "a long random string"   # keys the hashes in the audit log
    [[keys]]
    name = "counter-07"                     # who, in the audit log
    sha256 = "9f86d0..."                    # the key's SHA-256 (or key = "the key")
    role = "clerk"
    [roles.clerk]                           # built in: clerk (masked), officer (unmasked)
    unmask = false

or ``LINKAGE_API_KEY`` (and ``LINKAGE_API_ROLE``, default clerk) for a single key. ID
numbers and phones in responses are masked unless the caller's role has ``unmask``.

The audit log is JSON lines, one per request: when, who, what, which entities, and the
looked-up identifiers as a keyed hash (HMAC-SHA256 with the audit secret), never in
clear. Without a configured secret each start of the service draws a random one (shared by
its workers), so hashes compare within one start only. Each line is one ``write`` to a
file opened for appending, so the service's worker processes can share the file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from linkage.errors import ConfigError
from linkage.privacy import mask

__all__ = ["AuditLog", "Caller", "KeyStore", "mask_resolution", "mask_response"]

#: standardisers whose values are personal identifiers (masked unless the role unmasks)
PERSONAL_STANDARDISERS = frozenset({"id_number", "phone"})
_BUILT_IN_ROLES = {"clerk": False, "officer": True}


@dataclass(frozen=True)
class Caller:
    """An authenticated caller (or the anonymous local one)."""

    name: str
    role: str
    unmask: bool


@dataclass(frozen=True)
class KeyStore:
    """Known keys by their SHA-256, and what each role may see."""

    keys: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # sha256 -> name, role
    roles: Mapping[str, bool] = field(default_factory=lambda: dict(_BUILT_IN_ROLES))
    audit_secret: bytes = b""

    @property
    def empty(self) -> bool:
        return not self.keys

    @classmethod
    def load(cls, path: Path | None, env: Mapping[str, str] | None = None) -> KeyStore:
        """Keys from ``path`` (TOML) and/or ``LINKAGE_API_KEY``; the audit secret from the
        file, ``LINKAGE_AUDIT_SECRET`` or, failing both, a fresh random one."""
        env = os.environ if env is None else env
        keys: dict[str, tuple[str, str]] = {}
        roles = dict(_BUILT_IN_ROLES)
        secret = env.get("LINKAGE_AUDIT_SECRET", "")
        if path is not None:
            data = _read_toml(path)
            problems: list[str] = []
            for name, spec in (data.get("roles") or {}).items():
                if not isinstance(spec, Mapping) or not isinstance(spec.get("unmask", False),
                                                                   bool):
                    problems.append(f"roles.{name}: expected a table with unmask = true/false")
                    continue
                roles[str(name)] = bool(spec.get("unmask", False))
            for i, spec in enumerate(data.get("keys") or []):
                where = f"keys[{i}]"
                if not isinstance(spec, Mapping):
                    problems.append(f"{where}: expected a table")
                    continue
                name, role = spec.get("name"), spec.get("role", "clerk")
                digest = spec.get("sha256") or (hashlib.sha256(str(spec["key"]).encode())
                                                .hexdigest() if spec.get("key") else None)
                if not isinstance(name, str) or not name:
                    problems.append(f"{where}.name: required")
                if not digest:
                    problems.append(f"{where}: give key or sha256")
                if role not in roles:
                    problems.append(f"{where}.role: unknown role {role!r} (known: "
                                    f"{', '.join(sorted(roles))})")
                if isinstance(name, str) and digest and role in roles:
                    keys[str(digest).lower()] = (name, str(role))
            if problems:
                raise ConfigError(problems, origin=str(path))
            secret = str(data.get("audit_secret") or secret)
        if env.get("LINKAGE_API_KEY"):
            role = env.get("LINKAGE_API_ROLE", "clerk")
            if role not in roles:
                raise ConfigError([f"LINKAGE_API_ROLE: unknown role {role!r}"],
                                  origin="environment")
            digest = hashlib.sha256(env["LINKAGE_API_KEY"].encode()).hexdigest()
            keys[digest] = ("env-key", role)
        return cls(keys, roles, (secret or secrets.token_hex(32)).encode())

    def caller(self, key: str | None, *, anonymous_ok: bool, client: str) -> Caller | None:
        """The caller a key belongs to; the anonymous local caller (masked) when no key is
        configured and the service is bound to loopback; None when refused."""
        if key:
            digest = hashlib.sha256(key.encode()).hexdigest()
            for known, (name, role) in self.keys.items():
                if hmac.compare_digest(known, digest):
                    return Caller(name, role, self.roles.get(role, False))
            return None
        if anonymous_ok and self.empty:
            return Caller(f"anonymous@{client}", "anonymous", False)
        return None


class AuditLog:
    """Appends one JSON line per lookup; identifiers only as keyed hashes."""

    def __init__(self, path: Path, secret: bytes) -> None:
        self.path = path
        self.secret = secret
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def keyed_hash(self, value: str) -> str:
        return hmac.new(self.secret, value.encode("utf-8"), hashlib.sha256).hexdigest()[:24]

    def write(self, caller: Caller | None, action: str, *, status: int,
              entity_ids: Iterable[str] = (), identifiers: Iterable[str] = (),
              n_records: int = 0, client: str = "") -> None:
        line = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "who": caller.name if caller else "refused",
            "role": caller.role if caller else None,
            "client": client,
            "action": action,
            "status": status,
            "records": n_records,
            "entities": sorted(set(entity_ids)),
            "identifiers": [self.keyed_hash(v) for v in identifiers if v],
        }
        os.write(self._fd, (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8"))

    def close(self) -> None:
        os.close(self._fd)


def personal_fields(fields: Mapping[str, str]) -> frozenset[str]:
    """The fields of a section whose standardiser makes them personal identifiers."""
    return frozenset(f for f, s in fields.items() if s in PERSONAL_STANDARDISERS)


def mask_response(value: Any, personal: frozenset[str]) -> Any:
    """``value`` (a resolve or entity answer) with every personal field's values masked:
    golden and record fields (and their ``__raw``), conflict values of those fields."""
    if type(value) is list or isinstance(value, list):
        return [mask_response(v, personal) for v in value]
    if type(value) is not dict and not isinstance(value, Mapping):
        return value
    out: dict[str, Any] = {}
    conflict_field = value.get("field") if "candidates" in value and "kind" in value else None
    conflict_personal = conflict_field in personal
    for key, v in value.items():
        kind = type(v)
        if kind is str:
            if _personal_key(key, personal) or (conflict_personal and key == "golden_value"):
                out[key] = mask(v)
            else:
                out[key] = v
        elif conflict_personal and key == "candidates" and kind is list:
            out[key] = [{k: (mask(x) if k in ("value", "raw_value") and isinstance(x, str)
                             else x) for k, x in c.items()} if isinstance(c, Mapping) else c
                        for c in v]
        elif kind is dict or kind is list or isinstance(v, Mapping | list):
            out[key] = mask_response(v, personal)
        else:
            out[key] = v
    return out


def mask_resolution(body: Mapping[str, Any], personal: frozenset[str]) -> dict[str, Any]:
    """:func:`mask_response` of a resolve answer, the same output without walking all of
    it: the golden record's personal fields (and their ``__raw``) are masked by name, the
    conflicts walked (a few small dicts), the candidates walked only when one carries an
    explanation or a personal key (their ids, sources and scores are not identifiers)."""
    out = dict(body)
    golden = body.get("golden")
    if type(golden) is dict:
        if any(type(v) is not str and isinstance(v, Mapping | list) for v in golden.values()):
            out["golden"] = mask_response(golden, personal)
        else:
            masked = dict(golden)
            for key in _masked_keys(personal):
                if type(masked.get(key)) is str:
                    masked[key] = mask(masked[key])
            out["golden"] = masked
    elif golden is not None:
        out["golden"] = mask_response(golden, personal)
    out["conflicts"] = mask_response(body.get("conflicts", []), personal)
    candidates = body.get("candidates", [])
    if type(candidates) is not list or any(
            type(c) is not dict or "explanation" in c or any(_personal_key(k, personal)
                                                            for k in c)
            for c in candidates):
        out["candidates"] = mask_response(candidates, personal)
    for key, value in body.items():
        if key not in ("golden", "conflicts", "candidates") and (
                _personal_key(key, personal) or isinstance(value, Mapping | list)):
            out[key] = mask_response({key: value}, personal)[key]
    return out


@lru_cache(maxsize=64)
def _masked_keys(personal: frozenset[str]) -> tuple[str, ...]:
    """The keys :func:`_personal_key` accepts: each personal field and its ``__raw``."""
    return tuple(k for f in sorted(personal) for k in (f, f"{f}__raw"))


@lru_cache(maxsize=4096)
def _personal_key(key: str, personal: frozenset[str]) -> bool:
    """Whether ``key`` holds a personal field's value (the field, or its ``__raw``)."""
    base, _, tail = key.partition("__")
    return base in personal and tail in ("", "raw")


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError([f"key file not found: {path}"], origin=str(path))
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError([f"not a valid TOML key file: {exc}"], origin=str(path)) from None
