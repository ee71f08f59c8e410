//! The emails as people read them, in both languages: snapshots of each, and the figures, the
//! escaping, the change since the last run and the charts checked.

use super::alert::unit_alert;
use super::context::Context;
use super::notice::operator_notice;
use crate::domain::decide::Alert;
use crate::domain::decide::Reason;
use crate::domain::id::PlanYear;
use crate::domain::id::UnitId;
use crate::domain::issue::DataIssue;
use crate::domain::money::Language;
use crate::domain::rates::Rates;
use crate::domain::rates::UnitRate;
use crate::domain::rule::Status;
use crate::notify::templates::Templates;
use chrono::NaiveDate;

fn rates() -> Rates {
    let unit = |id: &str, name: &str, plan, paid, rate: f64, rank, status| UnitRate {
        unit_id: id.into(),
        unit_name: name.into(),
        plan,
        disbursed: paid,
        rate_pct: Some(rate),
        expected_pct: 71.79,
        gap_pct: Some(71.79 - rate),
        shortfall: 0,
        rank: Some(rank),
        below_average: rate < 50.0,
        status,
        nothing_paid: false,
        plan_changed_on: None,
        group: None,
        group_rank: None,
        group_average_pct: None,
        below_group_average: false,
        rate_last_year: None,
        worse_than_last_year: false,
        other_rates: Default::default(),
        projection: None,
        missed_milestones: Vec::new(),
    };
    Rates {
        expected_pct: 71.79,
        average_pct: Some(50.0),
        units: vec![
            unit(
                "A",
                "Sở Xây dựng",
                1_000_000_000_000,
                800_000_000_000,
                80.0,
                1,
                Status::OnTrack,
            ),
            unit(
                "B",
                "Ban QLDA <Giao thông> & \"Dân dụng\"",
                1_000_000_000_000,
                365_000_000_000,
                36.5,
                2,
                Status::Critical,
            ),
        ],
        groups: vec![],
        rollups: vec![],
    }
}

static NO_DETAILS: std::collections::BTreeMap<UnitId, crate::domain::ledger::UnitDetail> =
    std::collections::BTreeMap::new();
static EMBEDDED: std::sync::LazyLock<Templates> = std::sync::LazyLock::new(Templates::embedded);

fn ctx(r: &Rates, lang: Language) -> Context<'_> {
    Context {
        job: "weekly",
        language: lang,
        as_of: NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(),
        plan_year: PlanYear::new(2026),
        ranked: r.ranked(),
        rates: r,
        next_milestone: Some((NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(), 95.0)),
        details: &NO_DETAILS,
        charts: false,
        digest_rows: 200,
        templates: &EMBEDDED,
        reallocation: None,
        zone: chrono_tz::Asia::Ho_Chi_Minh,
        milestones_after: NaiveDate::from_ymd_opt(2026, 12, 31),
        answers: None,
        links: None,
        notes: &[],
    }
}

