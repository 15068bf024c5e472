from __future__ import annotations

from linkage.errors import ConfigError, LinkageError, SourceError


def test_source_error_names_source_row_and_field() -> None:
    err = SourceError("bad value", source="tax/person", row=12, field="id_number")
    assert str(err) == "source 'tax/person', row 12, field 'id_number': bad value"
    assert isinstance(err, LinkageError)


def test_config_error_lists_every_problem() -> None:
    err = ConfigError(["a: wrong", "b: missing"], origin="p.toml")
    assert str(err) == "p.toml: 2 problem(s)\n  - a: wrong\n  - b: missing"
    assert err.problems == ["a: wrong", "b: missing"]
