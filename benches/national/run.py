#!/usr/bin/env python3
"""National-scale benchmark: disbmon beside Python polars and DuckDB on the same query, and
disbmon's mail throughput beside Python smtplib, against one local SMTP server; then disbmon at
N and 10 N units, to show that nothing in it grows faster than the units (`--scale-only`).

    python3 benches/national/run.py --quick                      # 1 M rows, 1 run: a smoke run
    python3 benches/national/run.py --python /tmp/pyb/bin/python # the full run (10 M rows, 5 runs)
    python3 benches/national/run.py --scale-only                 # 10,000 and 100,000 units

See README.md beside this file for what is measured and the bars. The driver uses the standard
library only; the peers run under `--python` (default: this interpreter) and are skipped when that
Python lacks polars or duckdb.
"""
import argparse
import datetime as dt
import json
import multiprocessing
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

# Bump when the generated files change for the same parameters, so stale data sets are remade.
GENERATOR_VERSION = 1
PLAN_YEAR = 2026
AS_OF = "2026-10-31"
DOMAIN = "bench.example.gov.vn"
# Payments are uniform in [MIN_PAYMENT, MAX_PAYMENT] đồng.
MIN_PAYMENT, MAX_PAYMENT = 1_000_000, 2_000_000_000
CHUNK_ROWS = 250_000

BARS = {"wall": 1.3, "rss": 1.15, "repeated": 0.05, "appended": 0.1, "mail_secs": 5.0,
        "daily": 0.08, "daily_polars": 0.25, "backtest": 1.5}

# Sơn La's milestones, as in jobs/sample.toml: 71.79 % expected by 31/10.
MILESTONES = """milestones = [
  { date = "03-31", pct = 11.05 },
  { date = "06-30", pct = 50 },
  { date = "09-30", pct = 60 },
  { date = "12-31", pct = 95 },
  { date = "01-31", pct = 100 },
]"""

# Short ASCII notes; their average length brings a payment row to ~48 bytes (477 MB for 10 M rows).
NOTES = [
    "tam ung", "thu hoi tam ung", "thanh toan KLHT", "KLHT dot 1", "KLHT dot 2", "KLHT dot 3",
    "chi phi QLDA", "GPMB dot 1", "tu van thiet ke", "bao hiem", "giam sat TC",
]


class CommandFailed(Exception):
    pass


def say(*parts):
    print(*parts, flush=True)


def note(*parts):
    print(*parts, file=sys.stderr, flush=True)


def tail(path, lines=25, chars=4000):
    """The end of a log, short enough to read (a JSON report is one very long line)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as e:
        return f"<{e}>"
    return "\n".join(text[-chars:].splitlines()[-lines:])


def fail(cmd, code, out, err, why=""):
    raise CommandFailed(
        f"command failed{': ' + why if why else ''} (exit {code}):\n  {' '.join(map(str, cmd))}\n"
        f"--- stdout (tail) ---\n{tail(out)}\n--- stderr (tail) ---\n{tail(err)}"
    )


def run_checked(cmd, log_dir, name, ok=(0,), env=None):
    """Runs an unmeasured command (setup, checks); its output goes to log files."""
    out, err = log_dir / f"{name}.out", log_dir / f"{name}.err"
    with open(out, "wb") as o, open(err, "wb") as e:
        code = subprocess.run([str(c) for c in cmd], stdout=o, stderr=e, env=env).returncode
    if code not in ok:
        fail(cmd, code, out, err)
    return out, err


def measured(cmd, log_dir, name, ok=(0,), env=None, hints=None):
    """Runs a command through measure.py; returns (wall s, peak RSS KB, stdout path, stderr path).
    `hints` maps an exit status to what it means here, printed with the failure."""
    out, err, res = (log_dir / f"{name}.{x}" for x in ("out", "err", "result.json"))
    res.unlink(missing_ok=True)
    launcher = [sys.executable, "-I", "-S", str(HERE / "measure.py"), str(res), "--"]
    with open(out, "wb") as o, open(err, "wb") as e:
        subprocess.run(launcher + [str(c) for c in cmd], stdout=o, stderr=e, env=env)
    try:
        r = json.loads(res.read_text())
    except (OSError, ValueError):
        fail(cmd, "?", out, err, "the launcher recorded no result (could the command be started?)")
    if r["code"] not in ok:
        fail(cmd, r["code"], out, err, (hints or {}).get(r["code"], ""))
    LAST["oublock"] = r.get("oublock", 0)
    return r["wall"], r["maxrss_kb"], out, err


LAST = {}  # what measured() saw of its last command beyond its return: "oublock"


# ---------------------------------------------------------------------------------------------
# The data set

def ids(units, projects):
    uw, pw = max(4, len(str(units))), max(6, len(str(projects)))
    return [f"U{i + 1:0{uw}d}" for i in range(units)], [f"P{i + 1:0{pw}d}" for i in range(projects)]


def layout(seed, units, projects):
    """Which unit owns each project, and each unit's pace (its full-year rate, 0.5..1.3), so that
    units are spread around the 71.79 % expected at 31/10 and some are behind."""
    rng = random.Random(f"{seed}:layout")
    # The first `units` projects go one to each unit so that every unit has a project.
    owner = [i if i < units else rng.randrange(units) for i in range(projects)]
    pace = [rng.uniform(0.5, 1.3) for _ in range(units)]
    return owner, pace


_TABLES = None  # (dates, row prefixes, notes) in each generator worker


def _init_worker(tables):
    global _TABLES
    _TABLES = tables


def _payment_chunk(job):
    """`n` payment rows as bytes, from their own seeded stream: the output does not depend on
    how many processes generate it."""
    stream, n = job
    dates, prefixes, notes = _TABLES
    r = random.Random(stream).random
    nd, np_, nn = len(dates), len(prefixes), len(notes)
    lo, span = MIN_PAYMENT, MAX_PAYMENT - MIN_PAYMENT + 1
    return "".join([
        f"{dates[int(r() * nd)]}{prefixes[int(r() * np_)]}{lo + int(r() * span)}{notes[int(r() * nn)]}"
        for _ in range(n)
    ]).encode()


def payment_tables(units, projects, seed, years=2):
    unit_ids, project_ids = ids(units, projects)
    owner, _ = layout(seed, units, projects)
    first, last = dt.date(PLAN_YEAR - years + 1, 1, 1), dt.date(PLAN_YEAR, 12, 31)
    dates = [f"{first + dt.timedelta(days=d)}," for d in range((last - first).days + 1)]
    # Each payment's unit is its project's unit: a row prefix per project.
    prefixes = [f"{unit_ids[owner[p]]},{pid}," for p, pid in enumerate(project_ids)]
    return dates, prefixes, [f",{n}\n" for n in NOTES]


def write_payments(path, tables, streams, mode="wb"):
    """Writes (or appends) the chunks of `streams` [(seed string, rows)] in order."""
    done, total, started = 0, sum(n for _, n in streams), time.perf_counter()
    processes = max(1, min(os.cpu_count() or 1, 8))
    with open(path, mode, buffering=16 << 20) as f, multiprocessing.Pool(
        processes, initializer=_init_worker, initargs=(tables,)
    ) as pool:
        for chunk in pool.imap(_payment_chunk, streams):
            f.write(chunk)
            done += CHUNK_ROWS
            if total >= 2_000_000 and done % 2_000_000 < CHUNK_ROWS:
                note(f"  {min(done, total):,} / {total:,} rows ({time.perf_counter() - started:.0f} s)")


def chunks(prefix, seed, rows):
    return [(f"{seed}:{prefix}:{i}", min(CHUNK_ROWS, rows - s)) for i, s in enumerate(range(0, rows, CHUNK_ROWS))]


def generate(ddir, rows, units, projects, seed, years=2):
    """Writes units.csv, plans.csv, payments.csv and stamp.json into `ddir`, unless a stamp with
    the same parameters says they are there already: `rows` payments over `years` plan years (the
    last one PLAN_YEAR). Returns the stamp."""
    params = {"generator": GENERATOR_VERSION, "rows": rows, "units": units, "projects": projects, "seed": seed}
    if years != 2:
        params["years"] = years
    stamp_path = ddir / "stamp.json"
    files = ("units.csv", "plans.csv", "payments.csv")
    try:
        stamp = json.loads(stamp_path.read_text())
        if stamp["params"] == params:
            pay = ddir / "payments.csv"
            size = pay.stat().st_size
            if size > stamp["sizes"]["payments.csv"]:
                # An earlier bench was cut off after appending its 1 %: take the rows back off.
                note("payments.csv has rows appended by an interrupted run: truncating it back")
                os.truncate(pay, stamp["sizes"]["payments.csv"])
            if all((ddir / f).stat().st_size == stamp["sizes"][f] for f in files):
                note(f"reusing the data set in {ddir} (stamp matches)")
                return stamp
    except (OSError, ValueError, KeyError):
        pass
    note(f"generating {rows:,} payments for {units:,} units and {projects:,} projects into {ddir}")
    started = time.perf_counter()
    ddir.mkdir(parents=True, exist_ok=True)
    stamp_path.unlink(missing_ok=True)
    unit_ids, project_ids = ids(units, projects)
    owner, pace = layout(seed, units, projects)
    with open(ddir / "units.csv", "w", encoding="utf-8", newline="") as f:
        f.write("unit_id,unit_name,email\n")
        f.writelines(f"{u},Đơn vị {i + 1},{u.lower()}@{DOMAIN}\n" for i, u in enumerate(unit_ids))
    # A project's yearly plan is what its payments of a year add up to on average, divided by its
    # unit's pace: rates then sit around the pace whatever the number of rows.
    rng = random.Random(f"{seed}:plans")
    per_year = rows / years / projects * (MIN_PAYMENT + MAX_PAYMENT) / 2
    with open(ddir / "plans.csv", "w", encoding="utf-8", newline="") as f:
        f.write("unit_id,project_id,plan_year,amount\n")
        for p, pid in enumerate(project_ids):
            for year in range(PLAN_YEAR - years + 1, PLAN_YEAR + 1):
                amount = max(1, round(per_year / pace[owner[p]] * rng.uniform(0.7, 1.3) / 1e6)) * 1_000_000
                f.write(f"{unit_ids[owner[p]]},{pid},{year},{amount}\n")
    tmp = ddir / "payments.csv.tmp"
    with open(tmp, "wb") as f:
        f.write(b"date,unit_id,project_id,amount,note\n")
    write_payments(tmp, payment_tables(units, projects, seed, years), chunks("payments", seed, rows), mode="ab")
    os.replace(tmp, ddir / "payments.csv")
    stamp = {"params": params, "sizes": {f: (ddir / f).stat().st_size for f in files}}
    stamp_path.write_text(json.dumps(stamp, indent=1) + "\n")
    note(f"generated in {time.perf_counter() - started:.1f} s: payments.csv {stamp['sizes']['payments.csv'] / 1e6:.0f} MB")
    return stamp


def write_setup(base, job_name, job_body, mail):
    """jobs/JOB.toml and config/disbmon.toml under `base`; state in base/state. Returns the config path."""
    (base / "jobs").mkdir(parents=True, exist_ok=True)
    (base / "config").mkdir(parents=True, exist_ok=True)
    (base / "jobs" / f"{job_name}.toml").write_text(job_body, encoding="utf-8")
    config = base / "config" / "disbmon.toml"
    config.write_text(f"""# Written by benches/national/run.py; rewritten on every run.
