"""The statement check before anything runs: one SELECT, only the ministry's relations and columns,
only allowlisted functions. It returns the SQL to execute, rendered from the checked syntax tree (what
was checked is what runs).

Every table reference is resolved in its own scope: to a CTE visible where it stands (renamed to a
generated name, so DuckDB cannot resolve it to anything else) or to a granted relation (rendered fully
qualified by the engine, as its view or as a released / retained Delta version). Anything else is
refused: unqualified names that are no visible CTE, identifiers that look like paths, system catalogs
(those go to the catalog shim, catalog.py, which checks its own statements the same way). Denials name
what was denied and why, and never reveal whether a relation the ministry may not see exists.

Statements are bounded before they are parsed (size) and before they are checked (syntax nodes and
nesting), so a hostile statement costs the gateway little: "too complex" is a clear denial.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, SqlglotError
from sqlglot.lineage import lineage
from sqlglot.optimizer.qualify import qualify

DIALECT = "duckdb"
TIME_TRAVEL = "table_at_version"
MAX_STATEMENT_BYTES = 100_000
MAX_NODES = 5_000  # qualify() grows faster than linearly: 5,000 nodes check in well under a second
MAX_DEPTH = 120
MAX_TOKENS = 10_000  # counted by a regular expression before parsing: parsing is the costly part
TOKEN = re.compile(r"\w+|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\S")
# sqlglot expression classes of the functions a ministry may call (aggregates, windows, scalars).
ALLOWED_FUNCTIONS = set(
    """
    Count CountIf Sum Avg Min Max Median Quantile PercentileCont PercentileDisc ApproxDistinct
    Stddev StddevPop StddevSamp Variance VariancePop Corr CovarPop CovarSamp ArgMax ArgMin
    AnyValue First Last GroupConcat LogicalAnd LogicalOr Mode
    RowNumber Rank DenseRank Ntile Lag Lead FirstValue LastValue NthValue PercentRank CumeDist
    Abs Round Floor Ceil Sqrt Ln Log Exp Pow Sign Coalesce Nullif If Greatest Least Cast TryCast
    Lower Upper Length Substring Trim Concat ConcatWs Left Right Pad StrPosition Initcap Replace
    RegexpLike RegexpExtract RegexpReplace StartsWith EndsWith Contains
    Extract DateTrunc TimestampTrunc DateAdd DateSub DateDiff CurrentDate CurrentTimestamp
    Year Month Day Quarter DayOfWeek DayOfYear WeekOfYear Week DateFromParts TimeToStr StrToDate
    Date TsOrDsToDate TsOrDsAdd ToChar Mod Case Exists
    """.split()  # noqa: SIM905 - one line per family reads better than a 90-item list
)
# Functions sqlglot does not model (parsed as Anonymous), by lower-case name.
ALLOWED_ANONYMOUS = {
    "date_part",
    "datepart",
    "strftime",
    "date_diff",
    "datediff",
    "epoch",
    "make_date",
    "ifnull",
    "isnan",
    "trunc",
    "log10",
    "log2",
    "mode",
    "string_agg",
    "listagg",
    "bool_and",
    "bool_or",
    "regexp_matches",
    "prefix",
    "suffix",
    "format",
    "printf",
    "age",
    "nullif",
    "round_even",
    "list_aggr",
}
FORBIDDEN_STATEMENT = "only a single SELECT is allowed (no COPY, ATTACH, SET, PRAGMA, INSTALL, LOAD or DDL)"
# A relation part, CTE name or alias: a word. Dots, slashes, colons, globs… make DuckDB read a file.
WORD = re.compile(r"^[^\W\d]\w*$")
# What only the catalog shim answers (psql, JDBC and BI tools browsing).
CATALOG_SCHEMAS = {"pg_catalog", "information_schema"}
CATALOG_FUNCTIONS = {"current_setting", "current_schema", "current_database", "version", "current_user"}


class Denied(Exception):
    """The statement breaks the ministry's grants or the gateway's rules; the message says which."""


# relation "zone.name" -> {column: duckdb type}
Relations = dict[str, dict[str, str]]
# (relation, version or None for the current one, alias) -> what to read in its place
# (relation, version, alias, person keys compared only) -> what to read in its place
Render = Callable[[str, int | None, str, bool], exp.Expression]
PERSON_KEY_SUFFIX = "_pseudonym"


@dataclass
class Checked:
    sql: str  # what runs
    relations: set[str] = field(default_factory=set)  # what it reads, for the audit
    person_columns: tuple[int, ...] = ()  # result columns carrying person keys (the access log records them)


def parse(sql: str) -> exp.Expression:
    """One statement's tree, within the size, node and nesting bounds; Denied otherwise."""
    if len(sql.encode("utf-8", "replace")) > MAX_STATEMENT_BYTES:
        raise Denied(f"statement too long (over {MAX_STATEMENT_BYTES:,} bytes): too complex for the gateway")
    tokens = sum(1 for _ in TOKEN.finditer(sql))
    if tokens > MAX_TOKENS:
        raise Denied(
            f"statement too complex ({tokens:,} tokens, over {MAX_TOKENS:,}): split it, or use IN (...) or a join "
            "instead of long OR chains"
        )
    try:
        statements = [s for s in sqlglot.parse(sql, dialect=DIALECT) if s is not None]
    except ParseError as exc:
        raise Denied(f"syntax error: {str(exc).splitlines()[0][:200]}") from exc
    except RecursionError:
        raise Denied(f"statement too complex (nested deeper than {MAX_DEPTH} levels)") from None
    if len(statements) != 1:
        raise Denied("one statement per query (stacked statements are not allowed)")
    tree = statements[0]
    nodes, deepest = 0, 0
    stack = [(tree, 0)]
    while stack:  # iterative: a deep tree must not raise RecursionError here
        node, depth = stack.pop()
        nodes += 1
        deepest = max(deepest, depth)
        if nodes > MAX_NODES or deepest > MAX_DEPTH:
            raise Denied(
                f"statement too complex (over {MAX_NODES:,} syntax nodes or {MAX_DEPTH} levels of nesting): "
                "split it, or use IN (...) / a join instead of long OR chains"
            )
        stack.extend((child, depth + 1) for child in node.iter_expressions())
    return tree


