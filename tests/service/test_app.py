"""The HTTP service, through real requests (httpx) to a uvicorn server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from linkage.service.access import KeyStore
from linkage.service.app import create_app

H001 = {"name": "张伟", "id_number": "11010519491231002X", "birth_date": "1949-12-31",
        "phone": "13800138000"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _server(run: Path, keys: KeyStore, audit: Path, *, public: bool = False) -> Iterator[str]:
    port = _free_port()
    app = create_app(run, keys=keys, audit_log=audit, public=public)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise TimeoutError("the server did not start within 20 s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _keys(tmp_path: Path) -> KeyStore:
    path = tmp_path / "keys.toml"
    path.write_text('audit_secret = "s3cret"\n'
                    '[[keys]]\nname = "counter-07"\nkey = "clerk-key"\nrole = "clerk"\n'
                    '[[keys]]\nname = "inspector"\nkey = "officer-key"\nrole = "officer"\n',
                    encoding="utf-8")
    return KeyStore.load(path, env={})


def _audit(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_local_service_masks_and_audits(tiny_run: Path, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    with _server(tiny_run, KeyStore.load(None, env={}), audit) as url, \
            httpx.Client(base_url=url, timeout=10) as client:
        answer = client.post("/resolve", json={"record": H001})
        assert answer.status_code == 200
        body = answer.json()
        assert body["status"] == "matched"
        assert body["golden"]["id_number"] == "110*************2X"  # masked: no key, no role
        assert body["golden"]["phone"] == "138******00"
        assert body["golden"]["name"] == "张伟"
        entity = client.get(f"/entities/{body['entity_id']}").json()
        assert {r["id_number"] for r in entity["records"]} == {"110*************2X"}
        batch = client.post("/resolve/batch", json={"records": [H001, {"name": "赵六"}]})
        assert [r["status"] for r in batch.json()["results"]] == ["matched", "new"]
        assert client.get("/openapi.json").json()["paths"].keys() >= {
            "/resolve", "/resolve/batch", "/entities/{entity_id}"}
        # bad input: a clear 4xx, never a 500
        bad = client.post("/resolve", json={"record": {"nmae": "张伟"}})
        assert bad.status_code == 422 and "unknown field(s) 'nmae'" in bad.json()["detail"]
        assert client.post("/resolve", json={"record": {"name": ["a"]}}).status_code == 422
        assert client.post("/resolve", content=b"{not json").status_code == 422
        assert client.get("/entities/P0000").status_code == 404
    lines = _audit(audit)
    # (requests the schema refuses never reach a route, so only these are looked up)
    assert [(line["action"], line["status"]) for line in lines] == [
        ("resolve", 200), ("entities", 200), ("resolve/batch", 200), ("resolve", 422),
        ("entities", 404)]
    first = lines[0]
    assert first["who"] == "anonymous@127.0.0.1" and first["entities"] == [body["entity_id"]]
    text = audit.read_text(encoding="utf-8")
    assert "11010519491231002X" not in text and "13800138000" not in text
    assert len(first["identifiers"]) == 2  # ID number and phone, as keyed hashes


def test_keys_and_roles(tiny_run: Path, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    with _server(tiny_run, _keys(tmp_path), audit, public=True) as url, \
            httpx.Client(base_url=url, timeout=10) as client:
        assert client.post("/resolve", json={"record": H001}).status_code == 401
        wrong = client.post("/resolve", json={"record": H001}, headers={"X-API-Key": "guess"})
        assert wrong.status_code == 401
        clerk = client.post("/resolve", json={"record": H001},
                            headers={"X-API-Key": "clerk-key"}).json()
        assert clerk["golden"]["id_number"] == "110*************2X"
        officer = client.post("/resolve", json={"record": H001},
                              headers={"Authorization": "Bearer officer-key"}).json()
        assert officer["golden"]["id_number"] == "11010519491231002X"
    lines = _audit(audit)
    assert [(line["who"], line["status"]) for line in lines] == [
        ("refused", 401), ("refused", 401), ("counter-07", 200), ("inspector", 200)]
    # the same identifier hashes alike across requests (keyed by the file's audit secret)
    assert lines[2]["identifiers"] == lines[3]["identifiers"]


def test_serve_refuses_a_public_bind_without_keys(tiny_run: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LINKAGE_API_KEY"}
    done = subprocess.run([sys.executable, "-m", "linkage.cli", "serve", str(tiny_run),
                           "--host", "0.0.0.0"], capture_output=True, text=True, timeout=60,
                          env=env)
    assert done.returncode == 2
    assert "needs API keys" in done.stderr and "Traceback" not in done.stderr


def test_serve_with_two_workers(tiny_run: Path, tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "linkage.cli", "serve", str(tiny_run),
                             "--port", str(port), "--workers", "2",
                             "--audit-log", str(tmp_path / "audit.jsonl")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # (three processes import the stack: seconds alone, minutes on a busy machine)
        deadline = time.monotonic() + 300
        while True:
            try:
                answer = httpx.post(f"http://127.0.0.1:{port}/resolve",
                                    json={"record": H001}, timeout=30)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    proc.kill()
                    pytest.fail("linkage serve did not answer within 300 s: "
                                + proc.communicate(timeout=30)[1].decode()[-2000:])
                time.sleep(0.2)
        assert answer.status_code == 200 and answer.json()["status"] == "matched"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def test_keep_alive_clients_are_asked_to_reconnect(tiny_run: Path, tmp_path: Path) -> None:
    """Every RECYCLE_EVERY-th request on one connection is answered with Connection: close
    (so long-lived connections spread over the workers); httpx reconnects by itself."""
    from linkage.service.app import RECYCLE_EVERY

    with _server(tiny_run, KeyStore.load(None, env={}), tmp_path / "audit.jsonl") as url, \
            httpx.Client(base_url=url, timeout=10) as client:
        closing = [i for i in range(1, 2 * RECYCLE_EVERY + 1)
                   if client.get("/openapi.json").headers.get("connection") == "close"]
        assert closing == [RECYCLE_EVERY, 2 * RECYCLE_EVERY]
        assert client.post("/resolve", json={"record": H001}).json()["status"] == "matched"
