"""Online use: resolve latency (library and HTTP with 2 workers) and an incremental 1%
batch against a full run on the union.

    python benchmarks/bench_online.py --persons 100000

Builds (and caches under --cache-dir) synthetic persons, splits off a batch of about 1%
of the records (household rows held back as new records, some changed, a few deleted),
runs the master on the rest, then:

* library: ``Resolver.resolve`` of distinct master records' raw values (p50 / p99);
* HTTP: ``linkage serve --workers 2`` on 127.0.0.1, a bounded load of --requests
  single-record POST /resolve requests from --concurrency clients, stopped at
  --time-limit seconds (p50 / p99 per request, requests per second). The load generator
  shares the machine's cores with the service: ``--client raw`` (the default) writes
  pre-encoded HTTP/1.1 requests on keep-alive connections and costs ~0.1 ms of CPU a
  request; ``--client httpx`` (httpx.AsyncClient) costs ~2.5 ms a request, about what the
  service itself spends, and so roughly halves the throughput it can show;
* incremental: ``run_incremental`` of the batch against the master (incremental_s) and a
  full run on the union (full_s), both writing a complete run folder with its index;
  agreement is the pairwise F1 between their clusterings (records matched by department
  and key).

It also prints the CPU a request costs (the library's per resolve, the service's and the
load client's per HTTP request, each worker's share): on a shared machine the latencies
are mostly waiting for a core, the CPU figures much less so. ``--skip incremental`` (or
``latency``) leaves one half out; ``--connection close`` opens a connection a request.

Last line: ``p50_ms= p99_ms= qps= incremental_s= full_s= agreement=``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

FIELDS = ["name", "id_number", "birth_date", "sex", "phone", "address"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--batch-share", type=float, default=0.01)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--library-requests", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--time-limit", type=float, default=300.0)
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw",
                        help="load generator: raw HTTP/1.1 on keep-alive asyncio streams "
                             "(default: costs the 2-core machine ~0.1 ms a request) or "
                             "httpx.AsyncClient (~2.5 ms a request, taken from the service)")
    parser.add_argument("--connection", choices=["keep-alive", "close"], default="keep-alive",
                        help="raw client: keep each connection (the default; the service "
                             "asks for a new one every 64 requests) or open one a request "
                             "(whichever worker is free accepts it)")
    parser.add_argument("--cache-dir", type=Path, default=Path(".bench_cache/online"))
    parser.add_argument("--skip", choices=["incremental", "latency"], default=None,
                        help="leave one half out (its figures print as nan)")
    args = parser.parse_args()

    base = args.cache_dir / f"p{args.persons}_s{args.seed}"
    data = _data(base, args)
    master = base / "master"
    if not _current(master):
        t0 = time.perf_counter()
        _full_run(data / "pipeline_base.toml", master)
        print(f"master built in {time.perf_counter() - t0:.2f} s", flush=True)

    incremental_s = full_s = agreement = float("nan")
    if args.skip != "latency":
        lib_p50, lib_p99 = _library(master, args)
        print(f"library p50_ms={lib_p50:.2f} p99_ms={lib_p99:.2f} "
              f"({args.library_requests} distinct records)", flush=True)
    if args.skip != "incremental":
        incremental_s, full_s, agreement = _incremental(base, data, master)
    if args.skip == "latency":
        print(f"p50_ms=nan p99_ms=nan qps=nan incremental_s={incremental_s:.2f} "
              f"full_s={full_s:.2f} agreement={agreement:.4f}")
        return
    p50, p99, qps, done = _http(master, args)
    print(f"http: {done} requests, {args.concurrency} clients, {args.workers} workers",
          flush=True)
    print(f"p50_ms={p50:.2f} p99_ms={p99:.2f} qps={qps:.0f} incremental_s={incremental_s:.2f} "
          f"full_s={full_s:.2f} agreement={agreement:.4f}")


def _incremental(base: Path, data: Path, master: Path) -> tuple[float, float, float]:
    """The batch applied incrementally, then a full run on the union; (incremental_s,
    full_s, agreement)."""
    from linkage.service.incremental import run_incremental

    inc_out, full_out = base / "incremental", base / "full"
    for folder in (inc_out, full_out):
        shutil.rmtree(folder, ignore_errors=True)
    t0 = time.perf_counter()
    inc = run_incremental(data / "pipeline_delta.toml", master, inc_out)
    incremental_s = time.perf_counter() - t0
    print(f"incremental: {inc.counts} {inc.timings}", flush=True)
    linking = sum(v for k, v in inc.timings.items()
                  if k in ("read", "reports") or k.endswith(".total"))
    print(f"incremental without writing the run folder: {linking:.2f} s", flush=True)
    t0 = time.perf_counter()
    _full_run(data / "pipeline_union.toml", full_out)
    full_s = time.perf_counter() - t0
    agreement, untouched_same = _agreement(inc_out, full_out, master)
    print(f"untouched entities keeping their ids: {untouched_same:.4f}", flush=True)
    return incremental_s, full_s, agreement


def _current(master: Path) -> bool:
    """Whether a cached master has an index this version opens (a cache from before a
    change of the index format is rebuilt, not refused)."""
    from linkage.errors import LinkageError
    from linkage.service import MasterIndex

    if not (master / "index" / "manifest.json").is_file():
        return False
    try:
        MasterIndex.open(master)
    except LinkageError as exc:
        print(f"cached master not usable ({exc}); rebuilding it", flush=True)
        return False
    return True


def _full_run(pipeline_toml: Path, out: Path) -> None:
    """A full run as `linkage run` makes it: the out-of-core engine (batches, spill files,
    entity chunks), writing the run folder and its master index while its spill files are
    mapped. The in-memory pipeline would hold a 1M-person master (2.3M records) in RAM."""
    from linkage.config import load_pipeline
    from linkage.engines.local import run_local
    from linkage.service.index_write import write_index

    shutil.rmtree(out, ignore_errors=True)  # a half-built folder from an interrupted run
    run_local(load_pipeline(pipeline_toml), out, beside=write_index)


# --- data -------------------------------------------------------------------------------


def _data(base: Path, args: argparse.Namespace) -> Path:
    """Generated persons with the household file split into base and delta, and the
    union of both, each with its pipeline file."""
    data = base / "data"
    if (data / "pipeline_union.toml").is_file():
        return data
    from linkage.synth import generate

    shutil.rmtree(data, ignore_errors=True)
    generate(persons=args.persons, enterprises=0, seed=args.seed, out=data)
    spec = (data / "pipeline.toml").read_text(encoding="utf-8")
    path = data / "household_persons.csv"
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        header = list(reader.fieldnames or [])
        rows = list(reader)
    total = sum(1 for p in data.glob("*_persons.csv") for _ in p.open(encoding="utf-8",
                                                                       errors="replace")) - 4
    n_batch = max(3, int(total * args.batch_share))
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(rows))
    n_new, n_changed = int(n_batch * 0.6), int(n_batch * 0.35)
    n_deleted = max(1, n_batch - n_new - n_changed)
    new = set(order[:n_new].tolist())
    changed = set(order[n_new:n_new + n_changed].tolist())
    deleted = set(order[n_new + n_changed:n_new + n_changed + n_deleted].tolist())
    phone = _column(spec, "household", "phone")
    key = _key(spec, "household")
    flag = "注销标志"

    def changed_row(row: dict[str, str]) -> dict[str, str]:
        out = dict(row)
        out[phone] = "139" + str(rng.integers(10**7, 10**8))
        return out

    base_rows = [r for i, r in enumerate(rows) if i not in new]
    delta_rows = ([{**rows[i], flag: ""} for i in sorted(new)]
                  + [{**changed_row(rows[i]), flag: ""} for i in sorted(changed)]
                  + [{**rows[i], flag: "1"} for i in sorted(deleted)])
    by_key = {r[key]: r for r in delta_rows}
    union_rows = [by_key.get(r[key], r) for i, r in enumerate(rows) if i not in deleted]
    _write(data / "household_base.csv", header, base_rows)
    _write(data / "household_delta.csv", [*header, flag], delta_rows)
    _write(data / "household_union.csv", header,
           [{h: r[h] for h in header} for r in union_rows])
    household = 'path = "household_persons.csv"'
    (data / "pipeline_base.toml").write_text(
        spec.replace(household, 'path = "household_base.csv"'), encoding="utf-8")
    (data / "pipeline_union.toml").write_text(
        spec.replace(household, 'path = "household_union.csv"'), encoding="utf-8")
    start = spec.index("[[sources]]")
    first = spec[start:spec.index("[[sources]]", start + 1)]
    delta = first.replace(household, 'path = "household_delta.csv"').replace(
        "[[sources]]\n", f'[[sources]]\ndelta = true\ndeleted = "{flag}"\n', 1)
    with_delta = spec.replace(household, 'path = "household_base.csv"')
    at = with_delta.index("[[sources]]", with_delta.index("[[sources]]") + 1)
    (data / "pipeline_delta.toml").write_text(with_delta[:at] + delta + with_delta[at:],
                                             encoding="utf-8")
    print(f"batch: {n_new} new, {n_changed} changed, {n_deleted} deleted household records "
          f"of {total} records", flush=True)
    return data


def _section(spec: str, department: str) -> str:
    at = spec.index(f'department = "{department}"')
    end = spec.find("[[sources]]", at)
    return spec[at:end if end >= 0 else len(spec)]


def _column(spec: str, department: str, field: str) -> str:
    for line in _section(spec, department).splitlines():
        if line.startswith(f"{field} = "):
            return line.split("=", 1)[1].strip().strip('"')
    raise KeyError(field)


def _key(spec: str, department: str) -> str:
    return _column(spec, department, "key")


def _write(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


# --- measurements -----------------------------------------------------------------------


def _queries(master: Path, n: int, seed: int) -> list[dict[str, Any]]:
    records = pq.read_table(master / "records.parquet",
                            columns=[f"{f}__raw" for f in FIELDS])
    rng = np.random.default_rng(seed)
    picks = rng.choice(records.num_rows, min(n, records.num_rows), replace=False)
    rows = records.take(picks).to_pylist()
    return [{f: r[f"{f}__raw"] for f in FIELDS if r[f"{f}__raw"] not in (None, "")}
            for r in rows]


def _library(master: Path, args: argparse.Namespace) -> tuple[float, float]:
    from linkage.service.resolver import Resolver

    resolver = Resolver.open(master)
    queries = _queries(master, args.library_requests, args.seed + 1)
    for q in queries[:20]:
        resolver.resolve(q)  # warm the page cache and the standardisers' tables
    times = []
    cpu0 = time.process_time()
    for q in queries:
        t0 = time.perf_counter()
        resolver.resolve(q)
        times.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu0
    ms = np.asarray(times) * 1000
    print(f"library: {cpu / len(queries) * 1000:.2f} ms of CPU a resolve (mean; wall "
          f"{ms.mean():.2f} ms)", flush=True)
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def _agreement(inc: Path, full: Path, master: Path) -> tuple[float, float]:
    """Pairwise F1 of the incremental clustering against the full run's, and the share
    of untouched master entities (no record added, changed or removed) whose id the
    incremental run kept."""
    from linkage.io.run_tables import read_run_table

    cols = ["source", "source_key", "entity_id"]
    # an incremental run's records are a log on the master's (read merged)
    a = read_run_table(inc, "records", columns=cols)
    b = read_run_table(full, "records", columns=cols)
    key_a = pc.binary_join_element_wise(a["source"], a["source_key"], "\x00")
    key_b = pc.binary_join_element_wise(b["source"], b["source_key"], "\x00")
    at = np.asarray(pc.index_in(key_a, value_set=key_b).to_numpy(zero_copy_only=False),
                    dtype=float)
    assert not np.isnan(at).any() and a.num_rows == b.num_rows, "record sets differ"
    ea = np.asarray(pc.dictionary_encode(a["entity_id"]).combine_chunks().indices)
    eb = np.asarray(pc.dictionary_encode(b["entity_id"]).combine_chunks().indices)[
        at.astype(np.int64)]

    def pairs(counts: np.ndarray) -> float:
        return float((counts * (counts - 1) // 2).sum())

    both = pairs(np.unique(ea.astype(np.int64) * (int(eb.max()) + 1) + eb,
                           return_counts=True)[1])
    pa_, pb_ = pairs(np.bincount(ea)), pairs(np.bincount(eb))
    f1 = 2 * both / (pa_ + pb_) if pa_ + pb_ else 1.0
    m = pq.read_table(master / "records.parquet", columns=cols)
    key_m = pc.binary_join_element_wise(m["source"], m["source_key"], "\x00")
    at_m = pc.index_in(key_m, value_set=key_a)
    kept = pc.equal(m["entity_id"], a["entity_id"].take(at_m))
    changed = pc.unique(m["entity_id"].filter(pc.invert(pc.fill_null(kept, False))))
    untouched = pc.invert(pc.is_in(m["entity_id"], value_set=changed))
    share = pc.mean(pc.cast(pc.fill_null(kept.filter(untouched), False), "float64")).as_py()
    return f1, float(share if share is not None else 1.0)


def _http(master: Path, args: argparse.Namespace) -> tuple[float, float, float, int]:
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    audit = master.parent / "audit.jsonl"
    log = (master.parent / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "linkage.cli", "serve", str(master),
                             "--port", str(port), "--workers", str(args.workers),
                             "--audit-log", str(audit)],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600  # three processes import the stack on 2 cores
        while True:
            try:
                httpx.get(f"{url}/openapi.json", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the service did not start") from None
                time.sleep(0.2)
        queries = _queries(master, min(args.requests, 50_000), args.seed + 2)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        served0 = _tree_cpu(proc.pid)
        workers0 = _children_cpu(proc.pid)
        load = _load_raw("127.0.0.1", port, queries, args) if args.client == "raw" else \
            _load(url, queries, args)
        p50, p99, qps, done = asyncio.run(load)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        # the client shares the two cores with the workers: what it took of them
        served = _tree_cpu(proc.pid) - served0
        workers = {p: c - workers0.get(p, 0.0) for p, c in _children_cpu(proc.pid).items()}
        print(f"http client: {cpu:.2f} s of CPU in {wall:.2f} s ({cpu / wall:.0%} of one "
              f"core, {cpu / max(done, 1) * 1000:.3f} ms a request)", flush=True)
        # the service's own CPU a request: what bounds its rate on two free cores,
        # whatever else the machine is running
        print(f"http service: {served:.2f} s of CPU ({served / max(done, 1) * 1000:.2f} ms a "
              f"request: {2 * done / max(served, 1e-9):.0f} requests/s on two free cores)",
              flush=True)
        # keep-alive connections stay with the worker that accepted them: an uneven split
        # leaves a core idle
        print("http workers' CPU: " + ", ".join(f"{c:.2f} s" for c in workers.values()),
              flush=True)
        return p50, p99, qps, done
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        log.close()


def _children_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each child process of ``pid`` (the service's workers)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return {}
    return {int(c): _tree_cpu(int(c)) for c in children}


def _tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its children (Linux
    /proc; 0 elsewhere)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


async def _load(url: str, queries: list[dict[str, Any]],
                args: argparse.Namespace) -> tuple[float, float, float, int]:
    import httpx

    latencies: list[float] = []
    failures = 0
    next_i = 0
    stop_at = time.monotonic() + args.time_limit

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal next_i, failures
        while next_i < args.requests and time.monotonic() < stop_at:
            q = queries[next_i % len(queries)]
            next_i += 1
            t0 = time.perf_counter()
            answer = await client.post("/resolve", json={"record": q, "explain": False})
            latencies.append(time.perf_counter() - t0)
            failures += answer.status_code != 200

    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        for q in queries[:20]:
            await client.post("/resolve", json={"record": q, "explain": False})  # warm up
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{failures} requests failed")
    ms = np.asarray(latencies) * 1000
    return (float(np.percentile(ms, 50)), float(np.percentile(ms, 99)),
            len(latencies) / elapsed, len(latencies))


async def _load_raw(host: str, port: int, queries: list[dict[str, Any]],
                    args: argparse.Namespace) -> tuple[float, float, float, int]:
    """:func:`_load` with a lean client: each of --concurrency connections sends
    pre-encoded HTTP/1.1 requests on one keep-alive stream and reads each response whole
    (status line, headers, Content-Length body) before the next, so a request's latency
    is the service's and the client takes little of the machine's two cores."""
    import json

    bodies = [json.dumps({"record": q, "explain": False}, ensure_ascii=False).encode("utf-8")
              for q in queries]
    connection = args.connection.encode()
    requests = [b"POST /resolve HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json"
                b"\r\nConnection: %s\r\nContent-Length: %d\r\n\r\n%s"
                % (host.encode(), port, connection, len(b), b) for b in bodies]
    latencies: list[float] = []
    failures = 0
    next_i = 0
    stop_at = time.monotonic() + args.time_limit

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                  request: bytes) -> tuple[int, bool]:
        """Status, and whether the service closes the connection after this response."""
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        close = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                close = b"close" in value.lower()
        await reader.readexactly(length)
        return status, close

    async def client_loop() -> None:
        nonlocal next_i, failures
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for request in requests[:5]:
                if (await one(reader, writer, request))[1]:
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
            close = False
            while next_i < args.requests and time.monotonic() < stop_at:
                request = requests[next_i % len(requests)]
                next_i += 1
                t0 = time.perf_counter()
                if close:  # the service asked for a new connection (RecycleConnections):
                    writer.close()  # the request that follows pays for opening it
                    reader, writer = await asyncio.open_connection(host, port)
                status, close = await one(reader, writer, request)
                latencies.append(time.perf_counter() - t0)
                failures += status != 200
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(args.concurrency)))
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{failures} requests failed")
    ms = np.asarray(latencies) * 1000
    return (float(np.percentile(ms, 50)), float(np.percentile(ms, 99)),
            len(latencies) / elapsed, len(latencies))


if __name__ == "__main__":
    main()
