"""The general standardisers: folded text, Latin names, phones of any country, declared
date formats, general addresses and numbers (hand-checked values)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from linkage.errors import ConfigError
from linkage.standardisers import get_standardiser, standardise
from linkage.standardisers.stage import null_words_for

Out = tuple[list[object], list[object], dict[str, list[object]]]


def _run(name: str, values: list[str | None]) -> Out:
    out = get_standardiser(name)(pa.array(values, pa.string()))
    return (out.value.to_pylist(), out.status.to_pylist(),
            {k: v.to_pylist() for k, v in out.derived.items()})


def test_text_folded_drops_case_accents_and_punctuation() -> None:
    value, status, _ = _run("text_folded", ["  Café  de   Flore! ", "Ørsted-ŁÓDŹ", "Straße",
                                             "?!", None])
    assert value == ["cafe de flore", "orsted lodz", "strasse", None, None]
    assert status == ["ok", "ok", "ok", "missing", "missing"]


def test_latin_name_parts_titles_and_order_free_key() -> None:
    value, status, derived = _run("latin_name", ["Dr. José O'Brien-Smith Jr", "SMITH, John",
                                                 "john smith", "123", None])
    assert value == ["jose obrien smith", "smith john", "john smith", None, None]
    assert status == ["ok", "ok", "ok", "no_letters", "missing"]
    assert derived["first"] == ["jose", "smith", "john", None, None]
    assert derived["last"] == ["smith", "john", "smith", None, None]
    assert derived["sorted"] == ["jose obrien smith", "john smith", "john smith", None, None]
    assert derived["initials"] == ["jos", "sj", "js", None, None]


def test_na_nan_and_none_are_names_in_a_name_field_but_missing_in_text() -> None:
    n = 5
    records = pa.table({
        "record_id": pa.array(range(n), pa.int64()),
        "source": pa.array(["a"] * n), "source_key": pa.array([str(i) for i in range(n)]),
        "entity_type": pa.array(["person"] * n),
        "source_row": pa.array(range(1, n + 1), pa.int64()),
        "updated_at": pa.nulls(n, pa.date32()),
        "surname": pa.array(["Na", "NAN", " None ", "N/A", "Nana"]),
        "note": pa.array(["Na", "NAN", " None ", "N/A", "Nana"]),
    })
    out = standardise(records, {"surname": "latin_name", "note": "text_folded"})
    assert out.column("surname").to_pylist() == ["na", "nan", "none", None, "nana"]
    assert out.column("note").to_pylist() == [None, None, None, None, "nana"]
    assert "NA" in null_words_for("text") and "NA" not in null_words_for("latin_name")


def test_phone_intl_writes_e164_with_the_default_region() -> None:
    value, status, derived = _run("phone_intl:GB", [
        "020 7946 0018", "+44 20 7946 0018", "0044 (20) 7946-0018 ext. 3", "+1 650 253 0000",
        "+1 555 555 0100", "12", "call me", None])
    assert value == ["+442079460018"] * 3 + ["+16502530000", "+15555550100", None, None, None]
    assert status == ["ok"] * 4 + ["ok_possible", "invalid", "invalid", "missing"]
    assert derived["country"][:4] == ["GB", "GB", "GB", "US"]
    assert derived["national"][0] == "2079460018"
    # without a region a national number cannot be read
    value, status, _ = _run("phone_intl", ["020 7946 0018", "+44 20 7946 0018"])
    assert value == [None, "+442079460018"] and status == ["invalid", "ok"]


def test_declared_date_format() -> None:
    value, status, derived = _run("date:%d/%m/%Y", ["03/02/1985", " 1/1/2001 ", "30/02/1985",
                                                    "1985-02-03", None])
    assert value == ["1985-02-03", "2001-01-01", None, None, None]
    assert status == ["ok", "ok", "bad_date", "bad_date", "missing"]
    assert derived["year"] == ["1985", "2001", None, None, None]
    assert _run("date:%m/%d/%Y", ["03/02/1985"])[0] == ["1985-03-02"]
    assert _run("date:%d %b %Y", ["3 Feb 1985"])[0] == ["1985-02-03"]


@pytest.mark.parametrize("name", ["date:%d/%m", "phone_intl:XX", "soundex:1"])
def test_bad_arguments_are_config_errors(name: str) -> None:
    with pytest.raises(ConfigError):
        get_standardiser(name)


def test_general_address_abbreviates_and_splits_numbers() -> None:
    value, status, derived = _run("address_general", [
        "123 North Main Street, Apt 4B", "123 N. Main St. apt 4b", "PO Box", None])
    assert value == ["123 n main st apt 4b", "123 n main st apt 4b", "po box", None]
    assert status == ["ok", "ok", "ok", "missing"]
    assert derived["numbers"] == ["123 4", "123 4", None, None]
    assert derived["words"] == ["n main st apt", "n main st apt", "po box", None]


def test_number() -> None:
    value, status, _ = _run("number", ["1,200.50", "$ 3", "-2.0", "abc", "1e400", None])
    assert value == ["1200.5", "3", "-2", None, None, None]
    assert status == ["ok", "ok", "ok", "not_a_number", "not_a_number", "missing"]


def test_mobiles_cleaned_as_a_column_are_cleaned_as_one_value() -> None:
    from linkage.standardisers.phone import standardise_phone, standardise_phone_text

    raw = ["13800138000", "138-0013-8000", "+86 13800138000", "+8613800138000",
           "+86 138-0013-8000", "1380013-8000", "12800138000", "+86  13800138000",
           "138-0013-80001", "0086 13800138000", "8613800138000", " 13800138000 "]
    result = standardise_phone(pa.array(raw, pa.string()))
    for i, text in enumerate(raw):
        row = (result.value[i].as_py(), result.status[i].as_py(),
               result.derived["kind"][i].as_py())
        assert row == standardise_phone_text(text.strip()), text
