//! What people meet first: the README and the docs (every key the code accepts is in the key
//! reference, every key the docs show is accepted, every link leads somewhere) and the ranked
//! table `once` prints, which fits a terminal.

use crate::support::{repo, Project};
use disbmon::config::keys::{config_keys, job_keys};
use std::collections::BTreeSet;

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The markdown files people read: the README, ARCHITECTURE.md and everything in docs/.
fn documents() -> Vec<String> {
    let mut out = vec!["README.md".to_string(), "ARCHITECTURE.md".to_string()];
    let mut docs: Vec<String> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    docs.sort();
    out.extend(docs);
    out
}

/// The keys of the `## Key reference` section of a document: each row's first cell, a key in
/// backticks.
fn reference(rel: &str) -> BTreeSet<String> {
    let text = read(rel);
    let section = text
        .split("\n## ")
        .find(|s| s.starts_with("Key reference"))
        .unwrap_or_else(|| panic!("{rel} has no `## Key reference` section"));
    section
        .lines()
        .filter_map(|l| {
            let cell = l.strip_prefix('|')?.split('|').next()?.trim();
            let key = cell.strip_prefix('`')?.strip_suffix('`')?;
            Some(key.to_string())
        })
        .collect()
}

fn compare(what: &str, rel: &str, documented: &BTreeSet<String>, accepted: &[String]) {
    let accepted: BTreeSet<String> = accepted.iter().cloned().collect();
    let missing: Vec<&String> = accepted.difference(documented).collect();
    let unknown: Vec<&String> = documented.difference(&accepted).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "{what} keys: {rel}'s key reference\n  lacks {missing:?}\n  lists keys the code does not accept: {unknown:?}"
    );
}

#[test]
fn every_key_the_code_accepts_is_in_the_reference_and_no_other() {
    compare(
        "config",
        "docs/operators.md",
        &reference("docs/operators.md"),
        &config_keys(),
    );
    compare(
        "job",
        "docs/jobs.md",
        &reference("docs/jobs.md"),
        &job_keys(),
    );
}

/// A key as the reference writes it: a source's own keys as `sources.*.KEY`, a map's free keys
/// (successors) as the map.
fn as_referenced(path: &[String]) -> String {
    let mut p: Vec<String> = path.to_vec();
    if p.first().map(String::as_str) == Some("successors") {
        p.truncate(1);
    }
    if p.len() > 2 && p[0] == "sources" && p[2] != "columns" {
        p[1] = "*".into();
    }
    p.join(".")
}

/// The dotted keys a TOML example shows, commented-out lines (`# key = value`, `# [table]`)
/// included: the table each line is under, the key, and an inline table's keys.
fn shown_keys(block: &str) -> Vec<(usize, String)> {
    let mut table: Vec<String> = Vec::new();
    let mut out = Vec::new();
    let bare = |s: &str| {
        s.split('.')
            .map(|k| k.trim().trim_matches('"').to_string())
            .collect::<Vec<_>>()
    };
    for (n, line) in block.lines().enumerate() {
        let l = line.trim_start();
        let l = l.strip_prefix('#').map_or(l, str::trim_start);
        if let Some(h) = l.strip_prefix('[') {
            let h = h.trim_start_matches('[');
            if let Some(end) = h.find(']') {
                table = bare(&h[..end]);
            }
            continue;
        }
        let Some(eq) = l.find('=') else { continue };
        let key = l[..eq].trim();
        let is_key = !key.is_empty()
            && (key.starts_with('"')
                || key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)));
        if !is_key {
            continue;
        }
        let mut path = table.clone();
        path.extend(bare(key));
        let value = l[eq + 1..].trim();
        if value.starts_with('{') {
            // An inline table: its keys, e.g. columns = { unit_id = "Mã ĐV", … }.
            let parsed: toml::Table = toml::from_str(&format!("x = {}", value))
                .unwrap_or_else(|e| panic!("line {}: {line}: {e}", n + 1));
            if let Some(toml::Value::Table(inner)) = parsed.get("x") {
                for k in inner.keys() {
                    let mut p = path.clone();
                    p.push(k.clone());
                    out.push((n + 1, as_referenced(&p)));
                }
                continue;
            }
        }
        out.push((n + 1, as_referenced(&path)));
    }
    out
}