def _visible_ctes(table: exp.Table) -> dict[str, exp.CTE]:
    """The CTEs a table reference can name where it stands: those of every enclosing WITH whose body
    holds it, and the earlier siblings of the CTE it sits in (itself too when RECURSIVE). Inner ones
    shadow outer ones. Stricter than or equal to SQL's rules, so what is called a CTE here is one."""
    visible: dict[str, exp.CTE] = {}
    child: exp.Expression = table
    node = table.parent
    while node is not None:
        if isinstance(node, exp.With):
            ctes = node.expressions
            at = next((i for i, c in enumerate(ctes) if c is child), len(ctes))
            seen = ctes[: at + 1] if node.args.get("recursive") else ctes[:at]
            for cte in reversed(seen):
                visible.setdefault(cte.alias_or_name.lower(), cte)
        else:
            with_ = node.args.get("with_")
            if isinstance(with_, exp.With) and child is not with_:
                for cte in reversed(with_.expressions):
                    visible.setdefault(cte.alias_or_name.lower(), cte)
        child, node = node, node.parent
    return visible


def _word(identifier: exp.Expression | None, what: str) -> None:
    if identifier is not None and identifier.name and not WORD.match(identifier.name):
        raise Denied(f"{what} {identifier.name[:80]!r} is not a plain name (paths and files are not readable)")


def _table_alias(table: exp.Table) -> str:
    return table.alias or table.name


def tables_outside_ctes(tree: exp.Expression) -> list[exp.Table]:
    """Table references that no visible CTE answers."""
    return [t for t in tree.find_all(exp.Table) if t.db or t.name.lower() not in _visible_ctes(t)]


def is_catalog_query(tree: exp.Expression, catalog_tables: Collection[str]) -> bool:
    """Browsing (pg_catalog, information_schema, version(), current_setting…) rather than data."""
    for table in tables_outside_ctes(tree):
        if table.db.lower() in CATALOG_SCHEMAS or (not table.db and table.name.lower() in catalog_tables):
            return True
    for func in tree.find_all(exp.Func):
        name = func.name.lower() if isinstance(func, exp.Anonymous) else func.sql_name().lower()
        if (
            name in CATALOG_FUNCTIONS
            or name.startswith("pg_")
            or isinstance(func, (exp.CurrentSchema, exp.CurrentVersion, exp.CurrentUser))
        ):
            return True
    return False