#[test]
fn a_vietnamese_alert_names_the_unit_rate_and_milestone() {
    let r = rates();
    let alert = Alert {
        unit: r.units[1].clone(),
        to: vec!["b@x.vn".parse().unwrap()],
        cc: vec![],
        reason: Reason::First,
        escalation: None,
    };
    let e = unit_alert(&ctx(&r, Language::Vi), &alert);
    assert_eq!(
        e.subject,
        "[Giải ngân 2026] Ban QLDA <Giao thông> & \"Dân dụng\": đạt 36,5%, chậm nghiêm trọng so với mức cần đạt 71,8% (đến 31/10/2026)"
    );
    for want in [
        "1.000,000 tỷ đồng",
        "365,000 tỷ đồng",
        "2/2 đơn vị",
        "50,0% (đơn vị thấp hơn bình quân)",
        "31/10/2026",
        "−35,3 điểm phần trăm",
        "95,0% kế hoạch vốn đến ngày 31/12/2026",
    ] {
        assert!(e.text.contains(want), "missing {want:?} in\n{}", e.text);
    }
    assert!(
        e.html
            .contains("Ban QLDA &lt;Giao thông&gt; &amp; &quot;Dân dụng&quot;"),
        "{}",
        e.html
    );
    assert!(!e.html.contains("<Giao"));
    assert!(e.text.contains("Lý do gửi thư"), "{}", e.text);

    // Escalated: the subject says so, the escalation recipients are copied, the body says since when.
    let escalated = Alert {
        escalation: Some(crate::domain::decide::Escalation {
            to: vec!["parent@x.vn".parse().unwrap()],
            since: NaiveDate::from_ymd_opt(2026, 9, 7).unwrap(),
            alerts_before: 3,
            missed: Vec::new(),
        }),
        reason: Reason::Reminder,
        ..alert.clone()
    };
    let e = unit_alert(&ctx(&r, Language::Vi), &escalated);
    assert!(
        e.subject
            .starts_with("[Giải ngân 2026][Báo cáo cấp trên] Ban QLDA"),
        "{}",
        e.subject
    );
    assert_eq!(e.cc[0].email.to_string(), "parent@x.vn");
    assert!(
        e.text
            .contains("chậm tiến độ từ ngày 07/09/2026 và đã được nhắc 3 lần"),
        "{}",
        e.text
    );
    assert!(
        e.text.contains("nhắc lại: đơn vị vẫn chậm tiến độ"),
        "{}",
        e.text
    );

    // Back on track.
    let back = Alert {
        reason: Reason::Recovered,
        ..alert
    };
    let e = unit_alert(&ctx(&r, Language::Vi), &back);
    assert!(
        e.subject.contains(": đã đạt tiến độ, tỷ lệ 36,5%"),
        "{}",
        e.subject
    );
}

#[test]
fn an_english_digest_has_counts_table_and_issues() {
    let r = rates();
    let issues = vec![DataIssue {
        source: crate::domain::issue::SourceRole::Plans,
        sheet: None,
        row: Some(12),
        column: Some("Kế hoạch".into()),
        value: Some("1,2,3".into()),
        problem: "bad <number>".into(),
    }];
    let e = super::digest::digest(
        &ctx(&r, Language::En),
        &["boss@x.vn".parse().unwrap()],
        1,
        &[],
        &[],
        &issues,
        None,
    );
    assert_eq!(
        e.subject,
        "[Disbursement 2026] Summary as of 31/10/2026: 1 of 2 units behind, average 50.0%"
    );
    assert!(
        e.text
            .contains("1 of 2 units are at or above the average of 50.0%"),
        "{}",
        e.text
    );
    assert!(
        e.text
            .contains("plans: row 12: column `Kế hoạch`: value `1,2,3`: bad <number>"),
        "{}",
        e.text
    );
    assert!(e.html.contains("bad &lt;number&gt;"));
    assert!(e.text.contains("No. | Unit"), "{}", e.text);
}

/// Details as a run of a job with two capital sources, measured once before, gives them.
fn details(r: &Rates) -> std::collections::BTreeMap<UnitId, crate::domain::ledger::UnitDetail> {
    let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    r.units
        .iter()
        .map(|u| {
            let detail = crate::domain::ledger::UnitDetail {
                unit: u.unit_id.clone(),
                name: u.unit_name.clone(),
                plan_year: PlanYear::new(2026),
                as_of: d(2026, 10, 31),
                plan: u.plan,
                curve: vec![
                    (d(2026, 6, 30), u.disbursed / 2),
                    (d(2026, 10, 31), u.disbursed),
                ],
                last_year_plan: None,
                last_year_curve: vec![],
                milestones: vec![(d(2026, 6, 30), 50.0), (d(2026, 12, 31), 95.0)],
                denominators: vec![
                    ("capital_source:NSDP".into(), u.plan / 4, u.disbursed / 5),
                    (
                        "capital_source:NSTW".into(),
                        u.plan - u.plan / 4,
                        u.disbursed - u.disbursed / 5,
                    ),
                ],
                previous: Some((d(2026, 10, 24), u.disbursed - 12_500_000_000)),
                projects: vec![
                    ("DA-07 Đường Mường La – Ít Ong".into(), u.plan / 10, 0),
                    (
                        "DA-02 Trường THCS <Chiềng Sinh>".into(),
                        u.plan / 5,
                        u.plan / 50,
                    ),
                ],
                projection: None,
            };
            (u.unit_id.clone(), detail)
        })
        .collect()
}

