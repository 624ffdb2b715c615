"""The statement check before anything runs: one SELECT, only the ministry's relations and columns,
only allowlisted functions. It returns the SQL to execute, rendered from the checked syntax tree (what
was checked is what runs), with `table_at_version('<relation>', <n>)` rewritten to the relation's
grant over that Delta version. Denials name what was denied and why, and never reveal whether a
relation the ministry may not see exists."""

from __future__ import annotations

import re
from collections.abc import Callable

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError
from sqlglot.optimizer.qualify import qualify

DIALECT = "duckdb"
TIME_TRAVEL = "table_at_version"
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


class Denied(Exception):
    """The statement breaks the ministry's grants or the gateway's rules; the message says which."""


# relation "zone.name" -> {column: duckdb type}
Relations = dict[str, dict[str, str]]


def _schema(relations: Relations) -> dict[str, dict[str, dict[str, str]]]:
    out: dict[str, dict[str, dict[str, str]]] = {}
    for relation, columns in relations.items():
        zone, name = relation.split(".", 1)
        out.setdefault(zone, {})[name] = dict(columns)
    return out


def _relation_literal(node: exp.Anonymous) -> tuple[str, int]:
    args = node.expressions
    if (
        len(args) != 2
        or not isinstance(args[0], exp.Literal)
        or not args[0].is_string
        or not isinstance(args[1], exp.Literal)
        or args[1].is_string
    ):
        raise Denied(f"{TIME_TRAVEL} takes a relation name and a version number, e.g. {TIME_TRAVEL}('gold.x', 3)")
    return args[0].this.lower(), int(args[1].this)


def check(sql: str, relations: Relations, versioned_sql: Callable[[str, int], str]) -> str:
    """The SQL to run for `sql`, or Denied. `versioned_sql(relation, version)` renders a relation's
    grant over an older Delta version."""
    try:
        statements = [s for s in sqlglot.parse(sql, dialect=DIALECT) if s is not None]
    except ParseError as exc:
        raise Denied(f"syntax error: {str(exc).splitlines()[0]}") from exc
    if len(statements) != 1:
        raise Denied("one statement per query (stacked statements are not allowed)")
    tree = statements[0]
    if not isinstance(tree, exp.Query) or tree.find(exp.Into):
        raise Denied(FORBIDDEN_STATEMENT)
    for node in tree.walk():
        if isinstance(node, (exp.Command, exp.Copy, exp.Attach, exp.Set, exp.Pragma, exp.DDL, exp.DML)):
            raise Denied(FORBIDDEN_STATEMENT)

    # Time travel: table_at_version('zone.name', n) becomes the relation, swapped back after the checks.
    versions: list[tuple[exp.Table, str, int]] = []
    for table in list(tree.find_all(exp.Table)):
        if isinstance(table.this, exp.Anonymous) and table.this.name.lower() == TIME_TRAVEL:
            relation, version = _relation_literal(table.this)
            if relation not in relations:
                raise Denied(f"relation {relation} is not granted to you (or does not exist)")
            alias = table.alias or relation.split(".", 1)[1]
            zone, name = relation.split(".", 1)
            stand_in = exp.Table(
                this=exp.to_identifier(name),
                db=exp.to_identifier(zone),
                alias=exp.TableAlias(this=exp.to_identifier(alias)),
            )
            table.replace(stand_in)
            versions.append((stand_in, relation, version))

    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            raise Denied(f"table functions are not allowed ({table.this.sql(DIALECT)[:60]})")
        if table.catalog:
            raise Denied(f"relation {table.sql(DIALECT)} is not granted to you (or does not exist)")
        if not table.db and table.name.lower() in ctes:
            continue
        if f"{table.db.lower()}.{table.name.lower()}" not in relations:
            shown = f"{table.db}.{table.name}" if table.db else table.name
            raise Denied(f"relation {shown} is not granted to you (or does not exist)")

    for func in tree.find_all(exp.Func):
        if isinstance(func, (exp.Binary, exp.Unary, exp.Connector)):  # operators: AND, OR, ~ …
            continue
        allowed = (
            func.name.lower() in ALLOWED_ANONYMOUS
            if isinstance(func, exp.Anonymous)
            else type(func).__name__ in ALLOWED_FUNCTIONS
        )
        if not allowed:
            name = func.name if isinstance(func, exp.Anonymous) else func.sql_name()
            raise Denied(f"function {name.lower()} is not allowed through the gateway")

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

    _postgres_column_names(tree)
    for stand_in, relation, version in versions:
        subquery = sqlglot.parse_one(versioned_sql(relation, version), dialect=DIALECT)
        stand_in.replace(subquery.subquery(stand_in.alias))
    return tree.sql(dialect=DIALECT)


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