jobs_dir = "../jobs"
state_dir = "../state"
timezone = "Asia/Ho_Chi_Minh"
operators = ["vanhanh@{DOMAIN}"]

[admin]
listen = "off"

[mail]
from = "Giám sát giải ngân <giamsat@{DOMAIN}>"
{mail}
""", encoding="utf-8")
    return config


CHARTS = True  # `--charts off` writes `charts = false` into the jobs


def job_toml(year_on_year, unit_cols="", domain=DOMAIN):
    plan_cols = 'unit_id = "unit_id", plan_year = "plan_year", amount = "amount"' if year_on_year \
        else 'unit_id = "unit_id", amount = "amount"'
    # Only the columns the peers' query reads are mapped, so every tool reads the same columns.
    return f"""# Written by benches/national/run.py; rewritten on every run.
schedule = "0 8 * * MON"
language = "vi"
plan_year = {PLAN_YEAR}

[sources.units]
location = "../units.csv"
columns = {{ unit_id = "unit_id", unit_name = "unit_name", email = "email"{unit_cols} }}

[sources.plans]
location = "../plans.csv"
columns = {{ {plan_cols} }}
number_format = "plain"

[sources.disbursements]
location = "../payments.csv"
kind = "transactions"
columns = {{ unit_id = "unit_id", date = "date", amount = "amount" }}
date_format = "%Y-%m-%d"
number_format = "plain"

[rule]
{MILESTONES}
tolerance_pct = 5
critical_gap_pct = 20