fn snapshot_ctx<'a>(
    r: &'a Rates,
    details: &'a std::collections::BTreeMap<UnitId, crate::domain::ledger::UnitDetail>,
    lang: Language,
) -> Context<'a> {
    Context {
        details,
        ..ctx(r, lang)
    }
}

fn behind_alert(r: &Rates) -> Alert {
    Alert {
        unit: r.units[1].clone(),
        to: vec!["b@x.vn".parse().unwrap()],
        cc: vec![],
        reason: Reason::First,
        escalation: None,
    }
}

#[test]
fn alert_snapshots() {
    let r = rates();
    let details = details(&r);
    for lang in [Language::Vi, Language::En] {
        let e = unit_alert(&snapshot_ctx(&r, &details, lang), &behind_alert(&r));
        insta::assert_snapshot!(format!("alert_{}_text", lang.code()), e.text);
        insta::assert_snapshot!(format!("alert_{}_html", lang.code()), e.html);
    }
}

#[test]
fn digest_snapshots() {
    let r = rates();
    let details = details(&r);
    for lang in [Language::Vi, Language::En] {
        let e = super::digest::digest(
            &snapshot_ctx(&r, &details, lang),
            &["boss@x.vn".parse().unwrap()],
            1,
            &[],
            &[],
            &[],
            Some("giai-ngan-2026-den-31-10-2026.xlsx"),
        );
        insta::assert_snapshot!(format!("digest_{}_text", lang.code()), e.text);
        insta::assert_snapshot!(format!("digest_{}_html", lang.code()), e.html);
    }
}

#[test]
fn notice_snapshots() {
    let to = ["ops@x.vn".parse().unwrap()];
    let lines = vec![
        "Lần chạy công việc `weekly` theo lịch lúc 2026-11-02 08:00:00 +07 không thành công sau 3 lần thử.".to_string(),
        "Lý do:".to_string(),
        "  plans: <https://x.vn/kh.csv> answered HTTP 500".to_string(),
    ];
    let e = operator_notice(
        &EMBEDDED,
        Language::Vi,
        &to,
        "[disbmon] công việc weekly không chạy được",
        &lines,
    );
    insta::assert_snapshot!("notice_vi_text", e.text);
    insta::assert_snapshot!("notice_vi_html", e.html);
    let e = operator_notice(
        &EMBEDDED,
        Language::En,
        &to,
        "[disbmon] job weekly failed",
        &["The run failed <after> 3 tries.".to_string()],
    );
    insta::assert_snapshot!("notice_en_text", e.text);
    insta::assert_snapshot!("notice_en_html", e.html);
}

#[test]
fn the_alert_tells_the_change_since_the_previous_run_and_the_rates_by_capital_source() {
    let r = rates();
    let details = details(&r);
    let e = unit_alert(&snapshot_ctx(&r, &details, Language::Vi), &behind_alert(&r));
    assert!(
        e.text
            .contains("Giải ngân so với ngày 24/10/2026 (lần tổng hợp trước): +12,500 tỷ đồng."),
        "{}",
        e.text
    );
    assert!(e.text.contains("Nguồn vốn NSTW"), "{}", e.text);
    // NSDP: plan 250 bn, disbursed 73 bn.
    assert!(
        e.text.contains("250,000") && e.text.contains("73,000") && e.text.contains("29,2%"),
        "{}",
        e.text
    );
}

