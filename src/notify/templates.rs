//! The email bodies' templates: embedded in the binary, each replaceable by a file of the same
//! name in the config's `templates_dir`. `.html` templates escape every value; `.txt` ones do not.
//! An override is checked when the config is loaded (`disbmon check`): it must parse, and render
//! the sample views below without touching a value that does not exist.

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Every template an operator may override, with its embedded text.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "alert.txt",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/mail/alert.txt"
        )),
    ),
    (
        "alert.html",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/mail/alert.html"
        )),
    ),
    (
        "digest.txt",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/mail/digest.txt"
        )),
    ),
    (
        "digest.html",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/mail/digest.html"
        )),
    ),
    (
        "notice.txt",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/mail/notice.txt"
        )),
    ),
    (
        "notice.html",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/mail/notice.html"
        )),
    ),
];

/// A template override that cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct TemplateProblem {
    pub file: PathBuf,
    pub problem: String,
}

/// The templates the emails are rendered with.
#[derive(Clone)]
pub struct Templates {
    env: Environment<'static>,
    /// The embedded ones, for a run-time failure of an override.
    fallback: Option<Box<Templates>>,
    overridden: Vec<String>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("overridden", &self.overridden)
            .finish()
    }
}

impl Default for Templates {
    fn default() -> Templates {
        Templates::embedded()
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // A name the template misspells is an error (found by `check`), not an empty string.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_keep_trailing_newline(true);
    env
}

impl Templates {
    pub fn embedded() -> Templates {
        let mut env = environment();
        for (name, source) in EMBEDDED {
            // Parsed by the snapshot tests: an embedded template that does not parse is a bug.
            env.add_template(name, source)
                .expect("the embedded email templates parse");
        }
        Templates {
            env,
            fallback: None,
            overridden: Vec::new(),
        }
    }

    /// The embedded templates with those found in `dir` in their place; every problem at once.
    pub fn with_overrides(dir: &Path) -> Result<Templates, Vec<TemplateProblem>> {
        let mut problems = Vec::new();
        if !dir.is_dir() {
            return Err(vec![TemplateProblem {
                file: dir.to_path_buf(),
                problem: "is not a folder; create it, or remove `templates_dir` to use the built-in templates".into(),
            }]);
        }
        let mut env = environment();
        let mut overridden = Vec::new();
        let mut sources = std::collections::HashMap::new();
        for (name, source) in EMBEDDED {
            let file = dir.join(name);
            let text = match std::fs::read_to_string(&file) {
                Ok(text) => {
                    overridden.push(name.to_string());
                    text
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => source.to_string(),
                Err(e) => {
                    problems.push(TemplateProblem {
                        file,
                        problem: format!("cannot be read: {e}"),
                    });
                    continue;
                }
            };
            sources.insert(name.to_string(), text.clone());
            if let Err(e) = env.add_template_owned(name.to_string(), text) {
                overridden.retain(|o| o != name);
                problems.push(TemplateProblem {
                    file,
                    problem: describe(&e, sources.get(*name)),
                });
            }
        }
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if !EMBEDDED.iter().any(|(n, _)| *n == name) {
                    problems.push(TemplateProblem {
                        file: e.path(),
                        problem: format!(
                            "is not a template disbmon uses; the names are {}",
                            EMBEDDED
                                .iter()
                                .map(|(n, _)| *n)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    });
                }
            }
        }
        let templates = Templates {
            env,
            fallback: Some(Box::new(Templates::embedded())),
            overridden,
        };
        // Each override must render the views the emails give it.
        for name in &templates.overridden {
            let view = match name.split('.').next() {
                Some("alert") => serde_json::to_value(samples::alert()),
                Some("digest") => serde_json::to_value(samples::digest()),
                _ => serde_json::to_value(samples::notice()),
            }
            .unwrap_or_default();
            if let Err(e) = templates.try_render(name, &view) {
                problems.push(TemplateProblem {
                    file: dir.join(name),
                    problem: describe(&e, sources.get(name)),
                });
            }
        }
        match problems.is_empty() {
            true => Ok(templates),
            false => Err(problems),
        }
    }

    fn try_render(&self, name: &str, view: &impl Serialize) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(view)
    }

    /// Renders `name`. An override that fails at run time (it passed `check`, so the data made
    /// it fail) is logged and the embedded template is used: the email still goes out.
    pub fn render(&self, name: &str, view: &impl Serialize) -> String {
        match self.try_render(name, view) {
            Ok(text) => text,
            Err(e) => {
                tracing::error!(
                    "the email template {name} failed ({}); the built-in one is used",
                    describe(&e, None)
                );
                match &self.fallback {
                    Some(embedded) => embedded.render(name, view),
                    None => format!("(the template {name} failed: {e})"),
                }
            }
        }
    }
}

/// A template error with its line and, when the source is at hand, the line's text: what an
/// operator needs to fix it.
fn describe(e: &minijinja::Error, source: Option<&String>) -> String {
    let mut text = e.to_string();
    if let Some(line) = e.line() {
        text = format!("line {line}: {text}");
        let written = source.and_then(|s| s.lines().nth(line.saturating_sub(1)));
        if let Some(written) = written {
            text.push_str(&format!(
                ": `{}`",
                crate::base::text::truncate(written.trim(), 120)
            ));
        }
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// What the templates are given: plain text values, already formatted in the email's language.
pub mod views {
    use serde::Serialize;

    #[derive(Debug, Clone, Serialize)]
    pub struct Row {
        pub label: String,
        /// The label padded to the widest one, for the text table.
        pub padded: String,
        pub value: String,
    }

    #[derive(Debug, Clone, Serialize)]
    pub struct Chart {
        /// The `cid:` the HTML part refers to.
        pub cid: String,
        pub alt: String,
    }

    #[derive(Debug, Clone, Serialize)]
    pub struct Table {
        pub header: Vec<String>,
        pub rows: Vec<Vec<String>>,
        pub right: Vec<bool>,
        /// Each row's background colour (`#rrggbb`), or empty.
        pub colours: Vec<String>,
        /// The same table laid out in fixed-width text.
        pub text: String,
    }

    #[derive(Debug, Clone, Serialize)]
    pub struct Section {
        pub title: String,
        pub lines: Vec<String>,
    }

    #[derive(Debug, Clone, Serialize)]
    pub struct Alert {
        pub lang: &'static str,
        pub subject: String,
        pub greeting: String,
        pub intro: String,
        pub rows: Vec<Row>,
        /// "+12,5 tỷ đồng so với ngày 24/10/2026", when an earlier run measured the unit.
        pub change: Option<String>,
        /// "Dự báo theo tiến độ hiện nay: …", when the sources hold past years.
        pub projection: Option<String>,
        pub next: Option<String>,
        /// Rates by capital source (or plan layer), when the job measures them.
        pub sources: Option<Table>,
        /// The unit's slowest projects (at most 5), when the sources name projects.
        pub projects: Option<Table>,
        pub chart: Option<Chart>,
        pub escalation: Option<String>,
        /// What the unit answered to earlier alerts, and its commitments checked against what
        /// it has disbursed since.
        pub answer: Option<Section>,
        /// Where the unit answers this alert (`[answers]`): reasons and commitments.
        pub answer_link: Option<AnswerLink>,
        pub ask: String,
        pub footer: String,
    }

    #[derive(Debug, Clone, Serialize)]
    pub struct AnswerLink {
        pub url: String,
        /// "Đơn vị giải trình và đăng ký cam kết tại: …"
        pub text: String,
        /// "(đường dẫn dùng được đến hết ngày 31/12/2026)"
        pub expires: String,
    }

    /// A notice to the operators (a failed run, a silent job, messages held or given up).
    #[derive(Debug, Clone, Serialize)]
    pub struct Notice {
        pub lang: &'static str,
        pub subject: String,
        pub lines: Vec<String>,
    }

    #[derive(Debug, Clone, Serialize)]
    pub struct Digest {
        pub lang: &'static str,
        pub subject: String,
        pub summary: Vec<String>,
        pub chart: Option<Chart>,
        pub table: Table,
        /// Under the table when it lists some units only: how many, and where the rest are.
        pub table_note: Option<String>,
        pub sections: Vec<Section>,
        /// The reallocation proposal, when the units are projected.
        pub reallocation: Option<Reallocation>,
        /// Which units answered their alerts, and the commitments falling due.
        pub answers: Option<Section>,
        pub attachment: Option<String>,
    }

    /// Who could release capital, who could absorb it, and the balance of the two.
    #[derive(Debug, Clone, Serialize)]
    pub struct Reallocation {
        pub title: String,
        /// That this is a proposal for the leadership, not a decision.
        pub note: String,
        pub release: Table,
        pub absorb: Table,
        pub balance: Vec<String>,
    }
}

/// Views with every field filled, to check an override renders what the emails give it.
mod samples {
    use super::views::*;

    fn table() -> Table {
        Table {
            header: vec!["STT".into(), "Đơn vị".into()],
            rows: vec![vec!["1".into(), "Sở A".into()]],
            right: vec![true, false],
            colours: vec!["#ffffff".into()],
            text: "STT | Đơn vị\n1   | Sở A\n".into(),
        }
    }

    fn chart() -> Option<Chart> {
        Some(Chart {
            cid: "chart@disbmon".into(),
            alt: "chart".into(),
        })
    }

    pub fn alert() -> Alert {
        Alert {
            lang: "vi",
            subject: "s".into(),
            greeting: "g".into(),
            intro: "i".into(),
            // As many rows as an alert has.
            rows: (0..10)
                .map(|i| Row {
                    label: format!("l{i}"),
                    padded: format!("l{i}"),
                    value: format!("v{i}"),
                })
                .collect(),
            change: Some("c".into()),
            projection: Some("p".into()),
            next: Some("n".into()),
            sources: Some(table()),
            projects: Some(table()),
            chart: chart(),
            escalation: Some("e".into()),
            answer: Some(Section {
                title: "t".into(),
                lines: vec!["l".into()],
            }),
            answer_link: Some(AnswerLink {
                url: "https://x/a/1".into(),
                text: "t".into(),
                expires: "e".into(),
            }),
            ask: "a".into(),
            footer: "f".into(),
        }
    }

    pub fn notice() -> Notice {
        Notice {
            lang: "vi",
            subject: "s".into(),
            lines: vec!["l".into()],
        }
    }

    pub fn digest() -> Digest {
        Digest {
            lang: "vi",
            subject: "s".into(),
            summary: vec!["s".into()],
            chart: chart(),
            table: table(),
            table_note: Some("n".into()),
            sections: vec![Section {
                title: "t".into(),
                lines: vec!["l".into()],
            }],
            reallocation: Some(Reallocation {
                title: "t".into(),
                note: "n".into(),
                release: table(),
                absorb: table(),
                balance: vec!["b".into()],
            }),
            answers: Some(Section {
                title: "t".into(),
                lines: vec!["l".into()],
            }),
            attachment: Some("a.xlsx".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_replaces_its_template_and_the_others_stay_built_in() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("alert.txt"),
            "{{ greeting }} / {{ rows[9].value }}\n",
        )
        .unwrap();
        let t = Templates::with_overrides(dir.path()).unwrap();
        let view = samples::alert();
        assert_eq!(t.render("alert.txt", &view), "g / v9\n");
        assert!(t.render("alert.html", &view).contains("<p>g</p>"));
    }

    #[test]
    fn every_problem_of_the_overrides_is_named_with_its_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("alert.html"), "<p>\n{% if greeting %}\n").unwrap();
        std::fs::write(dir.path().join("digest.txt"), "{{ sumary }}\n").unwrap();
        std::fs::write(dir.path().join("alrt.txt"), "x").unwrap();
        let problems = Templates::with_overrides(dir.path()).unwrap_err();
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(text.len(), 3, "{text:?}");
        assert!(
            text.iter()
                .any(|t| t.contains("alert.html") && t.contains("line")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("digest.txt") && t.contains("sumary")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("alrt.txt") && t.contains("is not a template")),
            "{text:?}"
        );
    }

    #[test]
    fn values_are_escaped_in_html_and_left_alone_in_text() {
        let t = Templates::embedded();
        let mut view = samples::alert();
        view.greeting = "<b>Sở A & B</b>".into();
        assert!(t
            .render("alert.html", &view)
            .contains("&lt;b&gt;Sở A &amp; B&lt;&#x2f;b&gt;"));
        assert!(t.render("alert.txt", &view).starts_with("<b>Sở A & B</b>"));
    }
}
