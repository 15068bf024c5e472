from __future__ import annotations

import io
import logging
import sys

import pytest

from linkage.errors import ConfigError, LinkageError, SourceError


def test_source_error_names_source_row_and_field() -> None:
    err = SourceError("bad value", source="tax/person", row=12, field="id_number")
    assert str(err) == "source 'tax/person', row 12, field 'id_number': bad value"
    assert isinstance(err, LinkageError)


def test_config_error_lists_every_problem() -> None:
    err = ConfigError(["a: wrong", "b: missing"], origin="p.toml")
    assert str(err) == "p.toml: 2 problem(s)\n  - a: wrong\n  - b: missing"
    assert err.problems == ["a: wrong", "b: missing"]


def test_source_error_without_row_or_field() -> None:
    assert str(SourceError("file not found: x.csv", source="tax/person")) == (
        "source 'tax/person': file not found: x.csv")


def test_cli_log_lines_are_console_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from linkage import cli

    for log_format in ("text", "json"):
        stream = io.StringIO()
        monkeypatch.setattr(sys, "stderr", stream)
        args = argparse.Namespace(log_level=None, quiet=False, verbose=False,
                                  log_format=log_format)
        handler = cli._setup_logging(args)
        try:
            logging.getLogger("linkage.test").warning("department %s, block key %s",
                                                      "tax\x1b[2J", "13800138000")
        finally:
            logging.getLogger("linkage").removeHandler(handler)
        text = stream.getvalue()
        assert "\x1b" not in text and "13800138000" not in text, log_format
        assert "138******00" in text, log_format
        if log_format == "text":
            assert "tax\\x1b[2J" in text


def test_cli_turns_os_errors_and_bugs_into_one_line(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]
                                                    ) -> None:
    from linkage import cli

    def disk_full(args: object) -> int:
        raise OSError(28, "No space left on device", "/data/out/records.parquet")

    def bug(args: object) -> int:
        raise TypeError("id 11010519491231002X broke something")

    for handler, code, expected in ((disk_full, 2, "No space left on device"),
                                    (bug, 1, "internal error")):
        monkeypatch.setattr(cli, "_cmd_demo", handler)
        assert cli.main(["demo", "--out", "x"]) == code
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err and len(err.splitlines()) == 1
        assert "11010519491231002X" not in err