#[test]
fn with_charts_the_alert_and_the_digest_carry_a_png_their_html_shows() {
    let r = rates();
    let details = details(&r);
    let ctx = Context {
        charts: true,
        digest_rows: 200,
        ..snapshot_ctx(&r, &details, Language::Vi)
    };
    let alert = unit_alert(&ctx, &behind_alert(&r));
    let digest = super::digest::digest(
        &ctx,
        &["boss@x.vn".parse().unwrap()],
        1,
        &[],
        &[],
        &[],
        None,
    );
    for e in [alert, digest] {
        assert_eq!(e.inline.len(), 1);
        let picture = &e.inline[0];
        assert!(picture.bytes.starts_with(b"\x89PNG"));
        assert!(
            e.html.contains(&format!("src=\"cid:{}\"", picture.cid)),
            "{}",
            e.html
        );
        assert!(e.html.contains("alt=\"Biểu đồ:"), "{}", e.html);
    }
}

/// `n` units in ranked order, best first: a third on track, a third behind, a third critical.
fn many(n: usize) -> Rates {
    let mut r = rates();
    let template = r.units[0].clone();
    r.units = (0..n)
        .map(|i| {
            let rate = 100.0 - 100.0 * i as f64 / n as f64;
            UnitRate {
                unit_id: format!("DV{i:06}").as_str().into(),
                unit_name: format!("Ban quản lý dự án đầu tư xây dựng số {i}"),
                rate_pct: Some(rate),
                gap_pct: Some(71.79 - rate),
                rank: Some(i as u32 + 1),
                status: match i * 3 / n {
                    0 => Status::OnTrack,
                    1 => Status::Behind,
                    _ => Status::Critical,
                },
                ..template.clone()
            }
        })
        .collect();
    r
}

#[test]
fn a_large_job_s_digest_lists_the_top_the_bottom_and_the_furthest_behind_up_to_the_cap() {
    let r = many(1_000);
    let c = Context {
        digest_rows: 50,
        ..ctx(&r, Language::Vi)
    };
    let e = super::digest::digest(&c, &["boss@x.vn".parse().unwrap()], 0, &[], &[], &[], None);
    let listed: Vec<&str> = e
        .text
        .lines()
        .filter(|l| l.contains("| Ban quản lý"))
        .collect();
    assert_eq!(listed.len(), 50, "{}", e.text);
    // The best five, the worst five (the cap's tenth each), and the forty furthest behind.
    assert!(e.text.contains("số 0 "), "{}", e.text);
    assert!(e.text.contains("số 999 "));
    assert!(e.text.contains("số 955 ") && !e.text.contains("số 954 "));
    assert!(e.text.contains("số 4 ") && !e.text.contains("số 5 "));
    // The run left out, one row; and where the whole table is.
    assert!(e.text.contains("(950 đơn vị)"), "{}", e.text);
    assert!(e.text.contains("Bảng trên nêu 50/1000 đơn vị"));
    assert!(e.html.contains("<p><i>Bảng trên nêu 50"), "{}", e.html);
    // A job within the cap: every unit, no note.
    let small = many(40);
    let e = super::digest::digest(
        &ctx(&small, Language::En),
        &["boss@x.vn".parse().unwrap()],
        0,
        &[],
        &[],
        &[],
        None,
    );
    assert!(!e.text.contains("The table lists"));
    assert_eq!(
        e.text
            .lines()
            .filter(|l| l.contains("| Ban quản lý"))
            .count(),
        40
    );
}

#[test]
fn a_digest_stays_under_two_megabytes_for_a_hundred_thousand_units() {
    let r = many(100_000);
    let unreachable: Vec<UnitRate> = r.units.iter().take(30_000).cloned().collect();
    let c = Context {
        charts: true,
        ..ctx(&r, Language::Vi)
    };
    let e = super::digest::digest(
        &c,
        &["boss@x.vn".parse().unwrap()],
        66_000,
        &[],
        &unreachable,
        &[],
        Some("bang.xlsx"),
    );
    let size = e.text.len() + e.html.len() + e.inline.iter().map(|i| i.bytes.len()).sum::<usize>();
    assert!(size < 2 << 20, "{size} bytes");
    assert!(
        e.text.contains("… và 29800 đơn vị khác"),
        "{}",
        &e.text[..2000]
    );
}
