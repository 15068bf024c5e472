"""MkDocs hook: pages generated from the code, so the documentation cannot drift from it.

``<!-- linkage:config-reference -->`` becomes one section per configuration object (its
TOML table, docstring, and every key with its type and default); ``<!--
linkage:standardisers -->`` becomes one section per registered standardiser with its
module's docstring (statuses and derived columns); ``<!-- linkage:generator-config -->``
the generator's rates; ``<!-- linkage:presets -->`` the shipped entity sections;
``<!-- linkage:exit-codes -->`` the command's exit codes.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
import typing
from typing import Any

from linkage.cli import EXIT_CODES_HELP
from linkage.config import EntityConfig, PipelineConfig, SourceConfig
from linkage.engines.settings import EngineConfig
from linkage.master.conflicts import ConflictConfig
from linkage.master.gates import GatesConfig
from linkage.master.golden import SurvivorshipConfig
from linkage.master.review import ReviewConfig
from linkage.match.block import BlockingPass
from linkage.match.compare import Comparison
from linkage.match.presets import section_toml
from linkage.match.score import ScoringConfig
from linkage.standardisers import STANDARDISERS
from linkage.synth.config import SynthConfig

#: (TOML table, object) in the order a pipeline file reads
CONFIG_OBJECTS: list[tuple[str, type]] = [
    ("top level", PipelineConfig),
    ("[[sources]]", SourceConfig),
    ("[person] / [enterprise]", EntityConfig),
    ("[[person.blocking]]", BlockingPass),
    ("[[person.comparisons]]", Comparison),
    ("[person.scoring]", ScoringConfig),
    ("[person.survivorship]", SurvivorshipConfig),
    ("[person.conflicts]", ConflictConfig),
    ("[person.review]", ReviewConfig),
    ("[gates]", GatesConfig),
    ("[engine]", EngineConfig),
]

_HIDDEN = {"base_dir"}  # set by the loader, never written in a file


def config_reference(objects: list[tuple[str, type]] = CONFIG_OBJECTS) -> str:
    """Markdown: every configuration object with its keys, types and defaults."""
    parts = []
    for table, cls in objects:
        hints = typing.get_type_hints(cls)
        parts.append(f"## `{table}`\n\n`{cls.__module__}.{cls.__qualname__}`\n")
        doc = inspect.getdoc(cls) or ""
        parts.append("```text\n" + doc + "\n```\n")
        notes = _field_comments(cls)
        rows = ["| key | type | default | note |", "|---|---|---|---|"]
        for f in dataclasses.fields(cls):
            if f.name in _HIDDEN:
                continue
            note = notes.get(f.name, "").replace("|", "\\|")
            rows.append(f"| `{f.name}` | `{_type(hints[f.name])}` | {_default(f)} | {note} |")
        parts.append("\n".join(rows) + "\n")
    return "\n".join(parts)


def _field_comments(cls: type) -> dict[str, str]:
    """The ``#:`` comments written above each field in the class's source."""
    notes: dict[str, str] = {}
    pending: list[str] = []
    for line in inspect.getsource(cls).splitlines():
        text = line.strip()
        if text.startswith("#:"):
            pending.append(text[2:].strip())
            continue
        match = re.match(r"(\w+)\s*:", text)
        if match and pending:
            notes[match.group(1)] = " ".join(pending)
        pending = []
    return notes


def standardiser_reference() -> str:
    """Markdown: each registered standardiser and its module's docstring."""
    parts = []
    for name, fn in STANDARDISERS.items():
        module = sys.modules[fn.__module__]
        doc = inspect.getdoc(module) or inspect.getdoc(fn) or ""
        parts.append(f"## `{name}`\n\n`{fn.__module__}.{fn.__name__}`\n\n```text\n{doc}\n```\n")
    return "\n".join(parts)


def _type(tp: Any) -> str:
    text = str(tp) if not isinstance(tp, type) else tp.__name__
    for prefix in ("typing.", "collections.abc.", "pathlib.", "linkage.match.block.",
                   "linkage.match.compare.", "linkage.match.score.", "linkage.master.golden.",
                   "linkage.master.conflicts.", "linkage.master.gates.", "linkage.config.",
                   "linkage.match.comparators."):
        text = text.replace(prefix, "")
    return text.replace("|", "\\|")


def _default(f: dataclasses.Field[Any]) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
        if dataclasses.is_dataclass(value):
            return "(defaults)"
    else:
        return "**required**"
    return f"`{value!r}`".replace("|", "\\|")


MARKERS = {
    "<!-- linkage:config-reference -->": config_reference,
    "<!-- linkage:standardisers -->": standardiser_reference,
    "<!-- linkage:generator-config -->": lambda: config_reference(
        [("linkage generate --config rates.toml", SynthConfig)]),
    "<!-- linkage:presets -->": lambda: "\n".join(
        f"### `EntityConfig.preset(\"{t}\")`\n\n```toml\n{section_toml(t)}```\n"
        for t in ("person", "enterprise")),
    "<!-- linkage:exit-codes -->": lambda: "```text\n" + EXIT_CODES_HELP + "\n```\n",
}


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Replace each marker with the text generated from the code."""
    for marker, make in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown
