"""Spark checks a contract's quality rules with the SQL compiled once for every engine
(data_contracts/quality.py): the failing rows and their reasons, NULL semantics included."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from data_contracts import QualityRule, source_table
from lakehouse.core.settings import Settings
from spark_jobs.enforcement import REASON, with_quality
from spark_jobs.session import spark_session


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    session = spark_session(Settings.from_env(), "test-enforcement")
    yield session
    session.stop()


def test_citizen_rules_mark_each_failing_row_with_every_reason(spark: SparkSession) -> None:
    citizen = source_table("population", "citizen")
    reason = {r.name: r.reason for r in citizen.quality}
    rows = [  # registry_id, citizen_id, date_of_birth, sex -> expected reasons
        (1, "001090000001", "1990-01-01", 1, []),
        (2, None, "1990-01-01", 1, ["citizen_id_present"]),
        (3, "12345", "1850-01-01", 9, ["citizen_id_format", "date_of_birth_plausible", "sex_code"]),
        (4, "001090000004", None, None, []),  # NULLs fail only a nullValues rule
    ]
    df = spark.createDataFrame(
        [r[:4] for r in rows], "registry_id bigint, citizen_id string, date_of_birth string, sex int"
    ).selectExpr("registry_id", "citizen_id", "cast(date_of_birth as date) as date_of_birth", "sex")
    got = {r["registry_id"]: r[REASON] for r in with_quality(df, citizen).collect()}
    for registry_id, *_, expected in rows:
        assert got[registry_id] == ("; ".join(reason[n] for n in expected) or None), registry_id


def test_an_expression_that_is_null_for_a_value_fails(spark: SparkSession) -> None:
    rule = QualityRule("n", "n_small", "expression", expression="n < nullif(n, 2) + 1")
    table = dataclasses.replace(source_table("population", "citizen"), quality=(rule,))
    df = spark.createDataFrame([(1,), (2,), (None,)], "n int")
    got = {r["n"]: r[REASON] for r in with_quality(df, table).collect()}
    assert got == {1: None, 2: rule.reason, None: None}