[alerts]
cc = []
digest_to = ["lanhdao@{domain}"]
{"" if CHARTS else "charts = false"}
"""


# ---------------------------------------------------------------------------------------------
# Facts and checks

def machine_facts(binary):
    facts = {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
             "nproc": len(os.sched_getaffinity(0)), "cpu": "?", "mem": "?", "python": sys.version.split()[0]}
    try:
        info = Path("/proc/cpuinfo").read_text()
        facts["cpu"] = next(l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith("model name"))
        mem = Path("/proc/meminfo").read_text().split()
        facts["mem"] = f"{int(mem[mem.index('MemTotal:') + 1]) / 2**20:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    git = lambda *a: subprocess.run(["git", "-C", str(REPO), *a], capture_output=True, text=True).stdout.strip()
    rev = git("rev-parse", "--short", "HEAD") or "?"
    if git("status", "--porcelain", "--untracked-files=no"):
        rev += "+dirty"
    facts["git"] = rev
    if binary.exists():
        v = subprocess.run([str(binary), "--version"], capture_output=True, text=True)
        facts["disbmon"] = v.stdout.strip() or f"? (--version exited {v.returncode})"
        built = binary.stat().st_mtime
        facts["binary_built"] = dt.datetime.fromtimestamp(built).astimezone().isoformat(timespec="seconds")
        newest = max((p.stat().st_mtime for p in (REPO / "src").rglob("*.rs")), default=0)
        if newest > built:
            facts["warning"] = "the binary is older than src/: it may not include the latest changes"
    return facts


def python_has(python, module):
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0


def compare(reference, name, other):
    """The per-unit figures of `other` against those of `reference`, unit by unit and exactly
    (both are integer đồng). Returns a list of problems."""
    ref = {r[0]: r[1:] for r in reference["rows"]}
    got = {r[0]: r[1:] for r in other["rows"]}
    problems = []
    if ref.keys() != got.keys():
        problems.append(f"{name}: units differ ({len(got)} vs {len(ref)})")
    for u in sorted(ref.keys() & got.keys()):
        if ref[u] != got[u]:
            problems.append(f"{name}: {u}: {got[u]} vs {ref[u]}")
    return problems


def disbmon_rows(report):
    """disbmon's report as the peers' rows, with last year's rate (disbmon reports no last-year
    amounts) for a separate check."""
    return {"rows": [[u["unit_id"], u["plan"], u["disbursed"]] for u in report["units"]],
            "rate_last_year": {u["unit_id"]: u.get("rate_last_year") for u in report["units"]}}


def check_disbmon(report, reference):
    problems = []
    if report.get("outcome") != "ok" or report.get("data_issues"):
        problems.append(f"disbmon: outcome {report.get('outcome')}, {len(report.get('data_issues', []))} data issues")
    mine = disbmon_rows(report)
    this_year = {"rows": [r[:3] for r in reference["rows"]]}
    problems += compare(this_year, "disbmon", mine)
    for u, plan, paid, plan_last, paid_last in reference["rows"]:
        want = 100 * paid_last / plan_last if plan_last else None
        got = mine["rate_last_year"].get(u)
        if (want is None) != (got is None) or (want is not None and abs(got - want) > 1e-9 * max(1.0, want)):
            problems.append(f"disbmon: {u}: rate_last_year {got} vs {want}")
    return problems


# ---------------------------------------------------------------------------------------------
# The parts of the bench

def median(xs):
    return statistics.median(xs) if xs else None


def judged(results, value, ref, bar):
    """`ratio_cell`, its verdict recorded in `results` (None, which fails `--strict`, when there is
    nothing to compare with)."""
    cell, ok = ratio_cell(value, ref, bar)
    results["verdicts"].append(ok)
    return cell


def ratio_cell(value, ref, bar):
    if value is None or not ref:
        return "-", None
    r = value / ref
    if bar is None:
        return f"{r:.2f}", None
    ok = r <= bar
    return f"{r:.2f} {'PASS' if ok else 'FAIL'} (≤{bar})", ok


def query_bench(args, binary, ddir, config, logs, results):
    tools = {}
    if binary:
        tools["disbmon"] = [binary, "--config", config, "once", "national", "--as-of", AS_OF, "--dry-run", "--json"]
    if args.baseline:
        # Another build of disbmon (an older commit), measured in the same run, interleaved.
        tools["baseline"] = [args.baseline, "--config", config, "once", "national", "--as-of", AS_OF, "--dry-run", "--json"]
    if args.floor.exists():
        tools["floor"] = [args.floor, ddir, str(PLAN_YEAR), AS_OF]
    else:
        say(f"floor: {args.floor} not built: skipped (cargo build --release --example polars_floor)")
    for peer in ("polars", "duckdb"):
        if python_has(args.python, peer):
            tools[peer] = [args.python, HERE / f"peer_{peer}.py", ddir, str(PLAN_YEAR), AS_OF]
        else:
            say(f"{peer}: not importable by {args.python}: skipped (pip install polars duckdb, or --python PY)")
    if not tools:
        return
    # Read the data once so that the first run of the first tool does not pay for the disk.
    with open(ddir / "payments.csv", "rb") as f:
        while f.read(64 << 20):
            pass
    state = ddir / "state"
    walls, rss, outputs = {t: [] for t in tools}, {t: [] for t in tools}, {}
    for i in range(args.runs):
        for tool, cmd in tools.items():  # interleaved, so drifts of the machine hit every tool alike
            if tool in ("disbmon", "baseline"):
                shutil.rmtree(state, ignore_errors=True)  # every run of this table is cold
            w, kb, out, _ = measured(cmd, logs, f"{tool}-{i + 1}")
            walls[tool].append(w)
            rss[tool].append(kb)
            note(f"  run {i + 1}/{args.runs} {tool}: {w:.2f} s, {kb / 1024:.0f} MB")
            if i == 0 and tool != "floor":
                try:
                    outputs[tool] = json.loads(out.read_text())
                except ValueError as e:
                    fail(cmd, 0, out, logs / f"{tool}-1.err", f"its output is not JSON ({e})")

    say("\n== The query: per unit, this year's and last year's plan and payments to 31/10 ==")
    ref_tool = "polars" if "polars" in outputs else "duckdb" if "duckdb" in outputs else None
    problems = []
    if ref_tool:
        ref = outputs[ref_tool]
        tot = [sum(r[k] for r in ref["rows"]) for k in (1, 2, 3, 4)]
        say(f"{ref['engine']}: {ref['units']} units; {PLAN_YEAR}: plan {tot[0]:,} đồng, disbursed {tot[1]:,} đồng; "
            f"{PLAN_YEAR - 1}: plan {tot[2]:,}, disbursed {tot[3]:,}")
        if "duckdb" in outputs and ref_tool != "duckdb":
            problems += compare(ref, "duckdb", outputs["duckdb"])
        if "disbmon" in outputs:
            rep = outputs["disbmon"]
            plan, paid = sum(u["plan"] for u in rep["units"]), sum(u["disbursed"] for u in rep["units"])
            say(f"disbmon: {len(rep['units'])} units; {PLAN_YEAR}: plan {plan:,} đồng, disbursed {paid:,} đồng; "
                f"average {rep.get('average_pct') or 0:.2f} %, {len(rep.get('decisions', []))} units behind or recovering")
            for s in rep.get("sources", []):
                say(f"  source {s.get('source')}: {s.get('rows') or 0:,} rows, {s.get('used') or 0:,} used, "
                    f"{s.get('out_of_scope') or 0:,} out of scope, {s.get('rejected') or 0:,} rejected")
            problems += check_disbmon(rep, ref)
        if "baseline" in outputs:
            problems += [f"baseline: {p}" for p in check_disbmon(outputs["baseline"], ref)]
        for p in problems[:10]:
            say(f"  {p}")
        if len(problems) > 10:
            say(f"  ... and {len(problems) - 10} more")
        say(f"totals: {'MISMATCH' if problems else 'OK'} ({', '.join(t for t in outputs if t != ref_tool) or 'nothing'} against {ref_tool})")
    else:
        say("totals: not checked (no peer)")
    results["query"] = {"runs": args.runs, "wall_s": walls, "maxrss_kb": rss, "check": problems}
    results["mismatch"] = bool(problems)

    mw = {t: median(walls[t]) for t in tools}
    mr = {t: median(rss[t]) for t in tools}
    say(f"\n{'tool':<8} {'runs':>4} {'median wall':>12} {'min wall':>9} {'median peak RSS':>16}   "
        f"{'wall / polars':<22} {'RSS / polars':<22} {'wall / floor':<12}")
    verdicts = []
    for t in tools:
        bars = (BARS["wall"], BARS["rss"]) if t == "disbmon" else (None, None)
        wc, wok = ratio_cell(mw[t], mw.get("polars"), bars[0])
        rc, rok = ratio_cell(mr[t], mr.get("polars"), bars[1])
        verdicts += [v for v in (wok, rok) if v is not None]
        floor = f"{mw[t] / mw['floor']:.2f}" if "floor" in mw else "-"
        say(f"{t:<8} {len(walls[t]):>4} {mw[t]:>10.2f} s {min(walls[t]):>7.2f} s {mr[t] / 1024:>13.0f} MB   {wc:<22} {rc:<22} {floor:<12}")
    results["verdicts"] += verdicts


def warm_bench(args, binary, ddir, config, stamp, logs, results):
    """Cold (no state), repeated (same files) and appended (1 % more rows) runs of disbmon."""
    cmd = [binary, "--config", config, "once", "national", "--as-of", AS_OF, "--dry-run", "--json"]
    pay, size = ddir / "payments.csv", stamp["sizes"]["payments.csv"]
    extra = max(1, stamp["params"]["rows"] // 100)
    tables = payment_tables(stamp["params"]["units"], stamp["params"]["projects"], stamp["params"]["seed"])
    times = {"cold": [], "repeated": [], "appended": []}
    try:
        for i in range(args.runs):
            shutil.rmtree(ddir / "state", ignore_errors=True)
            for kind in ("cold", "repeated"):
                w, _, _, _ = measured(cmd, logs, f"warm-{kind}-{i + 1}")
                times[kind].append(w)
            # Appending (not rewriting) is how a growing export changes; truncating afterwards
            # restores the pristine bytes without keeping a 0.5 GB copy.
            write_payments(pay, tables, chunks("appended", stamp["params"]["seed"], extra), mode="ab")
            w, _, _, _ = measured(cmd, logs, f"warm-appended-{i + 1}")
            times["appended"].append(w)
            os.truncate(pay, size)
            note(f"  warm {i + 1}/{args.runs}: cold {times['cold'][-1]:.2f} s, repeated {times['repeated'][-1]:.2f} s, "
                 f"appended {times['appended'][-1]:.2f} s")
    finally:
        if pay.stat().st_size != size:
            os.truncate(pay, size)
    cold = median(times["cold"])
    say(f"\n== disbmon cold, repeated and after appending {extra:,} rows (1 %) ==")
    for kind in ("cold", "repeated", "appended"):
        m = median(times[kind])
        cell, ok = ratio_cell(m, cold, BARS.get(kind)) if kind != "cold" else ("1.00", None)
        if ok is not None:
            results["verdicts"].append(ok)
        say(f"{kind:<9} median {m:>7.2f} s   / cold: {cell}")
    results["warm"] = times


def daily_bench(args, binary, ddir, config, stamp, logs, results):
    """The daemon's life, not one run: a cold run as of 1/10 (no state), then a run each next day
    with 0.1 % rows dated that day appended before it, Python polars re-reading the whole file
    each day beside it; the last day's figures against a fresh-state run's."""
    pay, size = ddir / "payments.csv", stamp["sizes"]["payments.csv"]
    params = stamp["params"]
    extra = max(1, params["rows"] // 1000)
    _, prefixes, notes = payment_tables(params["units"], params["projects"], params["seed"])
    start = dt.date(PLAN_YEAR, 10, 1)
    state = ddir / "state"

    def cmd(day):
        return [binary, "--config", config, "once", "national", "--as-of", str(day), "--dry-run", "--json"]

    has_polars = python_has(args.python, "polars")
    times = {"cold": [], "daily": [], "polars": []}
    problems = []
    try:
        shutil.rmtree(state, ignore_errors=True)
        w, _, _, _ = measured(cmd(start), logs, "daily-cold")
        times["cold"].append(w)
        day, out, peer_out = start, None, None
        for i in range(1, args.days + 1):
            day = start + dt.timedelta(days=i)
            # Appended as a growing export grows: the new day's payments at the end.
            write_payments(pay, ([f"{day},"], prefixes, notes), chunks(f"daily-{day}", params["seed"], extra), mode="ab")
            w, _, out, _ = measured(cmd(day), logs, f"daily-{i}")
            times["daily"].append(w)
            line = f"  day {i}/{args.days} ({day}): disbmon {w:.2f} s"
            if has_polars:
                pw, _, peer_out, _ = measured([args.python, HERE / "peer_polars.py", ddir, str(PLAN_YEAR), str(day)],
                                              logs, f"daily-polars-{i}")
                times["polars"].append(pw)
                line += f", polars {pw:.2f} s"
            note(line)
        # The last day from no state: the same figures, unit by unit.
        last = json.loads(out.read_text())
        shutil.rmtree(state, ignore_errors=True)
        _, _, fresh_out, _ = measured(cmd(day), logs, "daily-fresh")
        fresh = json.loads(fresh_out.read_text())
        if last["units"] != fresh["units"]:
            problems.append(f"the last day's figures differ from a fresh-state run's ({day})")
        if peer_out is not None:
            problems += check_disbmon(last, json.loads(peer_out.read_text()))
        sums = [s.get("sums") for s in last.get("sources", [])]
        say(f"\n== disbmon's daily runs: cold as of {start}, then {args.days} days, {extra:,} rows (0.1 %) appended each ==")
        say(f"  the last day's sources: {', '.join(str(x) for x in sums)}")
    finally:
        if pay.stat().st_size != size:
            os.truncate(pay, size)
        shutil.rmtree(state, ignore_errors=True)
    cold, daily = median(times["cold"]), median(times["daily"])
    cell = judged(results, daily, cold, BARS["daily"])
    say(f"cold          {cold:>7.2f} s")
    say(f"daily median  {daily:>7.2f} s   / cold: {cell}")
    if times["polars"]:
        peer = median(times["polars"])
        cell = judged(results, daily, peer, BARS["daily_polars"])
        say(f"polars daily  {peer:>7.2f} s   disbmon daily / polars daily: {cell}")
    for p in problems[:10]:
        say(f"  {p}")
    say(f"last day: {'MISMATCH' if problems else 'OK'} (against a fresh-state run{' and polars' if peer_out else ''})")
    if problems:
        results["mismatch"] = True
    results["daily"] = {"times": times, "check": problems}


def backtest_bench(args, binary, workdir, logs, results):
    """`disbmon backtest` over three past years beside one cold run, each from no state, on a data
    set of the same size whose payments span those years and this one."""
    years = 4
    ddir = workdir / f"rows{args.rows}-units{args.units}-projects{args.projects}-seed{args.seed}-years{years}"
    generate(ddir, args.rows, args.units, args.projects, args.seed, years)
    config = write_setup(ddir, "national", job_toml(year_on_year=True),
                         'transport = "file"\ndir = "../outbox"   # --dry-run sends nothing anyway')
    state = ddir / "state"
    cold_cmd = [binary, "--config", config, "once", "national", "--as-of", AS_OF, "--dry-run", "--json"]
    back_cmd = [binary, "--config", config, "backtest", "national", "--as-of", AS_OF, "--years", str(years - 1), "--json"]
    times = {"cold": [], "backtest": []}
    try:
        for i in range(args.runs):
            for kind, cmd in (("cold", cold_cmd), ("backtest", back_cmd)):
                shutil.rmtree(state, ignore_errors=True)
                w, _, out, _ = measured(cmd, logs, f"backtest-{kind}-{i + 1}")
                times[kind].append(w)
            note(f"  backtest {i + 1}/{args.runs}: cold {times['cold'][-1]:.2f} s, backtest {times['backtest'][-1]:.2f} s")
        replayed = json.loads(out.read_text())
    finally:
        shutil.rmtree(state, ignore_errors=True)
    cold, back = median(times["cold"]), median(times["backtest"])
    cell = judged(results, back, cold, BARS["backtest"])
    say(f"\n== disbmon backtest over {years - 1} past years, {args.rows:,} rows over {years} years ==")
    say(f"  years replayed: {replayed.get('years')}")
    say(f"cold          {cold:>7.2f} s")
    say(f"backtest      {back:>7.2f} s   / cold: {cell}")
    results["backtest"] = times


def python_with_aiosmtpd(args, workdir, logs):
    candidates = [args.python, sys.executable, "/usr/bin/python3", shutil.which("python3"), workdir / "venv/bin/python"]
    for py in candidates:
        if py and Path(py).exists() and python_has(str(py), "aiosmtpd"):
            return str(py)
    note(f"no Python with aiosmtpd: installing it into {workdir / 'venv'}")
    run_checked([sys.executable, "-m", "venv", workdir / "venv"], logs, "venv")
    run_checked([workdir / "venv/bin/python", "-m", "pip", "install", "--quiet", "aiosmtpd"], logs, "pip-aiosmtpd")
    return str(workdir / "venv/bin/python")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_stats(path):
    """(messages, recipients, bytes, connections) the server has received since it started."""
    try:
        return tuple(map(int, path.read_text().split()))
    except (OSError, ValueError):
        return 0, 0, 0, 0


def wait_for_messages(path, target, timeout=10.0):
    """The server's totals once it has `target` messages (its stats file lags by up to 20 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        stats = server_stats(path)
        if stats[0] >= target or time.monotonic() > deadline:
            return stats
        time.sleep(0.02)


