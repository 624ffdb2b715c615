"""Answers to the catalog queries clients send to browse (psql `\\dt`, `\\d table`, `\\dn`; DBeaver /
Superset schema listings): an in-memory DuckDB per connection holding pg_catalog and
information_schema tables that describe only this ministry's relations, shown as tables. It holds no
data and is locked like the ministry engine. Catalog features we do not model (policies, publications,
inheritance…) answer with no rows, which is what clients expect for a plain table."""

from __future__ import annotations

import re

import duckdb
from sqlglot import exp

from gateway import pgtypes, policy

SERVER_VERSION = "16.0"
VERSION_TEXT = f"PostgreSQL {SERVER_VERSION} (national lakehouse SQL gateway; DuckDB {duckdb.__version__})"
SETTINGS = {
    "server_version": SERVER_VERSION,
    "server_encoding": "UTF8",
    "client_encoding": "UTF8",
    "DateStyle": "ISO, MDY",
    "TimeZone": "UTC",
    "integer_datetimes": "on",
    "standard_conforming_strings": "on",
    "search_path": "gold, silver",
    "transaction_isolation": "read committed",
    "default_transaction_read_only": "on",
    "max_identifier_length": "63",
}
CATALOG_QUERY = re.compile(
    r"\b(pg_catalog|information_schema|pg_class|pg_namespace|pg_attribute|pg_type|pg_database|pg_settings|"
    r"pg_roles|pg_user|pg_proc|pg_description|current_setting|current_schema|current_database|"
    r"version\s*\(\s*\))",
    re.IGNORECASE,
)
SHOW = re.compile(r"^\s*show\s+([a-z_]+)\s*;?\s*$", re.IGNORECASE)
NAMESPACES = {"gold": 16001, "silver": 16002, "pg_catalog": 11, "information_schema": 13000}
OWNER = "lakehouse"
# OIDs of the catalogs clients name as 'pg_class'::regclass (pgJDBC's getTables, DBeaver).
CATALOG_OIDS = {"pg_class": 1259, "pg_namespace": 2615, "pg_attribute": 1249, "pg_type": 1247, "pg_proc": 1255}
REWRITES = [
    (
        re.compile(r"'(?:pg_catalog\.)?(\w+)'\s*::\s*(?:pg_catalog\.)?regclass", re.IGNORECASE),
        lambda m: str(CATALOG_OIDS.get(m.group(1).lower(), 0)),
    ),
    (re.compile(r"OPERATOR\s*\(\s*pg_catalog\.([^)\s]+)\s*\)", re.IGNORECASE), r"\1"),
    (re.compile(r"COLLATE\s+(pg_catalog\.)?\"?(default|C)\"?", re.IGNORECASE), ""),
    (re.compile(r"::\s*(pg_catalog\.)?(regclass|regtype|regnamespace|regproc|regprocedure)\b", re.IGNORECASE), ""),
    (re.compile(r"::\s*pg_catalog\.", re.IGNORECASE), "::"),
    (re.compile(r"\bpg_catalog\.", re.IGNORECASE), "shim."),
    (re.compile(r"\binformation_schema\.", re.IGNORECASE), "shim_info."),
    (re.compile(r"\bversion\s*\(\s*\)", re.IGNORECASE), "shim.pg_version()"),
]
_DDL = """
CREATE SCHEMA shim; CREATE SCHEMA shim_info;
CREATE TABLE shim.pg_namespace (oid BIGINT, nspname VARCHAR, nspowner BIGINT, nspacl VARCHAR);
CREATE TABLE shim.pg_class (oid BIGINT, relname VARCHAR, relnamespace BIGINT, reltype BIGINT, reloftype BIGINT,
  relowner BIGINT, relam BIGINT, relfilenode BIGINT, reltablespace BIGINT, relpages INTEGER, reltuples REAL,
  relallvisible INTEGER, reltoastrelid BIGINT, relhasindex BOOLEAN, relisshared BOOLEAN, relpersistence VARCHAR,
  relkind VARCHAR, relnatts SMALLINT, relchecks SMALLINT, relhasrules BOOLEAN, relhastriggers BOOLEAN,
  relhassubclass BOOLEAN, relrowsecurity BOOLEAN, relforcerowsecurity BOOLEAN, relispopulated BOOLEAN,
  relreplident VARCHAR, relispartition BOOLEAN, relrewrite BIGINT, relacl VARCHAR, reloptions VARCHAR,
  relpartbound VARCHAR);
CREATE TABLE shim.pg_attribute (attrelid BIGINT, attname VARCHAR, atttypid BIGINT, attstattarget INTEGER,
  attlen SMALLINT, attnum SMALLINT, attndims INTEGER, atttypmod INTEGER, attbyval BOOLEAN, attalign VARCHAR,
  attstorage VARCHAR, attcompression VARCHAR, attnotnull BOOLEAN, atthasdef BOOLEAN, atthasmissing BOOLEAN,
  attidentity VARCHAR, attgenerated VARCHAR, attisdropped BOOLEAN, attislocal BOOLEAN, attinhcount INTEGER,
  attcollation BIGINT, attacl VARCHAR, attoptions VARCHAR, attfdwoptions VARCHAR);
CREATE TABLE shim.pg_type (oid BIGINT, typname VARCHAR, typnamespace BIGINT, typowner BIGINT, typlen SMALLINT,
  typtype VARCHAR, typcategory VARCHAR, typcollation BIGINT, typbasetype BIGINT, typnotnull BOOLEAN,
  typelem BIGINT, typarray BIGINT, typrelid BIGINT, typtypmod INTEGER);
CREATE TABLE shim.pg_database (oid BIGINT, datname VARCHAR, datdba BIGINT, encoding INTEGER, datcollate VARCHAR,
  datctype VARCHAR, datallowconn BOOLEAN, datistemplate BOOLEAN, datacl VARCHAR);
CREATE TABLE shim.pg_roles (oid BIGINT, rolname VARCHAR, rolsuper BOOLEAN, rolcanlogin BOOLEAN);
CREATE TABLE shim.pg_user (usesysid BIGINT, usename VARCHAR, usesuper BOOLEAN);
CREATE TABLE shim.pg_settings (name VARCHAR, setting VARCHAR, unit VARCHAR, category VARCHAR);
CREATE TABLE shim.pg_description (objoid BIGINT, classoid BIGINT, objsubid INTEGER, description VARCHAR);
CREATE TABLE shim.pg_am (oid BIGINT, amname VARCHAR, amtype VARCHAR);
CREATE TABLE shim.pg_attrdef (oid BIGINT, adrelid BIGINT, adnum SMALLINT, adbin VARCHAR);
CREATE TABLE shim.pg_collation (oid BIGINT, collname VARCHAR);
CREATE TABLE shim.pg_index (indexrelid BIGINT, indrelid BIGINT, indisprimary BOOLEAN, indisunique BOOLEAN);
CREATE TABLE shim.pg_constraint (oid BIGINT, conname VARCHAR, conrelid BIGINT, contype VARCHAR);
CREATE TABLE shim.pg_inherits (inhrelid BIGINT, inhparent BIGINT, inhseqno INTEGER, inhdetachpending BOOLEAN);
CREATE TABLE shim.pg_policy (oid BIGINT, polname VARCHAR, polrelid BIGINT, polcmd VARCHAR, polpermissive BOOLEAN,
  polroles BIGINT[], polqual VARCHAR, polwithcheck VARCHAR);
CREATE TABLE shim.pg_trigger (oid BIGINT, tgrelid BIGINT, tgname VARCHAR);
CREATE TABLE shim.pg_rewrite (oid BIGINT, ev_class BIGINT, rulename VARCHAR);
CREATE TABLE shim.pg_proc (oid BIGINT, proname VARCHAR, pronamespace BIGINT);
CREATE TABLE shim.pg_statistic_ext (oid BIGINT, stxrelid BIGINT, stxname VARCHAR, stxnamespace BIGINT,
  stxkind VARCHAR[], stxstattarget INTEGER);
CREATE TABLE shim.pg_publication (oid BIGINT, pubname VARCHAR, puballtables BOOLEAN);
CREATE TABLE shim.pg_publication_rel (oid BIGINT, prpubid BIGINT, prrelid BIGINT, prqual VARCHAR, prattrs INTEGER[]);
CREATE TABLE shim.pg_publication_namespace (oid BIGINT, pnpubid BIGINT, pnnspid BIGINT);
CREATE TABLE shim.pg_foreign_table (ftrelid BIGINT, ftserver BIGINT);
CREATE TABLE shim.pg_tablespace (oid BIGINT, spcname VARCHAR);
CREATE TABLE shim_info.schemata (catalog_name VARCHAR, schema_name VARCHAR, schema_owner VARCHAR);
CREATE TABLE shim_info.tables (table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR,
  table_type VARCHAR);
CREATE TABLE shim_info.columns (table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR,
  column_name VARCHAR, ordinal_position INTEGER, data_type VARCHAR, is_nullable VARCHAR);
CREATE MACRO shim.pg_get_userbyid(x) AS 'lakehouse';
CREATE MACRO shim.pg_table_is_visible(x) AS true;
CREATE MACRO shim.pg_relation_is_publishable(x) AS false;
CREATE MACRO shim.pg_get_expr(a, b) AS NULL, (a, b, c) AS NULL;
CREATE MACRO shim.obj_description(a, b) AS NULL;
CREATE MACRO shim.col_description(a, b) AS NULL;
CREATE MACRO shim.pg_encoding_to_char(x) AS 'UTF8';
CREATE MACRO shim.format_type(t, m) AS (SELECT typname FROM shim.pg_type WHERE oid = t);
CREATE MACRO shim.current_setting(wanted) AS (SELECT setting FROM shim.pg_settings s WHERE s.name = wanted);
CREATE MACRO shim.current_schema() AS 'gold';
CREATE MACRO shim.current_database() AS 'lakehouse';
"""


