"""The contract's row rules compiled to SQL, once, for every engine that checks them: Spark at ingestion
(spark_jobs/enforcement.py, through F.expr) and DuckDB in dbt (generated models and macros).

A rule compiles to the condition a row FAILS. Semantics (the same everywhere): `not_null` fails on NULL;
every other rule fails only on a value (a NULL is the business of not_null), and an `expression` that is
NULL for a value counts as failing. Expressions are written in Spark SQL in the contract; sqlglot
transpiles them (sqlglot is in the data virtualenv only: imported lazily, the Airflow side never compiles).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from data_contracts.model import ContractError, QualityRule

if TYPE_CHECKING:
    from sqlglot import exp

SOURCE_DIALECT = "spark"  # the dialect contract expressions are written in (engine: spark-sql)


def _fails(rule: QualityRule) -> exp.Expression:
    from sqlglot import exp, parse_one

    col = exp.column(rule.column)
    present = exp.Not(this=exp.Is(this=col.copy(), expression=exp.Null()))
    if rule.kind == "not_null":
        return exp.Is(this=col, expression=exp.Null())
    if rule.kind == "valid_values":
        holds: exp.Expression = exp.In(this=col, expressions=[exp.convert(v) for v in rule.values])
    elif rule.kind == "pattern":
        text = exp.Cast(this=col, to=exp.DataType.build("string"))
        holds = exp.RegexpLike(this=text, expression=exp.Literal.string(rule.pattern or ""))
    elif rule.kind == "expression":
        try:
            check = parse_one(rule.expression or "TRUE", read=SOURCE_DIALECT)
        except Exception as exc:  # sqlglot's ParseError and TokenError
            raise ContractError(f"quality rule {rule.name}: cannot parse {rule.expression!r}: {exc}") from exc
        holds = exp.Coalesce(this=exp.Paren(this=check), expressions=[exp.false()])
    else:
        raise ContractError(f"quality rule {rule.name}: unknown kind {rule.kind!r}")
    return exp.and_(present, exp.Not(this=exp.Paren(this=holds)))  # what a valid row satisfies, negated


def failing_condition(
    rule: QualityRule,
    dialect: str = SOURCE_DIALECT,
    columns: Mapping[str, str] | None = None,
    current_date: str | None = None,
) -> str:
    """SQL that is TRUE exactly for the rows failing `rule`, in `dialect` (spark, duckdb).

    `columns` renames columns (source name -> name where the check runs, e.g. a staging model's);
    `current_date` replaces CURRENT_DATE (dbt checks at its reference date)."""
    return _render(_fails(rule), dialect, columns or {}, current_date)


def _render(tree: exp.Expression, dialect: str, columns: Mapping[str, str], current_date: str | None) -> str:
    from sqlglot import exp

    placeholders: dict[str, str] = {}

    def swap(node: exp.Expression) -> exp.Expression:
        if dialect != SOURCE_DIALECT and isinstance(node, exp.Anonymous):
            parsed = _try_parse(node)
            if parsed is not None:
                return parsed
        if isinstance(node, exp.Column) and not node.table and node.name in columns:
            return exp.column(columns[node.name])
        if current_date is not None and isinstance(node, exp.CurrentDate):
            placeholders["__lakehouse_current_date__"] = current_date
            return exp.column("__lakehouse_current_date__")
        return node

    sql = tree.transform(swap).sql(dialect=dialect)
    for token, text in placeholders.items():
        sql = sql.replace(token, text)
    return sql


def all_reasons(rules: tuple[QualityRule, ...], dialect: str) -> str:
    """Every failed rule's reason joined by '; ' (contract order), NULL for a valid row: what ingestion
    writes to `_quarantine_reason` (concat_ws skips NULLs in Spark SQL and DuckDB alike)."""
    if not rules:
        return "cast(null as string)" if dialect == "spark" else "cast(null as varchar)"
    from sqlglot import exp

    whens = ", ".join(
        f"case when {failing_condition(r, dialect)} then {exp.Literal.string(r.reason).sql(dialect)} end" for r in rules
    )
    return f"nullif(concat_ws('; ', {whens}), '')"


def _try_parse(node: exp.Expression) -> exp.Expression | None:
    """Spark's try_to_date / try_to_timestamp (which sqlglot passes through by name) as the safe
    string-to-date/timestamp parse every dialect can render (DuckDB: try_strptime)."""
    from sqlglot import exp
    from sqlglot.dialects.spark import Spark
    from sqlglot.time import format_time

    name = node.name.lower()
    if name not in ("try_to_date", "try_to_timestamp") or len(node.expressions) != 2:
        return None
    value, fmt = node.expressions
    if not isinstance(fmt, exp.Literal):
        return None
    # Spark's strict markers (%mstrict) are sqlglot's; strptime-style engines accept the plain codes
    pattern = (format_time(fmt.name, Spark.TIME_MAPPING) or "").replace("strict", "")
    kind = exp.StrToDate if name == "try_to_date" else exp.StrToTime
    return kind(this=value.copy(), format=exp.Literal.string(pattern), safe=True)


def reject_reason(
    rules: tuple[QualityRule, ...],
    dialect: str,
    columns: Mapping[str, str] | None = None,
    current_date: str | None = None,
    quote: Callable[[str], str] | None = None,
) -> str:
    """A CASE expression giving the first failed rule's reason (contract order), NULL for a valid row."""
    if not rules:
        return "cast(null as varchar)"
    quote = quote or (lambda text: "'" + text.replace("'", "''") + "'")
    whens = "\n".join(
        f"    when {failing_condition(r, dialect, columns, current_date)} then {quote(r.reason)}" for r in rules
    )
    return f"case\n{whens}\nend"