def mail_bench(args, binary, workdir, logs, results):
    units = args.mail_units
    base = workdir / f"mail-units{units}"
    base.mkdir(parents=True, exist_ok=True)
    unit_ids, _ = ids(units, 1)
    # Every unit far behind (1 million of a 100-billion plan): each gets a first alert.
    with open(base / "units.csv", "w", encoding="utf-8") as f:
        f.write("unit_id,unit_name,email\n")
        f.writelines(f"{u},Đơn vị {i + 1},{u.lower()}@{DOMAIN}\n" for i, u in enumerate(unit_ids))
    with open(base / "plans.csv", "w") as f:
        f.write("unit_id,amount\n")
        f.writelines(f"{u},100000000000\n" for u in unit_ids)
    with open(base / "payments.csv", "w") as f:
        f.write("date,unit_id,amount\n")
        f.writelines(f"{PLAN_YEAR}-03-02,{u},1000000\n" for u in unit_ids)

    py = python_with_aiosmtpd(args, workdir, logs)
    port, stats = free_port(), base / "smtpd.stats"
    stats.unlink(missing_ok=True)
    server_log = open(logs / "smtpd.log", "wb")
    server = subprocess.Popen([py, str(HERE / "count_smtpd.py"), str(port), str(stats)], stdout=server_log, stderr=server_log)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    fail([py, "count_smtpd.py", port, stats], server.poll(), logs / "smtpd.log", logs / "smtpd.log",
                         "the SMTP server did not listen")
                time.sleep(0.05)
        smtp = f'[mail.smtp]\nhost = "127.0.0.1"\nport = {port}\ntls = "none"\n'
        if args.connections is not None:
            smtp += f"connections = {args.connections}\n"
        config = write_setup(base, "mail", job_toml(year_on_year=False), f"""transport = "smtp"
allowed_domains = ["{DOMAIN}"]
max_messages_per_run = {units + 100}

{smtp}""")
        run_checked([binary, "--config", config, "check"], logs, "mail-check")
        cmd = [binary, "--config", config, "once", "mail", "--as-of", AS_OF, "--json"]
        expected = units + 1  # the alerts and the digest
        walls, conns, sizes, py = [], [], [], {"wall": [], "build_s": [], "send_s": []}
        for i in range(args.runs):  # interleaved, like the query
            shutil.rmtree(base / "state", ignore_errors=True)  # fresh memory: every unit is told
            before = server_stats(stats)
            w, _, out, err = measured(cmd, logs, f"mail-disbmon-{i + 1}")
            after = wait_for_messages(stats, before[0] + expected)
            got = after[0] - before[0]
            try:
                alerts = json.loads(out.read_text()).get("alerts", [])
            except ValueError as e:
                fail(cmd, 0, out, err, f"its output is not JSON ({e})")
            if got != expected or len(alerts) != units or not all(a.get("delivered") for a in alerts):
                fail(cmd, 0, out, err, f"the server received {got} messages, {expected} expected "
                     f"({len(alerts)} alerts in the report)")
            walls.append(w)
            sizes.append((after[2] - before[2]) // got)
            conns.append(after[3] - before[3])
            note(f"  mail run {i + 1}/{args.runs} disbmon: {w:.2f} s, {got} messages of {sizes[-1]:,} bytes "
                 f"on average over {conns[-1]} connection(s)")

            peer = [args.python, HERE / "smtplib_send.py", port, units, sizes[0]]
            before = server_stats(stats)
            w, _, out, err = measured(peer, logs, f"mail-smtplib-{i + 1}")
            after = wait_for_messages(stats, before[0] + units)
            if after[0] - before[0] != units:
                fail(peer, 0, out, err, f"the server received {after[0] - before[0]} of {units} messages")
            own = json.loads(out.read_text())
            py["wall"].append(w)
            py["build_s"].append(own["build_s"])
            py["send_s"].append(own["send_s"])
            note(f"  mail run {i + 1}/{args.runs} smtplib: {w:.2f} s (building {own['build_s']:.2f} s, "
                 f"sending {own['send_s']:.2f} s), {own['bytes']:,} bytes on average")
    finally:
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server_log.close()

    d, p, send = median(walls), median(py["wall"]), median(py["send_s"])
    ok = d <= BARS["mail_secs"]
    results["verdicts"].append(ok)
    say(f"\n== Mail: {units:,} alerts (one address each) + the digest, ~{sizes[0]:,} bytes each, to a local aiosmtpd ==")
    conn = f"mail.smtp.connections = {args.connections}; " if args.connections is not None else ""
    say(f"disbmon once, whole run ({conn}{median(conns):.0f} connection(s) used): median {d:.2f} s, "
        f"{expected / d:,.0f} messages/s   {'PASS' if ok else 'FAIL'} (≤{BARS['mail_secs']:.0f} s)")
    say(f"Python smtplib, one connection, whole process: median {p:.2f} s, {units / p:,.0f} messages/s; "
        f"sending alone {send:.2f} s, {units / send:,.0f} messages/s")
    say(f"disbmon / smtplib: {d / p:.2f} (whole), {d / send:.2f} (against smtplib's sending alone)")
    results["mail"] = {"units": units, "disbmon_s": walls, "disbmon_connections": conns, "message_bytes": sizes,
                       "smtplib": py, "connections_option": args.connections}


# ---------------------------------------------------------------------------------------------
# Scale: the same job at N and 10 N units

# Bump when the generated scale files change for the same parameters, so stale sets are remade.
SCALE_GENERATOR_VERSION = 1
SCALE_DOMAIN = "scale.example.gov.vn"
# Ten times the units may cost at most 15 times as much: room for n log n and for fixed costs
# (start-up, the SQLite schema) weighing less at 10 N, none for a quadratic step (~100 times).
SCALE_BAR = 15.0
SCALE_GROUPS = 20
SCALE_BLOCK = 1000  # one top unit per 1,000 units ...
SCALE_MIDDLE = 40   # ... up to 40 units under it, and the rest of its block under those
SCALE_BEHIND = 0.9  # the share of units behind their plan: each is sent a first alert
SCALE_PAYMENTS = 5  # payment rows per unit
# How long after deleting many files creating files is still slowed down (see set_aside).
SCALE_SETTLE_S = 65


def set_aside(path, trash):
    """Moves a run's mail folder into `trash`, emptied once the scale runs are over.

    Why not delete it: on ext4 without a journal (as on the bench machine), allocating an inode
    skips, one by one, every free inode of its group deleted in the last minute or so (longer
    while the inode table is not written back), so writing N .eml files just after deleting N
    costs N² in the kernel — at 20,000 units, +1.2–1.7 s of system time, and 16 % of a run's
    profile in find_inode_bit / recently_deleted: the bench's doing, not disbmon's."""
    if path.exists():
        trash.mkdir(parents=True, exist_ok=True)
        os.rename(path, trash / f"{path.parent.name}-{time.time_ns()}")


def empty_trash(trash, emptied):
    """Deletes what set_aside kept; `emptied` records when, so that the next bench waits."""
    if trash.exists():
        shutil.rmtree(trash)
        emptied.touch()


def settle(emptied):
    """Waits until SCALE_SETTLE_S after the trash was last emptied (see set_aside)."""
    try:
        wait = SCALE_SETTLE_S - (time.time() - emptied.stat().st_mtime)
    except OSError:
        return
    if wait > 0:
        note(f"waiting {wait:.0f} s: many files were deleted {SCALE_SETTLE_S - wait:.0f} s ago, "
             f"which slows down creating files for a while (see set_aside in run.py)")
        time.sleep(wait)


def scale_sizes(quick):
    return (2_000, 20_000) if quick else (10_000, 100_000)


def scale_hierarchy(n, rng):
    """Each unit's parent (an index, None for a top unit) and the length of the chain.

    Units 0..chain-1 are one chain, each under the one before, chain = n / 100 long: anything that
    walks from each unit up to its top (or down to every descendant) costs n² / 100 there and so
    shows as quadratic, where a flat or shallow tree would hide it. The other units come in blocks
    of SCALE_BLOCK: a top unit, up to SCALE_MIDDLE units under it, the rest of the block under
    those — three levels, as province / district / commune."""
    chain = max(2, n // 100)
    parent = [None] + list(range(chain - 1)) + [None] * (n - chain)
    for top in range(chain, n, SCALE_BLOCK):
        size = min(SCALE_BLOCK, n - top)
        middle = max(1, min(SCALE_MIDDLE, size // 25))
        for j in range(1, size):
            parent[top + j] = top if j <= middle else top + 1 + rng.randrange(middle)
    return parent, chain


def generate_scale(ddir, n, seed):
    """units.csv, plans.csv and payments.csv for `n` units in `ddir`, and stamp.json, which also
    holds what a run must find in them (units behind, units with units under them, the chain).
    Reused when the stamp matches; 100,000 units take ~2 s to write."""
    params = {"generator": SCALE_GENERATOR_VERSION, "units": n, "seed": seed}
    stamp_path = ddir / "stamp.json"
    files = ("units.csv", "plans.csv", "payments.csv")
    try:
        stamp = json.loads(stamp_path.read_text())
        if stamp["params"] == params and all((ddir / f).stat().st_size == stamp["sizes"][f] for f in files):
            return stamp
    except (OSError, ValueError, KeyError):
        pass
    started = time.perf_counter()
    ddir.mkdir(parents=True, exist_ok=True)
    stamp_path.unlink(missing_ok=True)
    rng = random.Random(f"{seed}:scale:{n}")
    uid = [f"U{i + 1:0{max(6, len(str(n)))}d}" for i in range(n)]
    parent, chain = scale_hierarchy(n, rng)
    units = []
    for i, u in enumerate(uid):
        # A quarter have no group: they are ranked among their siblings, the other kind of peer group.
        group = f"Nhóm {rng.randrange(SCALE_GROUPS) + 1:02d}" if rng.random() < 0.75 else ""
        up = uid[parent[i]] if parent[i] is not None else ""
        units.append(f"{u},Đơn vị {i + 1},{u.lower()}@{SCALE_DOMAIN},{up},{group}\n")
    # Children before their parents too, as an export sorted by name would have them.
    rng.shuffle(units)
    days = (dt.date.fromisoformat(AS_OF) - dt.date(PLAN_YEAR, 1, 1)).days + 1
    dates = [str(dt.date(PLAN_YEAR, 1, 1) + dt.timedelta(days=d)) for d in range(days)]
    plans, payments, behind = [], [], 0
    for u in uid:
        plan = rng.randrange(1_000, 100_000) * 1_000_000  # 1..100 billion đồng
        # 5..60 % paid is behind the 71.79 % expected at 31/10 (tolerance 5), 72..100 % on track:
        # no unit near a boundary, so the alerts are known exactly.
        late = rng.random() < SCALE_BEHIND
        behind += late
        paid = int(plan * (rng.uniform(0.05, 0.60) if late else rng.uniform(0.72, 1.0)))
        share = paid // SCALE_PAYMENTS
        for k in range(SCALE_PAYMENTS):
            amount = share if k else paid - share * (SCALE_PAYMENTS - 1)
            payments.append(f"{dates[rng.randrange(days)]},{u},{amount}\n")
        plans.append(f"{u},{plan}\n")
    payments.sort()  # in date order, as a payments log grows
    for name, header, rows in (("units.csv", "unit_id,unit_name,email,parent_id,group\n", units),
                               ("plans.csv", "unit_id,amount\n", plans),
                               ("payments.csv", "date,unit_id,amount\n", payments)):
        with open(ddir / name, "w", encoding="utf-8", newline="") as f:
            f.write(header)
            f.writelines(rows)
    stamp = {"params": params, "sizes": {f: (ddir / f).stat().st_size for f in files}, "behind": behind,
             "parents": len({p for p in parent if p is not None}), "chain": chain, "chain_top": uid[0]}
    stamp_path.write_text(json.dumps(stamp, indent=1) + "\n")
    note(f"generated the scale set of {n:,} units in {time.perf_counter() - started:.1f} s: {ddir}")
    return stamp


def scale_job_toml():
    return job_toml(False, unit_cols=', parent_id = "parent_id", group = "group"', domain=SCALE_DOMAIN)


def check_scale_report(report, stamp, n, dry_run):
    """What a run over a scale set must report, so that the timing is of the whole work: every
    unit, every roll-up (the chain's top over the whole chain), the peer groups, an alert to each
    unit behind. A list of problems."""
    problems = []
    if report.get("outcome") != "ok" or report.get("data_issues"):
        problems.append(f"outcome {report.get('outcome')}, {len(report.get('data_issues') or [])} data issues")
    if len(report.get("units") or []) != n:
        problems.append(f"{len(report.get('units') or [])} units reported, {n} in units.csv")
    rollups = {r["unit_id"]: r["units"] for r in report.get("rollups") or []}
    if len(rollups) != stamp["parents"]:
        problems.append(f"{len(rollups)} roll-ups, {stamp['parents']} units have units under them")
    if rollups.get(stamp["chain_top"]) != stamp["chain"]:
        problems.append(f"the chain's top {stamp['chain_top']} rolls up {rollups.get(stamp['chain_top'])} units, not {stamp['chain']}")
    if not report.get("groups"):
        problems.append("no peer groups")
    alerts = report.get("alerts") or []
    if len(alerts) != stamp["behind"]:
        problems.append(f"{len(alerts)} alerts, {stamp['behind']} units are behind")
    if not dry_run:
        undelivered = sum(1 for a in alerts if not a.get("delivered"))
        if undelivered or not (report.get("digest") or {}).get("delivered"):
            problems.append(f"{undelivered} alerts not delivered, digest {report.get('digest')}")
    return problems


# A full run's writes besides its .eml files (the outbox, the run's record), per message.
OUTBOX_PAGES_BAR = 5


def scale_bench(args, binary, workdir, logs, results):
    """disbmon over N and 10 N units, each size dry (reading, joining by unit, ranks, peer groups,
    roll-ups, rendering) and for real (also storing every decision and message in SQLite and
    draining the outbox through the file transport), from a fresh state folder each time:
    10 N must cost ≤ SCALE_BAR × N."""
    sizes = scale_sizes(args.quick)
    sets = {}
    for n in sizes:
        base = workdir / f"scale-units{n}-seed{args.seed}"
        stamp = generate_scale(base, n, args.seed)
        # The guard's limit well above the run's messages (the alerts and the digest): it must not hold it.
        config = write_setup(base, "scale", scale_job_toml(),
                             f'transport = "file"\ndir = "../mail"\nmax_messages_per_run = {3 * n}')
        sets[n] = (base, stamp, config)
        say(f"{'scale data':>12}: {base}: {n:,} units ({stamp['behind']:,} behind), "
            f"payments.csv {stamp['sizes']['payments.csv'] / 1e6:.1f} MB ({n * SCALE_PAYMENTS:,} rows)")
    if args.generate_only or binary is None:
        return
    # The mail folders of an earlier bench too: deleted at the end, never just before a run.
    trash, emptied = workdir / "scale-trash", workdir / "scale-trash.emptied"
    for base, _, _ in sets.values():
        set_aside(base / "mail", trash)
    settle(emptied)
    try:
        scale_runs(args, binary, sets, logs, results, trash)
    finally:
        empty_trash(trash, emptied)


def scale_runs(args, binary, sets, logs, results, trash):
    """The measured runs of scale_bench over `sets` {units: (folder, stamp, config)}, the table and
    the verdicts. Every report is checked, and every full run's .eml files counted."""
    sizes = tuple(sets)
    for n, (base, _, config) in sets.items():
        # Also pages in the binary and the files: the first measured run must not pay for the disk,
        # or the N run would look slower and the ratio better than they are.
        run_checked([binary, "--config", config, "check"], logs, f"scale-check-{n}")
        for f in ("units.csv", "plans.csv", "payments.csv"):
            (base / f).read_bytes()
    kinds = {"dry": ["--dry-run", "--json"], "full": ["--json"]}
    hints = {5: "some messages were not delivered (see the alerts in the report)",
             7: "held by the mass-mailing guard: raise max_messages_per_run in scale_bench"}
    walls = {n: {k: [] for k in kinds} for n in sizes}
    rss = {n: {k: [] for k in kinds} for n in sizes}
    emls, found = {n: [] for n in sizes}, {}
    pages = {n: [] for n in sizes}  # the state store's 4 KiB pages written per message
    for i in range(args.runs):
        for n in sizes:  # interleaved, so drifts of the machine hit both sizes alike
            base, stamp, config = sets[n]
            for kind, flags in kinds.items():
                shutil.rmtree(base / "state", ignore_errors=True)  # a few files: no need to set it aside
                set_aside(base / "mail", trash)
                cmd = [binary, "--config", config, "once", "scale", "--as-of", AS_OF, *flags]
                w, kb, out, err = measured(cmd, logs, f"scale-{n}-{kind}-{i + 1}", hints=hints)
                walls[n][kind].append(w)
                rss[n][kind].append(kb)
                try:
                    report = json.loads(out.read_text())
                except ValueError as e:
                    fail(cmd, 0, out, err, f"its output is not JSON ({e})")
                problems = check_scale_report(report, stamp, n, dry_run=kind == "dry")
                if kind == "full":
                    # One .eml per message and recipient: the alerts' and the digest's.
                    want = sum(len(a.get("to") or []) + len(a.get("cc") or []) for a in report["alerts"]) \
                        + len((report.get("digest") or {}).get("to") or [])
                    with os.scandir(base / "mail") as it:
                        files = [e.stat().st_size for e in it if e.name.endswith(".eml")]
                    got = len(files)
                    emls[n].append(got)
                    # The run's writes less the .eml files' pages: the state store's (and the
                    # cache's and the logs', a few MB).
                    eml_bytes = sum(-(-size // 4096) * 4096 for size in files)
                    pages[n].append(max(0, LAST["oublock"] * 512 - eml_bytes) / 4096 / max(1, got))
                    if got != want:
                        problems.append(f"{got} .eml files written, {want} messages in the report")
                if problems:
                    fail(cmd, 0, out, err, "; ".join(problems))
                found.setdefault(n, {"alerts": len(report["alerts"]), "groups": len(report["groups"]),
                                     "rollups": len(report["rollups"])})
                note(f"  scale run {i + 1}/{args.runs} {n:,} units {kind}: {w:.2f} s, {kb / 1024:.0f} MB"
                     + (f", {emls[n][-1]:,} .eml files, {pages[n][-1]:.1f} pages written a message" if kind == "full" else ""))

    small, large = sizes
    med = {n: {k: median(walls[n][k]) for k in kinds} for n in sizes}
    mrss = {n: {k: median(rss[n][k]) for k in kinds} for n in sizes}
    say(f"\n== Scale: {small:,} and {large:,} units, {args.runs} run(s) each, a fresh state folder every run ==")
    say(f"(a top unit per {SCALE_BLOCK:,} over 3 levels, one chain {large // 100:,} deep at {large:,}; "
        f"{SCALE_GROUPS} peer groups and sibling groups; {SCALE_PAYMENTS} payments a unit; "
        f"'full' stores and writes every message as .eml; 'full − dry' is that part alone)")
    say(f"{'units':>9} {'alerts':>8} {'groups':>7} {'roll-ups':>8}   {'dry run':>17}   {'full run':>17}   "
        f"{'full − dry':>10} {'.eml files':>10}")
    for n in sizes:
        f = found[n]
        say(f"{n:>9,} {f['alerts']:>8,} {f['groups']:>7,} {f['rollups']:>8,}   "
            f"{med[n]['dry']:>6.2f} s ({mrss[n]['dry'] / 1024:>4.0f} MB)   "
            f"{med[n]['full']:>6.2f} s ({mrss[n]['full'] / 1024:>4.0f} MB)   "
            f"{med[n]['full'] - med[n]['dry']:>8.2f} s {median(emls[n]):>10,.0f}")
    dry_cell, dry_ok = ratio_cell(med[large]["dry"], med[small]["dry"], SCALE_BAR)
    full_cell, full_ok = ratio_cell(med[large]["full"], med[small]["full"], SCALE_BAR)
    extra_cell, _ = ratio_cell(med[large]["full"] - med[large]["dry"], med[small]["full"] - med[small]["dry"], None)
    say(f"{large:,} / {small:,}: dry run {dry_cell}, full run {full_cell}, full − dry {extra_cell}; "
        f"peak RSS {mrss[large]['dry'] / mrss[small]['dry']:.2f} (dry), {mrss[large]['full'] / mrss[small]['full']:.2f} (full)")
    results["verdicts"] += [dry_ok, full_ok]
    for n in sizes:
        per = median(pages[n])
        ok = per <= OUTBOX_PAGES_BAR
        results["verdicts"].append(ok)
        say(f"{n:,} units, full run: {per:.1f} pages of 4 KiB written a message besides the .eml files "
            f"(bar ≤ {OUTBOX_PAGES_BAR}: {'met' if ok else 'NOT met'})")
    results["scale"] = {"sizes": list(sizes), "runs": args.runs, "wall_s": walls, "maxrss_kb": rss,
                        "eml_files": emls, "pages_per_message": pages, "found": found, "bar": SCALE_BAR,
                        "ratio": {k: med[large][k] / med[small][k] for k in kinds}}


# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, help="payment rows (default 10,000,000; 1,000,000 with --quick)")
    ap.add_argument("--units", type=int, default=2000)
    ap.add_argument("--projects", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, help="runs per tool (default 5; 1 with --quick)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 1 M rows, 1 run, scale at 2,000 and 20,000 units")
    ap.add_argument("--workdir", type=Path, default=REPO / "target" / "national-bench")
    ap.add_argument("--bin", type=Path, default=REPO / "target" / "release" / "disbmon")
    ap.add_argument("--floor", type=Path, default=REPO / "target" / "release" / "examples" / "polars_floor",
                    help="the minimal Rust program on the same polars crate (cargo build --release --example polars_floor)")
    ap.add_argument("--baseline", type=Path, help="another disbmon binary (e.g. an older commit's) for the query table, side by side")
    ap.add_argument("--python", default=sys.executable, help="the Python that runs the peers (polars, duckdb, smtplib)")
    ap.add_argument("--generate-only", action="store_true", help="write the data sets and stop")
    ap.add_argument("--no-warm", action="store_true", help="skip the cold / repeated / appended runs")
    ap.add_argument("--days", type=int, default=5, help="days of the daily scenario (0 skips it)")
    ap.add_argument("--no-backtest", action="store_true", help="skip the backtest scenario (its own data set: the same rows over four years)")
    mail = ap.add_mutually_exclusive_group()
    mail.add_argument("--mail", action="store_true", help="only the mail benchmark")
    mail.add_argument("--no-mail", action="store_true", help="skip the mail benchmark")
    ap.add_argument("--mail-units", type=int, default=2000)
    ap.add_argument("--connections", type=int, help="write mail.smtp.connections = K into the mail config")
    scale = ap.add_mutually_exclusive_group()
    scale.add_argument("--scale-only", action="store_true", help="only the scale benchmark (N and 10 N units)")
    scale.add_argument("--no-scale", action="store_true", help="skip the scale benchmark")
    ap.add_argument("--strict", action="store_true", help="exit 4 when a bar is not met")
    ap.add_argument("--charts", choices=["on", "off"], default="on",
                    help="charts in the mail (the default) or not: `charts = false` in the jobs")
    args = ap.parse_args()
    global CHARTS
    CHARTS = args.charts == "on"
    if args.mail and args.scale_only:
        ap.error("--mail and --scale-only each run one part only: pick one")
    args.rows = args.rows or (1_000_000 if args.quick else 10_000_000)
    args.runs = args.runs or (1 if args.quick else 5)
    workdir = args.workdir.resolve()
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    binary = args.bin.resolve()
    has_bin = binary.is_file() and os.access(binary, os.X_OK)
    results = {"verdicts": [], "args": {k: str(v) for k, v in vars(args).items()}}

    facts = machine_facts(binary)
    results["machine"] = facts
    say("== Machine ==")
    for k, v in facts.items():
        say(f"{k:>12}: {v}")
    if not has_bin:
        say(f"{'disbmon':>12}: {binary} not found: only the generator and the peers run")

    ddir = workdir / f"rows{args.rows}-units{args.units}-projects{args.projects}-seed{args.seed}"
    if not (args.mail or args.scale_only):
        stamp = generate(ddir, args.rows, args.units, args.projects, args.seed)
        sizes = stamp["sizes"]
        say(f"{'data':>12}: {ddir}: payments.csv {sizes['payments.csv'] / 1e6:.0f} MB ({args.rows:,} rows), "
            f"plans.csv {sizes['plans.csv'] / 1e6:.1f} MB, units.csv {sizes['units.csv'] / 1e3:.0f} kB")
        config = write_setup(ddir, "national", job_toml(year_on_year=True),
                             'transport = "file"\ndir = "../outbox"   # --dry-run sends nothing anyway')
        if not args.generate_only:
            if has_bin:
                run_checked([binary, "--config", config, "check"], logs, "check")
            query_bench(args, binary if has_bin else None, ddir, config, logs, results)
            if has_bin and not args.no_warm:
                warm_bench(args, binary, ddir, config, stamp, logs, results)
            if has_bin and args.days > 0:
                daily_bench(args, binary, ddir, config, stamp, logs, results)
            if has_bin and not args.no_backtest:
                backtest_bench(args, binary, workdir, logs, results)
    if has_bin and not (args.no_mail or args.scale_only or args.generate_only):
        mail_bench(args, binary, workdir, logs, results)
    if not (args.no_scale or args.mail):
        scale_bench(args, binary if has_bin else None, workdir, logs, results)
    if args.generate_only:
        return 0

    out = workdir / "results" / f"{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=str) + "\n")
    say(f"\nresults: {out}   logs: {logs}")
    if results.get("mismatch"):
        return 3
    if args.strict and not all(results["verdicts"]):
        return 4
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CommandFailed as e:
        print(f"\n{e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
