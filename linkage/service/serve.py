"""Start the HTTP service with uvicorn: checks first (an index to serve, a key for any
bind beyond loopback), then the worker processes, which read their settings from the
environment (:func:`linkage.service.app.app_from_env`)."""

from __future__ import annotations

import ipaddress
import os
import secrets
import sys
from pathlib import Path

from linkage.errors import ConfigError, LinkageError
from linkage.service import app as service_app
from linkage.service.access import KeyStore
from linkage.service.index import MasterIndex

__all__ = ["is_loopback", "serve"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` binds to this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(run_dir: Path, *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          keys: Path | None = None, audit_log: Path = Path("linkage-audit.jsonl")) -> None:
    """Serve ``run_dir``'s master index until interrupted."""
    try:
        import uvicorn
    except ImportError:
        raise LinkageError("linkage serve needs FastAPI and uvicorn: pip install "
                           "'linkage[service]'") from None
    MasterIndex.open(run_dir)  # fail here, with a clear message, rather than in a worker
    store = KeyStore.load(keys)
    public = not is_loopback(host)
    if public and store.empty:
        raise ConfigError([f"binding to {host} serves beyond this machine and needs API keys: "
                           "--keys FILE or the LINKAGE_API_KEY environment variable"],
                          origin="linkage serve")
    if workers < 1:
        raise ConfigError(["--workers must be >= 1"], origin="linkage serve")
    os.environ[service_app.ENV_RUN] = str(Path(run_dir).resolve())
    if keys is not None:
        os.environ[service_app.ENV_KEYS] = str(keys.resolve())
    os.environ[service_app.ENV_AUDIT] = str(audit_log.resolve())
    os.environ[service_app.ENV_PUBLIC] = "1" if public else "0"
    # one audit secret for every worker, so their hashes of one identifier agree
    os.environ.setdefault("LINKAGE_AUDIT_SECRET", store.audit_secret.decode()
                          if keys is not None else secrets.token_hex(32))
    print(f"linkage: serving {run_dir} on http://{host}:{port} ({workers} worker(s)"
          f"{', API keys required' if public else ''}); audit log {audit_log}",
          file=sys.stderr, flush=True)
    uvicorn.run("linkage.service.app:app_from_env", factory=True, host=host, port=port,
                workers=workers, log_level="warning", access_log=False)
