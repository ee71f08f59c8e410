//! Benchmark: one job over a large payments file (Vietnamese number and date formats), through the
//! real pipeline stages (pull → validate → compute). Prints the time per stage run and the peak
//! memory of the process, and fails if memory shows the file was held whole.
//!
//! `cargo bench` (rows: `BENCH_ROWS`, default 2 000 000; units: 40).
// A benchmark measures wall time; the clock rule is for src/.
#![allow(clippy::disallowed_methods)]

use chrono::NaiveDate;
use std::io::Write;
use std::time::Instant;

/// A field of /proc/self/status, in MB.
fn status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .map(|l| l.to_string())
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Peak resident memory, including pages of the memory-mapped input file (which the kernel can
/// drop at will).
fn peak_rss_mb() -> f64 {
    status_mb("VmHWM:")
}

/// Samples the anonymous (heap) memory every 5 ms and keeps the highest value: what the process
/// really holds, without the page cache of the memory-mapped input.
struct AnonPeak {
    peak_kb: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl AnonPeak {
    fn start() -> AnonPeak {
        use std::sync::atomic::Ordering;
        let peak_kb = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (p, s) = (peak_kb.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let now = (status_mb("RssAnon:") * 1024.0) as u64;
                p.fetch_max(now, Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        });
        AnonPeak { peak_kb, stop }
    }

    fn peak_mb(&self) -> f64 {
        self.peak_kb.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1024.0
    }
}

impl Drop for AnonPeak {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn main() {
    let rows: usize = std::env::var("BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let units = 40;
    let mut u = String::from("Mã ĐV,Tên đơn vị,Email\n");
    let mut plans = String::from("Mã ĐV,Năm,Kế hoạch vốn (triệu đồng)\n");
    for i in 0..units {
        u.push_str(&format!("U{i:02},Đơn vị số {i},u{i}@x.gov.vn\n"));
        plans.push_str(&format!("U{i:02},2026,\"{}.000,5\"\n", 100 + i * 7));
    }
    std::fs::write(p.join("don_vi.csv"), u).unwrap();
    std::fs::write(p.join("ke_hoach.csv"), plans).unwrap();
    let started = Instant::now();
    let mut f = std::io::BufWriter::new(std::fs::File::create(p.join("giai_ngan.csv")).unwrap());
    writeln!(f, "Ngày,Mã ĐV,Mã dự án,Số tiền (đồng),Ghi chú").unwrap();
    let mut x: u64 = 0x2545F4914F6CDD1D;
    for _ in 0..rows {
        // xorshift: reproducible pseudo-random rows without a dependency.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let day = 1 + (x % 28);
        let month = 1 + (x >> 8) % 12;
        let unit = (x >> 16) % units;
        let amount = 1_000_000 + (x >> 24) % 900_000_000;
        let grouped = {
            let s = amount.to_string();
            let mut out = String::new();
            for (i, c) in s.chars().enumerate() {
                if i > 0 && (s.len() - i).is_multiple_of(3) {
                    out.push('.');
                }
                out.push(c);
            }
            out
        };
        writeln!(f, "{day:02}/{month:02}/2026,U{unit:02},DA-{},\"{grouped}\",thanh toán khối lượng hoàn thành", x % 997).unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let size_mb = std::fs::metadata(p.join("giai_ngan.csv")).unwrap().len() as f64 / 1e6;
    eprintln!(
        "generated {rows} payment rows ({size_mb:.0} MB) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let before = peak_rss_mb();
    let anon = AnonPeak::start();

    std::fs::write(
        p.join("bench.toml"),
        r#"schedule = "0 8 * * MON"
plan_year = 2026
[sources.units]
location = "don_vi.csv"
columns = { unit_id = "Mã ĐV", unit_name = "Tên đơn vị", email = "Email" }
[sources.plans]
location = "ke_hoach.csv"
columns = { unit_id = "Mã ĐV", plan_year = "Năm", amount = "Kế hoạch vốn (triệu đồng)" }
number_format = "vi"
amount_unit = "million"
[sources.disbursements]
location = "giai_ngan.csv"
columns = { unit_id = "Mã ĐV", date = "Ngày", amount = "Số tiền (đồng)" }
date_format = "%d/%m/%Y"
number_format = "vi"
[rule]
milestones = [{ date = "06-30", pct = 50 }, { date = "12-31", pct = 95 }]
"#,
    )
    .unwrap();
    let job = disbmon::config::job_load::load(&p.join("bench.toml"), chrono_tz::Asia::Ho_Chi_Minh)
        .expect("bench job loads");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mail = disbmon::config::daemon::MailConfig::default();
    for round in 1..=3 {
        let t = Instant::now();
        let as_of = NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
        let now = disbmon::base::clock::FixedClock(as_of.and_hms_opt(12, 0, 0).unwrap().and_utc());
        let a = runtime
            .block_on(disbmon::app::assessment::assess_with(
                &job, &mail, as_of, None, &now,
            ))
            .expect("the run does not fail");
        let secs = t.elapsed().as_secs_f64();
        assert!(a.issues.is_empty(), "{:?}", a.issues.first());
        let used = a.sources[2].used;
        eprintln!(
            "round {round}: {secs:.2} s for {rows} rows ({:.1} M rows/s), {used} rows in the window; peak heap {:.0} MB, peak RSS with the mapped file {:.0} MB",
            rows as f64 / secs / 1e6,
            anon.peak_mb(),
            peak_rss_mb()
        );
    }
    let peak = anon.peak_mb();
    eprintln!(
        "peak heap {peak:.0} MB, peak RSS {:.0} MB (before the runs: {before:.0} MB) for a {size_mb:.0} MB file",
        peak_rss_mb()
    );
    // The transactions file is aggregated in batches: the heap must stay well below the file's
    // size (holding its rows as strings would take several times that).
    assert!(
        peak < 0.5 * size_mb.max(200.0),
        "peak heap {peak:.0} MB suggests the file was held whole ({size_mb:.0} MB)"
    );
}
