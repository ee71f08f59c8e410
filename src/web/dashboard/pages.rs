//! What every page shares: the templates compiled into the binary (auto-escaped), the page
//! frame, the query parameters, why a page cannot be shown, and the static files.

use crate::domain::money::Language;
use crate::notify::chart;
use crate::store::db::StoreError;
use crate::web::shared::{JobView, Shared};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use minijinja::{context, Environment, Value};
use serde::Deserialize;
use std::sync::OnceLock;

/// The pages' templates, compiled into the binary (`.html`: every value is HTML-escaped).
pub(super) const TEMPLATES: &[(&str, &str)] = &[
    (
        "base.html",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/dashboard/base.html"
        )),
    ),
    (
        "index.html",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/dashboard/index.html"
        )),
    ),
    (
        "job.html",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/dashboard/job.html"
        )),
    ),
    (
        "unit.html",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/dashboard/unit.html"
        )),
    ),
    (
        "runs.html",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/dashboard/runs.html"
        )),
    ),
    (
        "outbox.html",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/dashboard/outbox.html"
        )),
    ),
];

pub(super) const STYLE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/templates/dashboard/style.css"
));

/// How many runs the runs page lists.
pub(super) const RUNS_LISTED: usize = 200;

pub(super) fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.add_filter("urlpath", |v: String| {
            percent_encoding::utf8_percent_encode(&v, SEGMENT).to_string()
        });
        for (name, source) in TEMPLATES {
            // The templates are ours and tested; one that does not parse fails its page, loudly.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!("dashboard template {name}: {e}");
            }
        }
        env
    })
}

/// What a path segment may carry unescaped (RFC 3986 unreserved characters).
pub(super) const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub(super) enum PageError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("the page could not be rendered: {0}")]
    Template(#[from] minijinja::Error),
    #[error("the chart could not be drawn: {0}")]
    Chart(#[from] chart::spec::ChartError),
    #[error("{0}")]
    NotFound(String),
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = match self {
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            _ => {
                tracing::error!("dashboard: {self}");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (status, format!("{self}\n")).into_response()
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Params {
    pub(super) lang: Option<String>,
    pub(super) sort: Option<String>,
    pub(super) dir: Option<String>,
}

impl Params {
    pub(super) fn language(&self) -> Language {
        match self.lang.as_deref() {
            Some("en") => Language::En,
            _ => Language::Vi,
        }
    }

    /// The query every link on the page carries, so that the language stays as chosen.
    pub(super) fn keep(&self) -> &'static str {
        match self.language() {
            Language::En => "?lang=en",
            Language::Vi => "",
        }
    }
}

/// Renders a page with what every page shows (language, labels, the link to the other language).
pub(super) fn page(
    name: &str,
    params: &Params,
    path: &str,
    ctx: Value,
) -> Result<Html<String>, PageError> {
    let lang = params.language();
    let (other, other_href) = match lang {
        Language::Vi => ("en", format!("{path}?lang=en")),
        Language::En => ("vi", path.to_string()),
    };
    let common = context! {
        lang => match lang { Language::Vi => "vi", Language::En => "en" },
        t => super::labels::labels(lang),
        q => params.keep(),
        other_lang => other,
        other_lang_href => other_href,
        version => env!("CARGO_PKG_VERSION"),
    };
    let template = environment().get_template(name)?;
    Ok(Html(template.render(context! { ..ctx, ..common })?))
}

pub(super) fn when(t: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz).format("%d/%m/%Y %H:%M").to_string()
}

/// A job's time zone, from the jobs as the scheduler loop published them (`Shared::jobs`).
pub(super) fn zone(views: &[JobView], job: &str) -> chrono_tz::Tz {
    views
        .iter()
        .find(|j| j.name == job)
        .and_then(|j| j.timezone.parse().ok())
        .unwrap_or(chrono_tz::Asia::Ho_Chi_Minh)
}

/// The jobs the daemon runs and those the store has runs of.
pub(super) fn known_jobs(shared: &Shared) -> Result<Vec<String>, StoreError> {
    let mut names: Vec<String> = shared.jobs().into_iter().map(|j| j.name).collect();
    for stored in shared.store().jobs()? {
        if !names.contains(&stored) {
            names.push(stored);
        }
    }
    names.sort();
    Ok(names)
}

pub(super) fn known(shared: &Shared, job: &str) -> Result<(), PageError> {
    match known_jobs(shared)?.iter().any(|j| j == job) {
        true => Ok(()),
        false => Err(PageError::NotFound(format!(
            "there is no job `{job}` here; the jobs are listed at /"
        ))),
    }
}

pub(super) fn png(bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        bytes,
    )
        .into_response()
}

pub(super) async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

pub(super) async fn font() -> Response {
    (
        [(header::CONTENT_TYPE, "font/ttf")],
        chart::text::REGULAR_TTF,
    )
        .into_response()
}