def only_queries(tree: exp.Expression) -> None:
    if not isinstance(tree, exp.Query) or tree.find(exp.Into):
        raise Denied(FORBIDDEN_STATEMENT)
    for node in tree.walk():
        if isinstance(node, (exp.Command, exp.Copy, exp.Attach, exp.Set, exp.Pragma, exp.DDL, exp.DML)):
            raise Denied(FORBIDDEN_STATEMENT)


def rename_ctes(tree: exp.Expression) -> None:
    """Give every CTE a generated name and point each reference resolved to it at that name (its alias
    kept), so the engine never resolves a user's CTE name itself."""
    resolved = [(t, _visible_ctes(t).get(t.name.lower())) for t in tree.find_all(exp.Table) if not t.db]
    names = {id(cte): f"_cte{i}" for i, cte in enumerate(tree.find_all(exp.CTE))}
    for table, cte in resolved:
        if cte is None:
            continue
        alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(table.name))
        table.replace(exp.Table(this=exp.to_identifier(names[id(cte)]), alias=alias))
    for cte in tree.find_all(exp.CTE):
        alias = cte.args["alias"]
        alias.set("this", exp.to_identifier(names[id(cte)]))


def check_functions(tree: exp.Expression, extra_allowed: Collection[str] = ()) -> None:
    for func in tree.find_all(exp.Func):
        if isinstance(func, (exp.Binary, exp.Unary, exp.Connector)):  # operators: AND, OR, ~ …
            continue
        allowed = (
            func.name.lower() in ALLOWED_ANONYMOUS or func.name.lower() in extra_allowed
            if isinstance(func, exp.Anonymous)
            else type(func).__name__ in ALLOWED_FUNCTIONS or type(func).__name__ in extra_allowed
        )
        if not allowed:
            name = func.name if isinstance(func, exp.Anonymous) else func.sql_name()
            raise Denied(f"function {name.lower()} is not allowed through the gateway")


def _relation_literal(node: exp.Anonymous) -> tuple[str, int]:
    args = node.expressions
    if (
        len(args) != 2
        or not isinstance(args[0], exp.Literal)
        or not args[0].is_string
        or not isinstance(args[1], exp.Literal)
        or args[1].is_string
        or not args[1].this.isdigit()
    ):
        raise Denied(f"{TIME_TRAVEL} takes a relation name and a version number, e.g. {TIME_TRAVEL}('gold.x', 3)")
    return args[0].this.lower(), int(args[1].this)


def _schema(relations: Relations) -> dict[str, dict[str, dict[str, str]]]:
    out: dict[str, dict[str, dict[str, str]]] = {}
    for relation, columns in relations.items():
        zone, name = relation.split(".", 1)
        out.setdefault(zone, {})[name] = dict(columns)
    return out


def _not_granted(shown: str) -> Denied:
    return Denied(f"relation {shown} is not granted to you (or does not exist)")


def check(sql: str, relations: Relations, render: Render, tree: exp.Expression | None = None) -> Checked:
    """What to run for `sql`, or Denied. `render(relation, version, alias)` gives the expression that
    reads a granted relation (its view, or a Delta version the engine allows)."""
    tree = tree if tree is not None else parse(sql)
    only_queries(tree)
    for cte in tree.find_all(exp.CTE):
        _word(cte.args.get("alias") and cte.args["alias"].this, "CTE name")

    reads: list[tuple[exp.Table, str, int | None]] = []
    for table in tables_outside_ctes(tree):
        _word(table.args.get("alias") and table.args["alias"].this, "alias")
        if isinstance(table.this, exp.Anonymous) and table.this.name.lower() == TIME_TRAVEL and not table.db:
            relation, version = _relation_literal(table.this)
            if relation not in relations:
                raise _not_granted(relation)
            zone, name = relation.split(".", 1)
            stand_in = exp.Table(
                this=exp.to_identifier(name),
                db=exp.to_identifier(zone),
                alias=exp.TableAlias(this=exp.to_identifier(table.alias or name)),
            )
            table.replace(stand_in)
            reads.append((stand_in, relation, version))
            continue
        if not isinstance(table.this, exp.Identifier):
            raise Denied(f"table functions are not allowed ({table.this.sql(DIALECT)[:60]})")
        for part, what in ((table.this, "relation"), (table.args.get("db"), "schema")):
            _word(part, what)
        shown = f"{table.db}.{table.name}" if table.db else table.name
        if table.catalog or not table.db:
            raise _not_granted(shown)
        relation = f"{table.db.lower()}.{table.name.lower()}"
        if relation not in relations:
            raise _not_granted(shown)
        reads.append((table, relation, None))

    check_functions(tree)
    qualified = _check_columns(tree, relations)
    keys_compared_only = _person_keys_compared_only(qualified)
    person_columns = _person_outputs(qualified, relations)
    _postgres_column_names(tree)
    rename_ctes(tree)
    for table, relation, version in reads:
        table.replace(render(relation, version, _table_alias(table), keys_compared_only))
    return Checked(tree.sql(dialect=DIALECT), {r for _, r, _ in reads}, person_columns)


