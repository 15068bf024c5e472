"""The HTTP service (``linkage serve RUN_DIR``): thin FastAPI routes over the
:class:`~linkage.service.resolver.Resolver`, opened once per worker process.

``POST /resolve`` (one record), ``POST /resolve/batch`` (up to 1,000 records),
``GET /entities/{entity_id}``; the OpenAPI schema is at ``/openapi.json``. Bad input is a
4xx with a message naming the record and field; an unexpected failure is a 500 whose body
says only that, never a traceback. Every request that reaches a route is written to the
audit log (see :mod:`linkage.service.access`). Routes return their JSON directly (the
models describe it in the schema; validating an answer the library built would only
cost time).

Worker processes get their settings from environment variables (``app_from_env``), which
``linkage serve`` sets, so that ``uvicorn --workers 2`` can start them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from linkage.errors import LinkageError
from linkage.service.access import (
    AuditLog,
    Caller,
    KeyStore,
    mask_resolution,
    mask_response,
    personal_fields,
)
from linkage.service.resolver import NEW, ResolveError, Resolver

log = logging.getLogger(__name__)

__all__ = ["ENV_AUDIT", "ENV_KEYS", "ENV_PUBLIC", "ENV_RUN", "app_from_env", "create_app"]

ENV_RUN = "LINKAGE_SERVE_RUN"
ENV_KEYS = "LINKAGE_SERVE_KEYS"
ENV_AUDIT = "LINKAGE_SERVE_AUDIT"
ENV_PUBLIC = "LINKAGE_SERVE_PUBLIC"  # "1" when bound beyond loopback: a key is required
MAX_BATCH = 1000
#: requests on one keep-alive connection before the client is asked to reconnect
RECYCLE_EVERY = 64

Value = str | int | float | None


class ResolveRequest(BaseModel):
    """One record: canonical fields, or a department's own column names."""

    record: dict[str, Value] = Field(examples=[{"name": "张三", "id_number": "110105194912310021"}])
    entity_type: Literal["person", "enterprise"] | None = None
    department: str | None = None
    explain: bool = True


class BatchRequest(BaseModel):
    records: list[dict[str, Value]] = Field(max_length=MAX_BATCH)
    entity_type: Literal["person", "enterprise"] | None = None
    department: str | None = None


class Resolution(BaseModel):
    entity_type: str
    entity_id: str
    status: Literal["matched", "new"]
    match_probability: float | None
    candidates: list[dict[str, Any]]
    golden: dict[str, Any] | None
    conflicts: list[dict[str, Any]]


class BatchRow(BaseModel):
    row: int
    entity_id: str
    status: Literal["matched", "new"]
    match_probability: float | None
    candidates: int


class BatchResponse(BaseModel):
    entity_type: str
    results: list[BatchRow]


class Entity(BaseModel):
    entity_type: str
    entity_id: str
    golden: dict[str, Any]
    conflicts: list[dict[str, Any]]
    records: list[dict[str, Any]]


async def _caller(request: Request) -> Caller:
    """The caller of a request, by its key (header X-API-Key or a bearer token); 401 when
    the key is unknown, or missing where one is required. A coroutine, so FastAPI runs it
    on the event loop rather than handing it to a thread per request."""
    keys: KeyStore = request.app.state.keys
    header = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if not header and auth.lower().startswith("bearer "):
        header = auth[7:].strip()
    client = request.client.host if request.client else ""
    who = keys.caller(header, anonymous_ok=not request.app.state.public, client=client)
    if who is None:
        request.app.state.shared["audit"].write(None, request.url.path, status=401,
                                                client=client)
        raise HTTPException(status_code=401, detail="a valid API key is required "
                            "(header X-API-Key)")
    return who


CallerDep = Annotated[Caller, Depends(_caller)]


