"""A data-governance scorecard per ministry, from what the lakehouse already knows (the Digital
Government Programme sets maturity levels 3 to 5 for 2027-2030). Measures:
- contract coverage: its contracted tables / the tables in the source databases it has tables in (a
  table nobody contracted counts against every ministry sharing that database);
- classification: its contract columns with a classification / all its contract columns;
- quality SLA: its tables whose latest batch is within the contract's quarantine threshold;
- freshness SLA: its tables younger than the contract's freshness SLA;
- open data released: its dataset contracts with a release (the release log; none at all scores 0);
- metadata: the share of its datasets' portal fields filled (Vietnamese title and description, contact,
  theme, temporal coverage, licence, usage notes).

The level is this project's reading of the programme's scale, stated here so it can be argued with:
level 5 when every measure is at least 95 %, 4 at 80 %, 3 at 60 %, else below 3 ("2")."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from data_contracts import SourceTable, datasets, source_tables
from lakehouse.core import releases
from lakehouse.core.settings import Settings
from lakehouse.quality import freshness, source_quality

LEVELS = ((5, 0.95), (4, 0.80), (3, 0.60))
METADATA_FIELDS = ("title_vi", "description_vi", "contact_email", "theme", "temporal_start", "license_id", "usage")


@dataclass
class Score:
    ministry: str
    tables: int
    contract_coverage: float
    classification: float
    quality_sla: float
    freshness_sla: float
    datasets: int
    open_data: float
    metadata: float

    @property
    def level(self) -> int:
        worst = min(self.measures().values())
        return next((level for level, floor in LEVELS if worst >= floor), 2)

    def measures(self) -> dict[str, float]:
        return {
            "contract coverage": self.contract_coverage,
            "classification": self.classification,
            "quality SLA": self.quality_sla,
            "freshness SLA": self.freshness_sla,
            "open data released": self.open_data,
            "metadata": self.metadata,
        }

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "level": self.level}


def source_table_names(settings: Settings, table: SourceTable) -> set[str]:
    """The tables of the database (schema) a contract points at; empty when the source is unreachable
    (coverage is then what the contracts say)."""
    query = "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_type = 'BASE TABLE'"
    try:
        if table.server_type == "postgres":
            import psycopg

            with psycopg.connect(f"{settings.postgres_url}/{table.database}", connect_timeout=5) as conn:
                return {r[0] for r in conn.execute(query, (table.db_schema or "public",)).fetchall()}
        from urllib.parse import urlparse

        import pymysql

        url = urlparse(settings.mariadb_url)
        conn = pymysql.connect(
            host=url.hostname or "127.0.0.1",
            port=url.port or 3306,
            user=url.username or "root",
            password=url.password or "",
            database=table.database,
            connect_timeout=5,
        )
        with conn, conn.cursor() as cur:
            cur.execute(query, (table.database,))
            return {r[0] for r in cur.fetchall()}
    except Exception:
        return set()


def scorecard(settings: Settings) -> list[Score]:
    tables = source_tables()
    fresh = {f.table: f for f in freshness(settings)}
    released = set(releases.datasets_released(settings.lake_root))
    present: dict[tuple[str, str, str], set[str]] = {}
    for t in tables:
        key = (t.server_type, t.database, t.db_schema or "")
        if key not in present:
            present[key] = source_table_names(settings, t)
    contracted = {(t.server_type, t.database, t.db_schema or "", t.table) for t in tables}
    out = []
    for ministry in sorted({t.ministry for t in tables} | {d.ministry for d in datasets()}):
        own = [t for t in tables if t.ministry == ministry]
        keys = {(t.server_type, t.database, t.db_schema or "") for t in own}
        stray = {(*k, name) for k in keys for name in present.get(k, set())} - contracted
        columns = [c for t in own for c in t.columns]
        quality = [source_quality(settings, t, fresh[t.qualified_name]) for t in own]
        its = [d for d in datasets() if d.ministry == ministry]
        filled = [sum(bool(getattr(d, f, None)) for f in METADATA_FIELDS) / len(METADATA_FIELDS) for d in its]
        out.append(
            Score(
                ministry=ministry,
                tables=len(own),
                contract_coverage=_share(len(own), len(own) + len(stray)),
                classification=_share(sum(bool(c.classification) for c in columns), len(columns)),
                quality_sla=_share(sum(q["met"] is not False for q in quality), len(quality)),
                freshness_sla=_share(sum(not fresh[t.qualified_name].stale for t in own), len(own)),
                datasets=len(its),
                # a ministry holding source tables and publishing nothing has released nothing
                open_data=sum(d.name in released for d in its) / len(its) if its else 0.0,
                metadata=sum(filled) / len(filled) if filled else 0.0,
            )
        )
    return out


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 1.0


def markdown(scores: list[Score]) -> str:
    """The scorecard as the portal shows it."""
    head = ["Ministry", "Level", *scores[0].measures()] if scores else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in scores:
        cells = [s.ministry, str(s.level), *(f"{v:.0%}" for v in s.measures().values())]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + (__doc__ or "").split("\n", 2)[2]