def _person_outputs(qualified: exp.Expression, relations: Relations) -> tuple[int, ...]:
    """The result columns whose values come from a person key, through aliases, CTEs, subqueries and
    set operations (sqlglot's column lineage): a row-level answer about persons, whatever the column is
    called. When the lineage cannot be traced every column is a candidate (the engine keeps only values
    shaped like a person key)."""
    selects = qualified.selects if isinstance(qualified, exp.Query) else []
    try:
        out = []
        for i, projection in enumerate(selects):
            node = lineage(projection.alias_or_name, qualified, schema=_schema(relations), dialect=DIALECT)
            if any(n.name.lower().endswith(PERSON_KEY_SUFFIX) for n in node.walk() if not n.downstream):
                out.append(i)
        return tuple(out)
    except (SqlglotError, RecursionError, KeyError, ValueError):
        return tuple(range(len(selects)))


def _person_keys_compared_only(qualified: exp.Expression) -> bool:
    """Whether person keys appear only where their values cannot come out: equality between two person
    keys (joins) and count(DISTINCT key). Re-keying per recipient is a bijection, so such a statement
    answers the same over raw keys, and the engine may skip computing an HMAC per row read."""
    for column in qualified.find_all(exp.Column):
        if not column.name.lower().endswith(PERSON_KEY_SUFFIX):
            continue
        parent = column.parent
        while isinstance(parent, exp.Paren):
            parent = parent.parent
        if isinstance(parent, exp.EQ) and all(
            isinstance(side, exp.Column) and side.name.lower().endswith(PERSON_KEY_SUFFIX)
            for side in (parent.this, parent.expression)
        ):
            continue
        if isinstance(parent, exp.Distinct) and isinstance(parent.parent, exp.Count) and len(parent.expressions) == 1:
            continue
        return False
    return True


def _check_columns(tree: exp.Expression, relations: Relations) -> exp.Expression:
    try:  # on a copy: validation only; what runs is the tree checked above
        qualified = qualify(
            tree.copy(),
            schema=_schema(relations),
            dialect=DIALECT,
            validate_qualify_columns=True,
            quote_identifiers=True,
            identify=False,
        )
    except OptimizeError as exc:
        named = re.search(r"Column '([^']+)'", str(exc))
        what = f"column {named.group(1)}" if named else "a column"
        raise Denied(f"{what} is not granted to you (or does not exist)") from exc
    except RecursionError:
        raise Denied("statement too complex to check") from None
    for star in qualified.find_all(exp.Star):
        if not isinstance(star.parent, exp.Count):
            raise Denied("* is only allowed as a whole select list or in count(*)")
    if qualified.find(exp.TableColumn):  # `SELECT r FROM t r`: the whole row as one value
        raise Denied(f"column {qualified.find(exp.TableColumn).name} is not granted to you (or does not exist)")
    for column in qualified.find_all(exp.Column):
        select = column.find_ancestor(exp.Select)
        aliases = {p.alias_or_name for p in select.expressions} if select else set()
        if not column.table and column.name not in aliases:  # only ORDER BY <output column> stays bare
            raise Denied(f"column {column.name} is not granted to you (or does not exist)")
    return qualified


def _postgres_column_names(tree: exp.Expression) -> None:
    """Unnamed result columns as PostgreSQL names them (count, sum, ?column?), not DuckDB's count_star()."""
    select = tree if isinstance(tree, exp.Select) else tree.find(exp.Select)
    if select is None:
        return
    for i, projection in enumerate(select.expressions):
        if isinstance(projection, (exp.Alias, exp.Column, exp.Star)):
            continue
        if isinstance(projection, exp.Anonymous):
            name = projection.name.lower()
        elif isinstance(projection, exp.Func) and not isinstance(projection, (exp.Binary, exp.Connector)):
            name = projection.sql_name().lower()
        else:
            name = "?column?"
        select.expressions[i].replace(exp.alias_(projection.copy(), name, quoted=True))