def create_app(run_dir: str | Path, *, keys: KeyStore, audit_log: Path,
               public: bool = False) -> FastAPI:
    """The service over ``run_dir``'s master index. ``public`` (bound beyond loopback)
    requires a key on every request; otherwise a local caller without a key is served
    masked answers, as long as no key is configured."""
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state["resolver"] = Resolver.open(run_dir)
        state["audit"] = AuditLog(audit_log, keys.audit_secret)
        state["personal"] = {etype: personal_fields(ti.section.fields)
                             for etype, ti in state["resolver"].index.types.items()}
        state["id_columns"] = {etype: _identifier_columns(state["resolver"], state["personal"],
                                                          etype)
                               for etype in (None, *state["resolver"].index.types)}
        yield
        state["audit"].close()

    app = FastAPI(title="linkage master-data service", lifespan=lifespan,
                  description="Resolve a record to its master entity; read an entity's "
                              "golden record and open conflicts.")
    app.state.keys = keys
    app.state.public = public
    app.add_middleware(RecycleConnections)
    app.state.shared = state

    def answer(who: Caller, etype: str, body: dict[str, Any]) -> dict[str, Any]:
        return body if who.unmask else mask_response(body, state["personal"][etype])

    def resolution(who: Caller, etype: str, body: dict[str, Any]) -> dict[str, Any]:
        return body if who.unmask else mask_resolution(body, state["personal"][etype])

    def identifiers(records: list[dict[str, Value]], etype: str | None) -> list[str]:
        """The identifiers a request looked up (ID numbers, phones, credit codes, under
        canonical or department column names), for the audit log's keyed hashes."""
        columns = state["id_columns"].get(etype, ())
        return [str(r[c]) for r in records for c in columns if r.get(c) is not None]

    @app.post("/resolve", response_model=Resolution, openapi_extra=_RESOLVE_BODY)
    async def resolve(request: Request) -> Response:
        """The master entity of one record, its golden record and open conflicts."""
        # the counter's hot path: the body is parsed and checked here rather than by a
        # pydantic model and a dependency (the schema above documents it all the same),
        # and the answer leaves as one pre-encoded JSON body
        who = await _caller(request)
        req = _resolve_request(await request.body())
        resolver: Resolver = state["resolver"]
        client = request.client.host if request.client else ""
        try:
            body = resolver.resolve(req.record, entity_type=req.entity_type,
                                    department=req.department, explain=req.explain)
        except LinkageError as exc:
            state["audit"].write(who, "resolve", status=422, client=client, n_records=1,
                                 identifiers=identifiers([req.record], req.entity_type))
            raise HTTPException(status_code=422, detail=str(exc)) from None
        state["audit"].write(who, "resolve", status=200, client=client, n_records=1,
                             entity_ids=[body["entity_id"]] if body["entity_id"] != NEW else [],
                             identifiers=identifiers([req.record], body["entity_type"]))
        return _json(resolution(who, body["entity_type"], body))

    @app.post("/resolve/batch", response_model=BatchResponse)
    async def resolve_batch(req: BatchRequest, who: CallerDep,
                            request: Request) -> JSONResponse:
        """Resolve up to 1,000 records in one pass (entity ids only)."""
        resolver: Resolver = state["resolver"]
        client = request.client.host if request.client else ""
        try:
            if not req.records:
                raise ResolveError("no record given")
            batch = resolver.resolve_many(req.records, entity_type=req.entity_type,
                                          department=req.department)
        except LinkageError as exc:
            state["audit"].write(who, "resolve/batch", status=422, client=client,
                                 n_records=len(req.records))
            raise HTTPException(status_code=422, detail=str(exc)) from None
        rows = batch.entities.to_pylist()
        state["audit"].write(who, "resolve/batch", status=200, client=client,
                             n_records=len(rows),
                             entity_ids=[r["entity_id"] for r in rows if r["entity_id"] != NEW],
                             identifiers=identifiers(req.records, batch.entity_type))
        for r in rows:
            p = r["match_probability"]
            r["match_probability"] = None if p is None or p != p else p
        return JSONResponse({"entity_type": batch.entity_type, "results": rows})

    @app.get("/entities/{entity_id}", response_model=Entity)
    async def entity(entity_id: str, who: CallerDep, request: Request) -> JSONResponse:
        """An entity's golden record, open conflicts and member records."""
        resolver: Resolver = state["resolver"]
        client = request.client.host if request.client else ""
        if len(entity_id) > 64:
            raise HTTPException(status_code=422, detail="entity id longer than 64 characters")
        body = resolver.entity(entity_id)
        status = 200 if body is not None else 404
        state["audit"].write(who, "entities", status=status, client=client,
                             entity_ids=[entity_id])
        if body is None:
            raise HTTPException(status_code=404, detail="no such entity")
        return JSONResponse(answer(who, body["entity_type"], body))

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("service: %s on %s", type(exc).__name__, request.url.path)
        return JSONResponse(status_code=500, content={"detail": "internal error"})

    return app


