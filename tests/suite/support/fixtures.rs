//! The issue's example config and job, and a small hand-worked data set for them.

/// The config from the issue, as written; only the SMTP port is the test server's.
pub const CONFIG: &str = r#"jobs_dir = "../jobs"
state_dir = "../var"
timezone = "Asia/Ho_Chi_Minh"

[mail]
from = "Giám sát giải ngân <giamsat@stc.example.gov.vn>"
transport = "smtp"          # "file" writes one .eml per message into `dir` (the embedded default); "smtp" delivers via [mail.smtp]
dir = "../var/outbox"

[mail.smtp]
host = "127.0.0.1"
port = 2525
tls = "none"                # none | starttls | tls ; "none" is refused for a host that is not loopback
username_env = "DISBMON_SMTP_USERNAME"   # credentials are read from these environment variables, never from the file
password_env = "DISBMON_SMTP_PASSWORD"
"#;

/// The job from the issue, as written.
pub const JOB: &str = r#"schedule = "0 8 * * MON"    # crontab, in the job's time zone
# timezone = "Asia/Ho_Chi_Minh"   # optional, default from config
language = "vi"             # vi | en
plan_year = 2026            # optional; default: the plan year whose window (1 Jan .. 31 Jan of the next year) holds as-of, the older year when two do

[sources.units]
location = "http://127.0.0.1:8000/don_vi.csv"   # http(s) URL, or a path relative to this file
columns = { unit_id = "Mã ĐV", unit_name = "Tên đơn vị", email = "Email" }   # canonical name = header in the source

[sources.plans]
location = "ke_hoach.csv"
columns = { unit_id = "Mã ĐV", plan_year = "Năm", amount = "Kế hoạch vốn (triệu đồng)" }
number_format = "vi"        # vi: 1.234.567,89   en: 1,234,567.89   plain: 1234567.89 (default)
amount_unit = "million"     # dong (default) | thousand | million | billion

[sources.disbursements]
location = "http://127.0.0.1:8000/giai_ngan.csv"
kind = "transactions"       # transactions: payments, summed up to as-of | cumulative: running total per unit (and project, when given) per date; the latest value on or before as-of counts
columns = { unit_id = "Mã ĐV", date = "Ngày", amount = "Số tiền (đồng)" }
date_format = "%d/%m/%Y"    # default ISO 8601
number_format = "vi"

[rule]
milestones = [              # cumulative % of plan expected by each date; a date earlier than the one before it falls in the next year
  { date = "03-31", pct = 11.05 },
  { date = "06-30", pct = 50 },
  { date = "09-30", pct = 60 },
  { date = "12-31", pct = 95 },
  { date = "01-31", pct = 100 },
]
tolerance_pct = 5
critical_gap_pct = 20

[alerts]
cc = ["phongdautu@stc.example.gov.vn"]
digest_to = ["lanhdao@stc.example.gov.vn"]
"#;

/// Four owners with a plan and one without. On 31/10/2026 (expected 71.79 %):
/// BQLGT 438 of 1 200 tỷ = 36.5 % → critical; SYT 60 of 80.0005 tỷ = 75.0 % → on track;
/// XMT 16 of 25 tỷ = 64 % → behind; SNN 100 of 300 tỷ = 33.3 % → critical but no email;
/// STC has only a 2025 plan → no plan. A payment dated after the as-of date does not count.
pub const UNITS: &str = "Mã ĐV,Tên đơn vị,Email\n\
BQLGT,Ban QLDA Giao thông <tỉnh>,bqlgt@sonla.example.gov.vn; vanthu.bqlgt@sonla.example.gov.vn\n\
SYT,Sở Y tế,soyte@sonla.example.gov.vn\n\
XMT,UBND xã Mường Tè & Pa Ủ,xmt@sonla.example.gov.vn\n\
SNN,Sở Nông nghiệp và Môi trường,\n\
STC,Sở Tài chính,stc@sonla.example.gov.vn\n";

pub const PLANS: &str = "Mã ĐV,Năm,Kế hoạch vốn (triệu đồng)\n\
BQLGT,2026,\"1.200.000\"\n\
SYT,2026,\"80.000,5\"\n\
XMT,2026,\"25.000\"\n\
SNN,2026,\"300.000\"\n\
STC,2025,\"10.000\"\n";

pub const PAID: &str = "Ngày,Mã ĐV,Số tiền (đồng)\n\
15/03/2026,BQLGT,138.000.000.000\n\
20/09/2026,BQLGT,300.000.000.000\n\
05/11/2026,BQLGT,50.000.000.000\n\
01/06/2026,SYT,60.000.000.000\n\
02/07/2026,XMT,16.000.000.000\n\
30/10/2026,SNN,100.000.000.000\n";
