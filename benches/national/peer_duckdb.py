"""The benchmark's query in DuckDB SQL, as its own process (so its peak RSS is its own).

usage: python peer_duckdb.py DATA_DIR PLAN_YEAR AS_OF

The same query and output as peer_polars.py.
"""
import datetime as dt
import json
import sys
from pathlib import Path

import duckdb

data = Path(sys.argv[1])
year = int(sys.argv[2])
as_of = dt.date.fromisoformat(sys.argv[3])
last_as_of = as_of.replace(year=year - 1)

# Typed columns instead of sniffing: the same types polars infers, without a sampling pass.
PAYMENTS = ("{'date': 'DATE', 'unit_id': 'VARCHAR', 'project_id': 'VARCHAR', "
            "'amount': 'BIGINT', 'note': 'VARCHAR'}")
PLANS = "{'unit_id': 'VARCHAR', 'project_id': 'VARCHAR', 'plan_year': 'BIGINT', 'amount': 'BIGINT'}"
UNITS = "{'unit_id': 'VARCHAR', 'unit_name': 'VARCHAR', 'email': 'VARCHAR'}"

sql = f"""
WITH paid AS (
    SELECT unit_id, year(date) AS year, sum(amount) AS disbursed
    FROM read_csv($payments, header = true, columns = {PAYMENTS})
    WHERE date BETWEEN $start AND $as_of OR date BETWEEN $last_start AND $last_as_of
    GROUP BY ALL
), planned AS (
    SELECT unit_id, plan_year AS year, sum(amount) AS plan
    FROM read_csv($plans, header = true, columns = {PLANS})
    WHERE plan_year IN ($year, $year - 1)
    GROUP BY ALL
), both_years AS (
    SELECT unit_id, year, coalesce(plan, 0) AS plan, coalesce(disbursed, 0) AS disbursed
    FROM planned FULL JOIN paid USING (unit_id, year)
)
SELECT u.unit_id,
       coalesce(t.plan, 0), coalesce(t.disbursed, 0),
       coalesce(l.plan, 0), coalesce(l.disbursed, 0)
FROM read_csv($units, header = true, columns = {UNITS}) u
LEFT JOIN both_years t ON t.unit_id = u.unit_id AND t.year = $year
LEFT JOIN both_years l ON l.unit_id = u.unit_id AND l.year = $year - 1
ORDER BY u.unit_id
"""
params = {
    "payments": str(data / "payments.csv"),
    "plans": str(data / "plans.csv"),
    "units": str(data / "units.csv"),
    "year": year,
    "start": dt.date(year, 1, 1),
    "as_of": as_of,
    "last_start": dt.date(year - 1, 1, 1),
    "last_as_of": last_as_of,
}
rows = [[r[0]] + [int(v) for v in r[1:]] for r in duckdb.connect().execute(sql, params).fetchall()]
json.dump({"engine": f"duckdb {duckdb.__version__}", "units": len(rows), "rows": rows}, sys.stdout)