class RecycleConnections:
    """Asks a keep-alive client to reconnect after every ``every`` requests on one
    connection (``Connection: close`` on that response), as a proxy's keep-alive request
    limit does. A connection stays with the worker process that accepted it, so a few
    long-lived connections can pile onto one worker while another idles (three and one
    on two workers is common); on reconnecting, the worker that is free accepts first.
    Clients (httpx, browsers) reconnect by themselves."""

    def __init__(self, app: ASGIApp, every: int = RECYCLE_EVERY) -> None:
        self.app = app
        self.every = every
        self.counts: dict[Any, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("client"):
            await self.app(scope, receive, send)
            return
        key = tuple(scope["client"])
        n = self.counts.get(key, 0) + 1
        if n < self.every:
            if len(self.counts) > 65_536:
                self.counts.clear()  # connections long gone: a bound, not a bookkeeping
            self.counts[key] = n
            await self.app(scope, receive, send)
            return
        self.counts.pop(key, None)

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()),
                                                  (b"connection", b"close")]}
            await send(message)
        await self.app(scope, receive, closing)


#: POST /resolve reads its body itself; the schema still documents it as ResolveRequest
_RESOLVE_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": ResolveRequest.model_json_schema(
        ref_template="#/components/schemas/{model}")}}}}
_ENTITY_TYPES = (None, "person", "enterprise")


@dataclass(frozen=True)
class _Resolve:
    record: dict[str, Value]
    entity_type: str | None
    department: str | None
    explain: bool


def _resolve_request(raw: bytes) -> _Resolve:
    """:class:`ResolveRequest` checked by hand (a 422 naming what is wrong, as the
    model's validation would give): an object with ``record`` (field -> text, number
    or null), optional ``entity_type``, ``department`` and ``explain``; other keys are
    ignored, as the model ignores them."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(status_code=422, detail="the body is not valid JSON") from None
    if type(data) is not dict:
        raise HTTPException(status_code=422, detail="the body must be a JSON object")
    record = data.get("record")
    problem = None
    if type(record) is not dict:
        problem = "record: expected an object of field -> value"
    elif any(v is not None and type(v) not in (str, int, float) for v in record.values()):
        bad = next(k for k, v in record.items()
                   if v is not None and type(v) not in (str, int, float))
        problem = f"record.{bad}: expected text, a number or null"
    elif data.get("entity_type") not in _ENTITY_TYPES:
        problem = "entity_type: expected 'person' or 'enterprise'"
    elif data.get("department") is not None and type(data["department"]) is not str:
        problem = "department: expected text"
    elif type(data.get("explain", True)) is not bool:
        problem = "explain: expected true or false"
    if problem is not None or type(record) is not dict:
        raise HTTPException(status_code=422, detail=problem)
    return _Resolve(record, data.get("entity_type"), data.get("department"),
                    data.get("explain", True))


def _json(body: Any, status: int = 200) -> Response:
    """``body`` as a JSON response, encoded once by orjson (UTF-8, compact; a NaN, which
    the resolver never gives, would become null): about a tenth of the standard
    library's time for a resolve answer of 5 kB, which was 4% of a request's CPU."""
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _identifier_columns(resolver: Resolver, personal: dict[str, frozenset[str]],
                        etype: str | None) -> list[str]:
    """The column names (canonical and every department's) that hold identifiers for
    records of ``etype`` (None: of any type), sorted."""
    columns: set[str] = set()
    for type_name in resolver.index.types:
        if etype in (None, type_name):
            fields = personal[type_name] | {"credit_code"}
            columns |= fields
            columns |= {c for s in resolver.index.config.sources
                        if s.entity_type == type_name
                        for f, spec in s.columns.items() if f in fields
                        for c in ((spec,) if isinstance(spec, str) else spec)}
    return sorted(columns)


def app_from_env() -> FastAPI:
    """The app a ``uvicorn`` worker builds (``linkage serve`` sets the variables)."""
    keys_path = os.environ.get(ENV_KEYS)
    return create_app(os.environ[ENV_RUN],
                      keys=KeyStore.load(Path(keys_path) if keys_path else None),
                      audit_log=Path(os.environ.get(ENV_AUDIT, "linkage-audit.jsonl")),
                      public=os.environ.get(ENV_PUBLIC) == "1")