#[test]
fn every_key_the_docs_show_is_accepted() {
    let config: BTreeSet<String> = config_keys().into_iter().collect();
    let job: BTreeSet<String> = job_keys().into_iter().collect();
    let job_tables = [
        "schedule",
        "sources",
        "rule",
        "alerts",
        "projection",
        "reallocation",
        "successors",
    ];
    let mut wrong = Vec::new();
    let mut blocks = 0;
    for rel in documents() {
        let text = read(&rel);
        for (i, block) in text.split("```toml\n").skip(1).enumerate() {
            let block = block.split("```").next().unwrap_or("");
            blocks += 1;
            let keys = shown_keys(block);
            // A job's example names a job's tables; anything else is the config.
            let is_job = keys
                .iter()
                .any(|(_, k)| job_tables.iter().any(|t| k.split('.').next() == Some(*t)));
            let known = if is_job { &job } else { &config };
            for (line, key) in keys {
                if !known.contains(&key) {
                    wrong.push(format!(
                        "{rel}, TOML example {} line {line}: `{key}` is not a {} key",
                        i + 1,
                        if is_job { "job" } else { "config" }
                    ));
                }
            }
        }
    }
    assert!(blocks >= 4, "only {blocks} TOML examples found");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// GitHub's anchor of a heading: lower case, spaces to '-', punctuation left out.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn every_link_in_the_docs_leads_somewhere() {
    let mut broken = Vec::new();
    for rel in documents() {
        let text = read(&rel);
        let dir = std::path::Path::new(&rel)
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_default();
        for part in text.split("](").skip(1) {
            let Some(end) = part.find(')') else { continue };
            let target = &part[..end];
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, frag) = target.split_once('#').unwrap_or((target, ""));
            let file_rel = if file.is_empty() {
                rel.clone()
            } else {
                dir.join(file).to_string_lossy().into_owned()
            };
            let path = repo().join(&file_rel);
            if !path.exists() {
                broken.push(format!("{rel}: ({target}): no file {file_rel}"));
                continue;
            }
            if !frag.is_empty() && file_rel.ends_with(".md") {
                let anchors: BTreeSet<String> = read(&file_rel)
                    .lines()
                    .filter(|l| l.starts_with('#'))
                    .map(|l| anchor(l.trim_start_matches('#')))
                    .collect();
                if !anchors.contains(frag) {
                    broken.push(format!(
                        "{rel}: ({target}): no heading #{frag} in {file_rel}"
                    ));
                }
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn the_readme_is_a_front_door() {
    let readme = read("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= 260,
        "README.md has {lines} lines; move detail to docs/"
    );
    for must in [
        "cargo run -- once sample --as-of 2026-10-31",
        "bash tests/run.sh",
        "docs/officers.md",
        "docs/operators.md",
        "docs/jobs.md",
        "docs/figures.md",
        "## Exit status",
    ] {
        assert!(readme.contains(must), "README.md lacks {must}");
    }
}

/// The table of a `once` run's output: the lines after the headline, to the next blank line.
fn table_of(stdout: &str) -> String {
    let lines: Vec<&str> = stdout.lines().collect();
    let start = lines.iter().position(|l| l.is_empty()).expect("a headline") + 1;
    let end = lines[start..]
        .iter()
        .position(|l| l.is_empty())
        .map_or(lines.len(), |e| start + e);
    lines[start..end].join("\n") + "\n"
}

fn widest(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

#[test]
fn the_ranked_table_fits_120_columns_by_default_and_everything_with_wide() {
    let p = Project::new();
    p.copy_from_repo("config").copy_from_repo("jobs");
    let args = ["once", "sample", "--as-of", "2026-10-31", "--dry-run"];
    // Not a terminal, no COLUMNS: 120.
    let run = p.run(&args);
    run.expect_code(0);
    let table = table_of(&run.stdout());
    assert!(widest(&table) <= 120, "{run}");
    insta::assert_snapshot!("ranked_table_120", table);
    // The unit id whole, the name cut; the projection at 31/12 left out, and said so.
    assert!(
        table.contains("BQLDD         Ban QLDA đầu tư xây d…"),
        "{table}"
    );
    assert!(table.contains("bỏ bớt cột cho vừa 120 ký tự: Dự báo 31/12 %"));

    // A narrower terminal: fewer columns, ids and rates still whole.
    let run = p.run_env(&args, &[("COLUMNS", "80")]);
    let narrow = table_of(&run.stdout());
    assert!(widest(&narrow) <= 80, "{run}");
    assert!(
        narrow.contains("P-CHIENGSINH") && narrow.contains("87,14"),
        "{narrow}"
    );
    let header: String = narrow.lines().take(2).collect();
    assert!(!header.contains("Kế hoạch"), "{narrow}");
    assert!(
        narrow.contains("bỏ bớt cột cho vừa 80 ký tự: Kế hoạch (tỷ)"),
        "{narrow}"
    );
    // A wider one is still held to 120.
    let run = p.run_env(&args, &[("COLUMNS", "300")]);
    assert_eq!(table_of(&run.stdout()), table, "{run}");

    // --wide: every column and whole names, whatever the width.
    let mut wide_args = args.to_vec();
    wide_args.push("--wide");
    let run = p.run_env(&wide_args, &[("COLUMNS", "80")]);
    let wide = table_of(&run.stdout());
    assert!(widest(&wide) > 120, "{wide}");
    for whole in [
        "Ban QLDA đầu tư xây dựng các công trình dân dụng và công nghiệp",
        "Chậm nghiêm trọng (dưới bình quân)",
        "31/12 %",
    ] {
        assert!(wide.contains(whole), "--wide lacks {whole}\n{wide}");
    }
    assert!(!wide.contains('…'), "{wide}");

    // The JSON report does not depend on the width (the clock pinned: message ids come from it).
    let json = |extra: &[&str]| {
        let mut a = args.to_vec();
        a.push("--json");
        a.extend(extra);
        let run = p.run_env(
            &a,
            &[
                ("COLUMNS", "60"),
                ("DISBMON_NOW", "2026-10-31T08:00:00+07:00"),
            ],
        );
        run.expect_code(0);
        run.stdout()
    };
    let (narrow, wide) = (json(&[]), json(&["--wide"]));
    let differ = narrow.lines().zip(wide.lines()).find(|(a, b)| a != b);
    assert!(
        differ.is_none() && narrow.lines().count() == wide.lines().count(),
        "the JSON report differs with --wide: {differ:?}"
    );
}
