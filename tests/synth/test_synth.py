"""The synthetic generator: determinism, valid codes, complete truth, honoured encodings,
truth consistent with the change history, and every file difference explained."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from python_calamine import CalamineWorkbook

from linkage.config import load_pipeline
from linkage.standardisers.checksums import id_is_valid, org_is_valid, regno_is_valid, uscc_is_valid
from linkage.synth import DEPARTMENTS, SynthConfig, generate
from linkage.synth.departments import FILES, DepartmentFile

SIZE = {"persons": 400, "enterprises": 150, "seed": 7}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    generate(out=out, **SIZE)  # type: ignore[arg-type]
    return out


def read_department(path: Path, spec: DepartmentFile) -> pa.Table:
    """A departmental file as a table of strings, decoded the way the manifest declares."""
    if spec.format == "xlsx":
        rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python(
            skip_empty_area=False)
        header, body = rows[0], rows[1:]
        return pa.table({h: pa.array([str(r[i]) if r[i] != "" else None for r in body],
                                     pa.string()) for i, h in enumerate(header)})
    text = path.read_bytes().decode(spec.encoding)
    convert = pcsv.ConvertOptions(column_types={h: pa.string() for h in
                                                [spec.key_header, *spec.headers.values(),
                                                 spec.updated_header]},
                                  strings_can_be_null=True)
    return pcsv.read_csv(io.BytesIO(text.encode("utf-8")), convert_options=convert)


def test_same_seed_gives_byte_identical_output(world: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate(out=again, **SIZE)  # type: ignore[arg-type]
    first = sorted(p.relative_to(world) for p in world.rglob("*") if p.is_file())
    second = sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert first == second
    for rel in first:
        assert (world / rel).read_bytes() == (again / rel).read_bytes(), rel


def test_another_seed_gives_other_data(world: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    generate(out=other, persons=400, enterprises=150, seed=8)
    a = (world / "household_persons.csv").read_bytes()
    assert a != (other / "household_persons.csv").read_bytes()


def test_every_check_character_in_the_truth_is_valid(world: Path) -> None:
    persons = pq.read_table(world / "truth" / "entities_person.parquet")
    ids = persons.column("id_number").to_pylist()
    assert len(ids) == SIZE["persons"] and len(set(ids)) == len(ids)
    assert all(id_is_valid(i) for i in ids)
    firms = pq.read_table(world / "truth" / "entities_enterprise.parquet").to_pylist()
    assert len(firms) == SIZE["enterprises"]
    for f in firms:
        assert uscc_is_valid(f["credit_code"]), f["credit_code"]
        assert org_is_valid(f["credit_code"][8:17])
        assert f["credit_code"][8:17] == f["org_code"]
        assert f["reg_number"] is None or regno_is_valid(f["reg_number"])
        assert id_is_valid(f["legal_rep_id"])
    assert len({f["credit_code"] for f in firms}) == len(firms)
    assert len({f["name"] for f in firms}) == len(firms)


def test_every_record_is_in_the_truth_with_a_unique_key(world: Path) -> None:
    truth = pq.read_table(world / "truth" / "records.parquet")
    manifest = json.loads((world / "manifest.json").read_text(encoding="utf-8"))
    assert sum(f["records"] for f in manifest["files"]) == truth.num_rows
    entity_ids = set(pq.read_table(world / "truth" / "entities_person.parquet")
                     .column("entity_id").to_pylist())
    entity_ids |= set(pq.read_table(world / "truth" / "entities_enterprise.parquet")
                      .column("entity_id").to_pylist())
    assert set(truth.column("true_entity_id").to_pylist()) <= entity_ids
    departments = set()
    for spec in FILES:
        table = read_department(world / spec.filename, spec)
        keys = table.column(spec.key_header).to_pylist()
        assert len(set(keys)) == len(keys), spec.filename
        mine = truth.filter(pc.and_(pc.equal(truth["source"], spec.department),
                                    pc.equal(truth["entity_type"], spec.entity_type)))
        assert sorted(keys) == sorted(mine.column("source_key").to_pylist()), spec.filename
        departments.add(spec.department)
    assert departments == set(DEPARTMENTS)


def test_declared_encodings_are_honoured(world: Path) -> None:
    for spec in FILES:
        data = (world / spec.filename).read_bytes()
        if spec.format == "xlsx":
            assert data[:2] == b"PK"
            continue
        text = data.decode(spec.encoding)
        assert "姓名" in text or "名称" in text
        if spec.encoding == "gb18030":
            with pytest.raises(UnicodeDecodeError):
                data.decode("utf-8")
        elif spec.encoding == "utf-8-sig":
            assert data.startswith(b"\xef\xbb\xbf")
        else:
            assert not data.startswith(b"\xef\xbb\xbf")


def test_truth_agrees_with_the_change_history(world: Path) -> None:
    changes = pq.read_table(world / "truth" / "changes.parquet").to_pylist()
    assert {c["field"] for c in changes} >= {"address", "phone", "name", "legal_rep_name",
                                               "status"}
    current = {}
    for etype in ("person", "enterprise"):
        for row in pq.read_table(world / "truth" / f"entities_{etype}.parquet").to_pylist():
            current[row["entity_id"]] = row
    last: dict[tuple[str, str], dict[str, object]] = {}
    for c in sorted(changes, key=lambda c: (c["entity_id"], c["field"], c["date"])):
        key = (c["entity_id"], c["field"])
        if key in last:  # consecutive changes chain: each starts where the last ended
            assert last[key]["new_value"] == c["old_value"]
        assert c["old_value"] != c["new_value"]
        assert str(c["date"]) <= "2026-06-30"
        last[key] = c
    for (entity_id, fld), c in last.items():
        assert current[entity_id][fld] == c["new_value"], (entity_id, fld)
    renamed = [c for c in changes if c["field"] == "name"]
    for c in renamed:
        assert current[c["entity_id"]]["former_name"] == c["old_value"]


def test_every_difference_from_the_truth_is_logged(world: Path) -> None:
    """Household values (ISO dates, plain phones) equal the true current value unless
    errors.parquet explains the difference (an injected error or a stale value)."""
    spec = next(f for f in FILES if f.department == "household")
    table = read_department(world / spec.filename, spec).to_pylist()
    truth = {r["source_key"]: r["true_entity_id"] for r in
             pq.read_table(world / "truth" / "records.parquet").to_pylist()
             if r["source"] == "household"}
    entities = {r["entity_id"]: r for r in
                pq.read_table(world / "truth" / "entities_person.parquet").to_pylist()}
    errors = pq.read_table(world / "truth" / "errors.parquet").to_pylist()
    logged = {(e["source_key"], e["field"]) for e in errors if e["source"] == "household"}
    sex = {"男": "M", "女": "F"}
    differences = 0
    for row in table:
        key = row[spec.key_header]
        true = entities[truth[key]]
        for fld, header in spec.headers.items():
            written = row[header]
            written = sex.get(written, written) if fld == "sex" else written
            if written != true[fld]:
                differences += 1
                assert (key, fld) in logged, (key, fld)
    assert differences > 0


def test_error_log_rows_change_the_value(world: Path) -> None:
    errors = pq.read_table(world / "truth" / "errors.parquet")
    assert errors.num_rows > 0
    same = pc.equal(errors["true_value"], errors["written_value"])
    assert not pc.any(pc.fill_null(same, False)).as_py()
    kinds = set(errors.column("kind").to_pylist())
    assert {"missing", "stale", "masked", "id15", "homophone", "drop_prefix",
            "legal_form_variant", "region_prefix", "duplicate"} <= kinds


def test_courts_mask_ids_and_customs_is_an_old_snapshot(world: Path) -> None:
    spec = next(f for f in FILES if f.department == "courts" and f.entity_type == "person")
    ids = [v for v in read_department(world / spec.filename, spec)
           .column(spec.headers["id_number"]).to_pylist() if v]
    assert ids and sum("*" in v for v in ids) / len(ids) > 0.5
    manifest = json.loads((world / "manifest.json").read_text(encoding="utf-8"))
    dates = {f["department"]: f["snapshot_date"] for f in manifest["files"]}
    assert dates["customs"] < "2016-01-01" < dates["courts"]


def test_pipeline_files_load(world: Path) -> None:
    both = load_pipeline(world / "pipeline.toml")
    assert both.entity_types == ("person", "enterprise")
    assert {s.department for s in both.sources} == set(DEPARTMENTS)
    assert both.truth is not None and both.truth.name == "truth"
    assert load_pipeline(world / "persons.toml").entity_types == ("person",)
    assert load_pipeline(world / "enterprises.toml").entity_types == ("enterprise",)
    for source in both.sources:
        assert source.path.exists()


def test_shipped_sample_is_the_documented_generation(tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parents[2] / "linkage" / "data" / "sample"
    generate(persons=300, enterprises=120, seed=20261127, out=tmp_path)
    shipped = sorted(p.relative_to(sample) for p in sample.rglob("*") if p.is_file())
    assert shipped == sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")
                             if p.is_file())
    for rel in shipped:
        assert _content(sample / rel) == _content(tmp_path / rel), rel


def _content(path: Path) -> object:
    """A file's content, independent of library versions: Parquet as rows (the footer names
    the writer's version), .xlsx as its members (deflate output may differ between zlib
    builds), anything else as bytes."""
    import zipfile

    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    if path.suffix == ".xlsx":
        with zipfile.ZipFile(path) as zf:
            return {name: zf.read(name) for name in sorted(zf.namelist())}
    return path.read_bytes()


def test_config_rejects_bad_rates() -> None:
    with pytest.raises(ValueError, match="id_typo"):
        SynthConfig(id_typo=1.5)
    with pytest.raises(ValueError, match="unknown rate"):
        SynthConfig(department_rates={"courts": {"no_such_rate": 0.1}})
    with pytest.raises(ValueError, match="ISO"):
        SynthConfig(reference_date="30/06/2026")
    assert SynthConfig().rate("id_missing", "courts") == 0.20
    assert SynthConfig().rate("id_missing", "household") == 0.005


def test_rates_follow_the_config(tmp_path: Path) -> None:
    config = SynthConfig(name_homophone=0.0, id_typo=0.2, department_rates={})
    generate(persons=500, enterprises=0, seed=1, out=tmp_path, config=config)
    errors = pq.read_table(tmp_path / "truth" / "errors.parquet").to_pylist()
    person_names = [e for e in errors if e["field"] == "name" and e["kind"] == "homophone"]
    assert person_names == []
    typos = [e for e in errors if e["field"] == "id_number" and e["kind"] == "typo"]
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    eligible = sum(s["eligible"] for s in manifest["error_stats"]
                   if s["field"] == "id_number" and s["kind"] == "typo")
    assert 0.15 < len(typos) / eligible < 0.25
    for e in typos:  # exactly one character differs
        t, w = e["true_value"], e["written_value"]
        assert len(t) == len(w) == 18 and sum(a != b for a, b in zip(t, w, strict=True)) == 1
    assert not (tmp_path / "enterprises.toml").exists()


def test_truth_is_in_standardised_form(world: Path) -> None:
    """Every true value is a fixed point of its field's standardiser, so golden records
    can be scored against the truth by plain equality."""
    from linkage.standardisers import STANDARDISERS
    from linkage.synth.pipeline_template import ENTERPRISE_FIELDS, PERSON_FIELDS

    for etype, fields in (("person", PERSON_FIELDS), ("enterprise", ENTERPRISE_FIELDS)):
        table = pq.read_table(world / "truth" / f"entities_{etype}.parquet")
        for fld, name in fields.items():
            if fld == "former_name" and fld not in table.column_names:
                continue  # people keep their names in the generator (departmental renames)
            column = table.column(fld).combine_chunks()
            result = STANDARDISERS[name](column)
            present = [v for v in column.to_pylist() if v is not None]
            assert present, (etype, fld)
            pairs = zip(column.to_pylist(), result.value.to_pylist(), strict=True)
            assert [(v, s) for v, s in pairs if v is not None and v != s] == [], (etype, fld)


def test_benchmark_scripts_run_at_a_small_size(world: Path) -> None:
    import re
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    bench = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "bench_generate.py"), "--persons", "200",
         "--enterprises", "50"], capture_output=True, text=True, check=True, timeout=300)
    last = bench.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"seconds=\d+\.\d peak_mb=\d+ records=\d+", last), last
    check = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "check_error_rates.py"), str(world),
         "--min-expected", "20"], capture_output=True, text=True, check=False, timeout=300)
    assert "id_number" in check.stdout and "pooled over departments" in check.stdout
    assert check.stdout.strip().splitlines()[-1].startswith("checked=")


def test_public_names_are_pinned() -> None:
    import linkage.synth

    assert sorted(linkage.synth.__all__) == ["DEPARTMENTS", "Manifest", "SynthConfig",
                                             "generate"]


def test_tiny_worlds_do_not_break(tmp_path: Path) -> None:
    for persons, enterprises in ((1, 1), (3, 0)):
        out = tmp_path / f"w{persons}_{enterprises}"
        manifest = generate(persons=persons, enterprises=enterprises, seed=5, out=out)
        assert manifest.records == pq.read_table(out / "truth" / "records.parquet").num_rows
    with pytest.raises(ValueError):
        generate(persons=0, enterprises=1, seed=5, out=tmp_path / "none")


def test_twins_are_hard_negatives(tmp_path: Path) -> None:
    generate(persons=2000, enterprises=0, seed=11, out=tmp_path,
             config=SynthConfig(twin_share=0.05))
    people = {r["entity_id"]: r for r in
              pq.read_table(tmp_path / "truth" / "entities_person.parquet").to_pylist()}
    twins = [(r, people[r["twin_of"]]) for r in people.values() if r["twin_of"]]
    assert 50 < len(twins) < 150
    for young, elder in twins:
        assert young["birth_date"] == elder["birth_date"]
        assert young["id_number"][:14] == elder["id_number"][:14]
        assert young["id_number"] != elder["id_number"]
        assert young["address"] == elder["address"]
        assert young["name"] != elder["name"] and young["name"][0] == elder["name"][0]
        assert elder["twin_of"] is None