def _build(relations: dict[str, dict[str, str]], ministry: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(_DDL)
    con.execute(f"CREATE MACRO shim.pg_version() AS '{VERSION_TEXT}'")
    con.executemany("INSERT INTO shim.pg_namespace VALUES (?, ?, 10, NULL)", [(o, n) for n, o in NAMESPACES.items()])
    con.executemany(
        "INSERT INTO shim.pg_type (oid, typname, typnamespace, typowner, typlen, typtype, typcategory, typcollation, "
        "typbasetype, typnotnull, typelem, typarray, typrelid, typtypmod) VALUES (?, ?, 11, 10, ?, 'b', 'U', 0, 0, "
        "false, 0, 0, 0, -1)",
        [(o, pgtypes.type_name(o), pgtypes.size(o)) for o in pgtypes.TYPES],
    )
    con.execute("INSERT INTO shim.pg_database VALUES (1, 'lakehouse', 10, 6, 'C.UTF-8', 'C.UTF-8', true, false, NULL)")
    con.execute("INSERT INTO shim.pg_roles VALUES (10, ?, false, true)", [ministry])
    con.execute("INSERT INTO shim.pg_user VALUES (10, ?, false)", [ministry])
    con.executemany("INSERT INTO shim.pg_settings VALUES (?, ?, NULL, 'gateway')", list(SETTINGS.items()))
    con.execute("INSERT INTO shim.pg_am VALUES (2, 'heap', 't')")
    con.executemany(
        "INSERT INTO shim_info.schemata VALUES ('lakehouse', ?, 'lakehouse')", [(z,) for z in ("gold", "silver")]
    )
    for i, (relation, columns) in enumerate(sorted(relations.items())):
        zone, name = relation.split(".", 1)
        rel_oid = 20000 + i
        con.execute(
            "INSERT INTO shim.pg_class (oid, relname, relnamespace, reltype, reloftype, relowner, relam, relfilenode, "
            "reltablespace, relpages, reltuples, relallvisible, reltoastrelid, relhasindex, relisshared, "
            "relpersistence, relkind, relnatts, relchecks, relhasrules, relhastriggers, relhassubclass, "
            "relrowsecurity, relforcerowsecurity, relispopulated, relreplident, relispartition, relrewrite) "
            "VALUES (?, ?, ?, 0, 0, 10, 2, 0, 0, 0, -1, 0, 0, false, false, 'p', 'r', ?, 0, false, false, false, "
            "false, false, true, 'n', false, 0)",
            [rel_oid, name, NAMESPACES[zone], len(columns)],
        )
        con.execute("INSERT INTO shim_info.tables VALUES ('lakehouse', ?, ?, 'BASE TABLE')", [zone, name])
        for num, (column, duck_type) in enumerate(columns.items(), start=1):
            type_oid = pgtypes.oid(duck_type)
            con.execute(
                "INSERT INTO shim.pg_attribute (attrelid, attname, atttypid, attstattarget, attlen, attnum, attndims, "
                "atttypmod, attbyval, attalign, attstorage, attcompression, attnotnull, atthasdef, atthasmissing, "
                "attidentity, attgenerated, attisdropped, attislocal, attinhcount, attcollation) VALUES "
                "(?, ?, ?, -1, ?, ?, 0, -1, false, 'i', 'p', '', false, false, false, '', '', false, true, 0, 0)",
                [rel_oid, column, type_oid, pgtypes.size(type_oid), num],
            )
            con.execute(
                "INSERT INTO shim_info.columns VALUES ('lakehouse', ?, ?, ?, ?, ?, 'YES')",
                [zone, name, column, num, pgtypes.type_name(type_oid)],
            )
    con.execute("SET search_path = 'shim,shim_info'")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


SHIM_TABLES = {(schema, name) for schema, name in re.findall(r"CREATE TABLE (shim|shim_info)\.(\w+)", _DDL)}
SHIM_MACROS = set(re.findall(r"CREATE MACRO shim\.(\w+)", _DDL)) | {"pg_version"}
# sqlglot classes the catalog's own macros stand in for, and what else browsing queries call.
MACRO_CLASSES = {
    "CurrentSchema": "current_schema",
    "CurrentDatabase": "current_database",
    "CurrentVersion": "pg_version",
}
CATALOG_FUNCTIONS = {"ArrayToString", "ArrayAgg", "Array", "RegexpLike", "Unnest", "ArraySize", "Upper", "Lower"}
CATALOG_ANONYMOUS = {"array_to_string", "quote_ident", "array_length", "pg_get_userbyid"} | SHIM_MACROS


class Catalog:
    """The catalog of one connection (built lazily: most connections never browse). Its statements are
    checked like data statements: every table resolves to a CTE or a shim table, functions are
    allowlisted, and the SQL that runs is rendered from the checked tree, through the same execution
    path (worker pool, time limit, caps) as data queries."""

    def __init__(self, relations: dict[str, dict[str, str]], ministry: str) -> None:
        self.relations = relations
        self.ministry = ministry
        self._con: duckdb.DuckDBPyConnection | None = None
        self.table_names = {name for _, name in SHIM_TABLES}

    @staticmethod
    def is_show(sql: str) -> bool:
        return bool(SHOW.match(sql))

    @staticmethod
    def looks_like_catalog(sql: str) -> bool:
        return bool(CATALOG_QUERY.search(sql))

    def cursor(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = _build(self.relations, self.ministry)
        return self._con.cursor()

    def check(self, sql: str) -> str:
        """The SQL to run on the shim for a browsing statement, or Denied."""
        shown = SHOW.match(sql)
        if shown:
            name = shown.group(1).lower()
            value = next((v for k, v in SETTINGS.items() if k.lower() == name), "")
            return f"SELECT {_quoted_literal(value)} AS {_quoted_ident(name)}"
        text = sql
        for pattern, replacement in REWRITES:
            text = pattern.sub(replacement, text)
        tree = policy.parse(text)
        policy.only_queries(tree)
        for table in policy.tables_outside_ctes(tree):
            if not isinstance(table.this, exp.Identifier):  # generate_series(…) and the like: nothing runs
                return self._empty(tree)
            schema, name = table.db.lower(), table.name.lower()
            if not schema:
                schema = next((s for s, n in sorted(SHIM_TABLES) if n == name), "")
            if table.catalog or (schema, name) not in SHIM_TABLES:
                if schema in ("shim", "shim_info"):  # a catalog table we do not model: no rows
                    return self._empty(tree)
                raise policy.Denied(f"catalog queries read only the catalog (not {table.sql('duckdb')[:60]})")
            table.set("db", exp.to_identifier(schema))
            table.set("catalog", exp.to_identifier("memory"))
        for cls, macro in MACRO_CLASSES.items():
            for node in list(tree.find_all(getattr(exp, cls))):
                node.replace(exp.Anonymous(this=macro))
        try:
            policy.check_functions(tree, CATALOG_FUNCTIONS | CATALOG_ANONYMOUS)
        except policy.Denied:
            return self._empty(tree)  # a catalog function we do not model: no rows, as for a plain table
        for dot in list(tree.find_all(exp.Dot)):  # pg_catalog.f(…) became shim.f(…): keep it for our macros only
            func = dot.expression
            if isinstance(func, exp.Func) and (
                not isinstance(func, exp.Anonymous) or func.name.lower() not in SHIM_MACROS
            ):
                dot.replace(func.copy())
        for func in list(tree.find_all(exp.Anonymous)):
            if func.name.lower() in SHIM_MACROS and not isinstance(func.parent, exp.Dot):
                func.replace(exp.Dot(this=exp.to_identifier("shim"), expression=func.copy()))
        policy.rename_ctes(tree)
        return tree.sql(dialect="duckdb")

    @staticmethod
    def _empty(tree: exp.Expression) -> str:
        """No rows, with the select list's column names: what the client gets for a feature we lack."""
        if not isinstance(tree, exp.Query):
            raise policy.Denied("this catalog query is not supported by the gateway")
        names = [s.alias_or_name or f"column{i + 1}" for i, s in enumerate(tree.selects)]
        columns = ", ".join(f"NULL::VARCHAR AS {_quoted_ident(n)}" for n in names)
        return f"SELECT {columns} WHERE false"


def _quoted_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quoted_ident(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'
