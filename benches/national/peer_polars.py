"""The benchmark's query in Python polars, as its own process (so its peak RSS is its own).

usage: python peer_polars.py DATA_DIR PLAN_YEAR AS_OF

Per unit: this year's plan and payments from 1 Jan to AS_OF, and last year's plan and payments
from 1 Jan to the same day a year earlier -- what `disbmon once` measures with year-on-year on.
Prints one JSON document: {"engine", "units", "rows": [[unit_id, plan, disbursed, plan_last,
disbursed_last], ...]}.
"""
import datetime as dt
import json
import sys
from pathlib import Path

import polars as pl

data = Path(sys.argv[1])
year = int(sys.argv[2])
as_of = dt.date.fromisoformat(sys.argv[3])
last_as_of = as_of.replace(year=year - 1)  # the bench's as-of is never 29 February

day = pl.col("date")
in_window = day.is_between(dt.date(year, 1, 1), as_of) | day.is_between(
    dt.date(year - 1, 1, 1), last_as_of
)
paid = (
    pl.scan_csv(data / "payments.csv", try_parse_dates=True)
    .filter(in_window)
    .group_by("unit_id", day.dt.year().cast(pl.Int64).alias("year"))
    .agg(pl.col("amount").sum().alias("disbursed"))
)
planned = (
    pl.scan_csv(data / "plans.csv")
    .filter(pl.col("plan_year").is_in([year, year - 1]))
    .group_by("unit_id", pl.col("plan_year").cast(pl.Int64).alias("year"))
    .agg(pl.col("amount").sum().alias("plan"))
)
both = planned.join(paid, on=["unit_id", "year"], how="full", coalesce=True)


def of_year(y, suffix):
    return both.filter(pl.col("year") == y).select(
        "unit_id", pl.col("plan").alias("plan" + suffix), pl.col("disbursed").alias("disbursed" + suffix)
    )


result = (
    pl.scan_csv(data / "units.csv")
    .select("unit_id", "unit_name")
    .join(of_year(year, ""), on="unit_id", how="left")
    .join(of_year(year - 1, "_last"), on="unit_id", how="left")
    .with_columns(pl.col("^(plan|disbursed).*$").fill_null(0))
    .sort("unit_id")
    .collect(engine="streaming")
)
rows = result.select("unit_id", "plan", "disbursed", "plan_last", "disbursed_last").rows()
json.dump({"engine": f"polars {pl.__version__}", "units": len(rows), "rows": rows}, sys.stdout)
