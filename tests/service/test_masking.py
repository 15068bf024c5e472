"""The service's masking of resolve answers: the quick path (``mask_resolution``) gives
exactly what the generic walk (``mask_response``) gives, and leaves no ID number or phone
of the answer in clear."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from linkage.privacy import mask
from linkage.service import NEW, Resolver
from linkage.service.access import mask_resolution, mask_response, personal_fields


def test_quick_masking_equals_the_generic_walk(synth_run: Path) -> None:
    resolver = Resolver.open(synth_run)
    personal = personal_fields(resolver.index.types["person"].section.fields)
    assert personal == {"id_number", "phone"}
    raw = pq.read_table(synth_run / "records.parquet",
                        columns=["name__raw", "id_number__raw", "birth_date__raw",
                                 "phone__raw"]).slice(0, 120).to_pylist()
    queries = [{k.removesuffix("__raw"): v for k, v in r.items() if v} for r in raw]
    queries.append({"name": "赵六", "id_number": "110101199001011237"})  # a stranger
    seen = {"explained": 0, "conflicts": 0, "new": 0}
    for i, query in enumerate(queries):
        answer = resolver.resolve(query, explain=i % 2 == 0)
        before = json.dumps(answer, sort_keys=True)
        quick = mask_resolution(answer, personal)
        assert quick == mask_response(answer, personal), query
        assert json.dumps(answer, sort_keys=True) == before  # the answer is not changed
        seen["explained"] += any("explanation" in c for c in answer["candidates"])
        seen["conflicts"] += bool(answer["conflicts"])
        seen["new"] += answer["entity_id"] == NEW
        if answer["golden"] is not None:
            for field in ("id_number", "phone"):
                value = answer["golden"].get(field)
                if value:
                    assert quick["golden"][field] == mask(value) != value
            text = json.dumps(quick, ensure_ascii=False)
            for field in ("id_number", "phone"):
                for value in (answer["golden"].get(field), answer["golden"].get(
                        f"{field}__raw")):
                    assert not value or len(value) <= 6 or value not in text
    assert seen["explained"] and seen["conflicts"] and seen["new"], seen
