"""Start the gateway: engines for every ministry that has a password, TLS when configured, and the lake
mounted read-only for the gateway process (when started as root)."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import ssl
import sys

from gateway.audit import Audit
from gateway.engine import EngineLimits, MinistryEngine
from gateway.grants import ministries
from gateway.server import Gateway, Limits, load_passwords
from lakehouse.core.settings import Settings, pseudonym_key

log = logging.getLogger(__name__)


def build(settings: Settings) -> Gateway:
    passwords = load_passwords(settings.gateway_passwords_file)
    grants = ministries()
    unknown = sorted(set(passwords) - set(grants))
    if unknown:
        raise RuntimeError(
            f"{settings.gateway_passwords_file}: accounts {unknown} have no grants in data_contracts/access"
        )
    work = settings.var_dir / "gateway"
    engine_limits = EngineLimits(
        settings.gateway_memory_limit,
        settings.gateway_threads,
        settings.gateway_temp_limit,
        settings.gateway_max_concurrent,
    )
    master = pseudonym_key()  # per-ministry pseudonym keys are derived from it (engine.recipient_key)
    engines = {
        name: MinistryEngine(grants[name], settings.lake_root, work, master, engine_limits)
        for name in sorted(passwords)
    }
    tls = None
    if settings.gateway_tls_cert and settings.gateway_tls_key:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(settings.gateway_tls_cert, settings.gateway_tls_key)
    limits = Limits(
        timeout_s=settings.gateway_timeout_s,
        max_rows=settings.gateway_max_rows,
        max_bytes=int(settings.gateway_max_result_mb * 1_048_576),
        max_connections_per_ministry=settings.gateway_max_connections,
        auth_timeout_s=settings.gateway_auth_timeout_s,
    )
    return Gateway(engines, passwords, Audit(settings.var_dir / "audit" / "sql.jsonl"), limits, tls)


READ_ONLY_FLAG = "LAKEHOUSE_GATEWAY_LAKE_READ_ONLY"


def reexec_with_read_only_lake(settings: Settings) -> None:
    """As root: re-run this command in a private mount namespace where the lake is bind-mounted
    read-only, so nothing in this process can write it, whatever a statement tried (EROFS)."""
    if os.environ.get(READ_ONLY_FLAG) or os.geteuid() != 0 or not shutil.which("unshare"):
        return
    lake = str(settings.lake_root.resolve())
    script = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && shift && exec "$@"'
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", lake, sys.executable]
    os.execvpe(  # noqa: S606 - fixed argv, no shell interpolation of user input
        "unshare", [*argv, "-m", "lakehouse.cli", *sys.argv[1:]], {**os.environ, READ_ONLY_FLAG: "1"}
    )


def lake_is_read_only(settings: Settings) -> bool:
    return not os.access(settings.lake_root, os.W_OK)


async def _serve(settings: Settings) -> None:
    # Hand the GIL over more often than every 5 ms: one ministry's statement check (pure Python) must not
    # delay another's event-loop turns and row encoding by whole switch intervals.
    sys.setswitchinterval(0.001)
    gateway = build(settings)
    server = await gateway.serve(settings.gateway_host, settings.gateway_port)
    if not lake_is_read_only(settings):
        log.warning(
            "the lake (%s) is writable by this process: run the gateway as root (it mounts the lake "
            "read-only for itself) or as a user without write access",
            settings.lake_root,
        )
    served = ", ".join(f"{n} ({len(e.relations)} relations)" for n, e in gateway.engines.items())
    tls = " (TLS required)" if gateway.tls else ""
    lake = "lake mounted read-only" if lake_is_read_only(settings) else "LAKE WRITABLE"
    print(f"SQL gateway on {settings.gateway_host}:{settings.gateway_port}{tls}, {lake}: {served}", flush=True)
    async with server:
        await server.serve_forever()


def serve(settings: Settings) -> None:
    reexec_with_read_only_lake(settings)
    asyncio.run(_serve(settings))
