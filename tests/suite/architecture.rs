//! The floors of ARCHITECTURE.md, checked on the source text of `src/` (test code aside):
//!
//! - every path from one module to another (`use crate::…`, `crate::x::…`, `super::…`,
//!   `self::…` and a child module's name) is resolved to the file it names, and the files form no
//!   import circle;
//! - a file names only its own layer and the layers below it ([`LAYERS`]);
//! - the crates that talk to the outside are each used by one layer or module ([`CRATES`]);
//! - no source file is over 1,000 lines, and no function returns `Result<_, String>`;
//! - `lib.rs` declares the layers bottom up and its module map names each.
//!
//! (The clock rule is clippy's: `disallowed_methods` in clippy.toml.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each layer and the layers it may name, bottom up.
const LAYERS: &[(&str, &[&str])] = &[
    ("base", &[]),
    ("domain", &["base"]),
    ("config", &["base", "domain"]),
    ("data", &["base", "domain", "config"]),
    ("store", &["base", "domain", "config"]),
    ("notify", &["base", "domain", "config"]),
    ("web", &["base", "domain", "config", "store", "notify"]),
    (
        "app",
        &["base", "domain", "config", "data", "store", "notify", "web"],
    ),
];

/// The crates that talk to the outside (or hold a format), and the only files (or folders, when
/// the entry ends with `/`) that may name them.
const CRATES: &[(&str, &[&str])] = &[
    ("polars", &["data/compute/"]),
    ("polars_buffer", &["data/compute/"]),
    ("rusqlite", &["store/"]),
    ("lettre", &["notify/deliver.rs"]),
    ("axum", &["web/"]),
    ("reqwest", &["data/source/"]),
    ("calamine", &["data/source/xlsx.rs"]),
    ("zip", &["data/source/xlsx.rs"]),
    ("csv", &["data/source/"]),
    ("rust_xlsxwriter", &["notify/workbook.rs"]),
    ("plotters", &["notify/chart/"]),
    ("ab_glyph", &["notify/chart/"]),
    ("minijinja", &["notify/", "web/"]),
];

const MAX_LINES: usize = 1_000;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// A source file: its path under src/, its module path, and its code with comments, strings and
/// test modules taken out.
struct File {
    rel: String,
    module: Vec<String>,
    code: String,
}

fn module_of(rel: &str) -> Vec<String> {
    let stem = rel.trim_end_matches(".rs");
    let mut parts: Vec<String> = stem.split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts == ["lib"] || parts == ["main"] {
        parts.clear();
    }
    parts
}

/// The code without comments, string and char literals (each becomes `""`/`' '`), so that a path
/// in a message or a doc comment is not taken for an import.
fn strip_comments_and_strings(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            i += rest.find("*/").map(|e| e + 2).unwrap_or(rest.len());
        } else if let Some(hashes) = raw_string_start(rest) {
            let open = 2 + hashes;
            let close = format!("\"{}", "#".repeat(hashes));
            i += rest[open..]
                .find(&close)
                .map(|e| open + e + close.len())
                .unwrap_or(rest.len());
            out.push_str("\"\"");
        } else if b[i] == b'"' && !(i > 0 && b[i - 1] == b'\'' && b.get(i + 1) == Some(&b'\'')) {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            i = j + 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\u{1F600}'), not a lifetime ('a).
            let len = rest
                .char_indices()
                .skip(1)
                .find(|(_, c)| *c == '\'')
                .map(|(k, _)| k)
                .filter(|k| {
                    *k <= 12 && (rest[1..*k].starts_with('\\') || rest[1..*k].chars().count() == 1)
                });
            match len {
                Some(k) => {
                    out.push_str("' '");
                    i += k + 1;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn raw_string_start(rest: &str) -> Option<usize> {
    let after = rest.strip_prefix('r')?;
    let hashes = after.len() - after.trim_start_matches('#').len();
    after[hashes..].starts_with('"').then_some(hashes)
}

/// The code without `#[cfg(test)]` items written inline (`mod tests { … }`).
fn without_inline_tests(code: &str) -> String {
    let mut out = code.to_string();
    while let Some(at) = out.find("#[cfg(test)]") {
        let after = &out[at..];
        let Some(open) = after.find(['{', ';']) else {
            break;
        };
        let end = if after.as_bytes()[open] == b';' {
            at + open + 1
        } else {
            let mut depth = 0usize;
            let mut end = out.len();
            for (k, c) in after[open..].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = at + open + k + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            end
        };
        out.replace_range(at..end, "");
    }
    out
}

/// The child modules a file declares (`mod x;`), and those declared for tests only.
fn children(code_with_tests: &str) -> (Vec<String>, Vec<String>) {
    let mut all = Vec::new();
    let mut tests = Vec::new();
    let mut test_next = false;
    for line in code_with_tests.lines() {
        let l = line.trim();
        if l == "#[cfg(test)]" {
            test_next = true;
            continue;
        }
        let decl = l
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub(super) ")
            .trim_start_matches("pub ");
        if let Some(name) = decl.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
            if test_next {
                tests.push(name.trim().to_string());
            } else {
                all.push(name.trim().to_string());
            }
        }
        if !l.starts_with("#[") {
            test_next = false;
        }
    }
    (all, tests)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every file of the crate's non-test code.
fn files() -> Vec<File> {
    let mut paths = Vec::new();
    walk(&src(), &mut paths);
    let mut all: Vec<(String, String)> = paths
        .iter()
        .map(|p| {
            let rel = p
                .strip_prefix(src())
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, std::fs::read_to_string(p).unwrap())
        })
        .collect();
    all.sort();
    // Files that are test modules (`#[cfg(test)] mod tests;`) are test code.
    let mut test_files = BTreeSet::new();
    for (rel, text) in &all {
        let module = module_of(rel);
        let (_, tests) = children(&strip_comments_and_strings(text));
        for t in tests {
            let mut m = module.clone();
            m.push(t);
            test_files.insert(m);
        }
    }
    all.into_iter()
        .filter(|(rel, _)| !test_files.contains(&module_of(rel)))
        .map(|(rel, text)| File {
            module: module_of(&rel),
            code: without_inline_tests(&strip_comments_and_strings(&text)),
            rel,
        })
        .collect()
}

/// The paths of a `use` tree, each as its segments (`a::{b, c::d}` → `a::b`, `a::c::d`).
fn use_tree(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head: Vec<String> = tree[..open]
            .split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let mut base = prefix.to_vec();
        base.extend(head);
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let mut depth = 0;
        let mut start = 0;
        for (k, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    use_tree(&base, &inner[start..k], out);
                    start = k + 1;
                }
                _ => {}
            }
        }
        use_tree(&base, &inner[start..], out);
    } else if !tree.is_empty() {
        let tree = tree.split(" as ").next().unwrap_or(tree);
        let mut path = prefix.to_vec();
        path.extend(
            tree.split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
        out.push(path);
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every module path a file's code names: its `use` trees and the paths written inline.
fn paths_in(file: &File) -> Vec<Vec<String>> {
    let code = &file.code;
    let (kids, _) = children(code);
    let mut heads: Vec<String> = ["crate", "super", "self", "$crate"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    heads.extend(kids);
    let mut out = Vec::new();
    // `use` declarations.
    let mut rest = code.as_str();
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + 4..];
        if before.is_some_and(is_ident) {
            rest = after;
            continue;
        }
        let end = after.find(';').unwrap_or(after.len());
        let mut tree = Vec::new();
        use_tree(&[], &after[..end], &mut tree);
        out.extend(
            tree.into_iter()
                .filter(|p| p.first().is_some_and(|h| heads.contains(h))),
        );
        rest = &after[end..];
    }
    // Paths written inline: `crate::a::b`, `super::x`, `child::f`.
    let chars: Vec<(usize, char)> = code.char_indices().collect();
    for (n, &(at, c)) in chars.iter().enumerate() {
        if !(is_ident(c) || c == '$')
            || (n > 0
                && (is_ident(chars[n - 1].1) || chars[n - 1].1 == ':' || chars[n - 1].1 == '$'))
        {
            continue;
        }
        let word: String = code[at..]
            .chars()
            .take_while(|c| is_ident(*c) || *c == ':' || *c == '$')
            .collect();
        let segments: Vec<String> = word
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if segments.len() > 1 && heads.contains(&segments[0]) {
            out.push(segments);
        }
    }
    out
}

/// The file a path leads to: the deepest module file the path walks through.
fn resolve(
    from: &File,
    path: &[String],
    by_module: &BTreeMap<Vec<String>, usize>,
) -> Option<usize> {
    let mut base: Vec<String>;
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate" | "$crate") => {
            base = Vec::new();
            rest = &path[1..];
        }
        Some("super" | "self") => {
            base = from.module.clone();
            while let Some(head) = rest.first() {
                match head.as_str() {
                    "super" => {
                        base.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                rest = &rest[1..];
            }
        }
        Some(_) => base = from.module.clone(),
        None => return None,
    }
    let mut found = by_module.get(&base).copied();
    for seg in rest {
        base.push(seg.clone());
        if let Some(f) = by_module.get(&base) {
            found = Some(*f);
        }
    }
    found
}

/// Each file's edges to the other files it names.
fn graph(files: &[File]) -> Vec<BTreeSet<usize>> {
    let by_module: BTreeMap<Vec<String>, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.module.clone(), i))
        .collect();
    files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            paths_in(f)
                .iter()
                .filter_map(|p| resolve(f, p, &by_module))
                .filter(|t| *t != i && !files[*t].module.is_empty())
                .collect()
        })
        .collect()
}

/// The strongly connected components with more than one file (Tarjan).
fn circles(edges: &[BTreeSet<usize>]) -> Vec<Vec<usize>> {
    struct Walk<'e> {
        edges: &'e [BTreeSet<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        stack: Vec<usize>,
        on: Vec<bool>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(w: &mut Walk, v: usize) {
        w.index[v] = Some(w.next);
        w.low[v] = w.next;
        w.next += 1;
        w.stack.push(v);
        w.on[v] = true;
        for &t in w.edges[v].iter() {
            match w.index[t] {
                None => {
                    visit(w, t);
                    w.low[v] = w.low[v].min(w.low[t]);
                }
                Some(i) if w.on[t] => w.low[v] = w.low[v].min(i),
                _ => {}
            }
        }
        if Some(w.low[v]) == w.index[v] {
            let mut comp = Vec::new();
            while let Some(t) = w.stack.pop() {
                w.on[t] = false;
                comp.push(t);
                if t == v {
                    break;
                }
            }
            if comp.len() > 1 {
                w.out.push(comp);
            }
        }
    }
    let n = edges.len();
    let mut w = Walk {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        stack: Vec::new(),
        on: vec![false; n],
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if w.index[v].is_none() {
            visit(&mut w, v);
        }
    }
    w.out
}

fn layer_of(file: &File) -> Option<&str> {
    file.module.first().map(String::as_str)
}

/// Each circle, its files sorted.
fn circle_names(files: &[File], edges: &[BTreeSet<usize>]) -> Vec<String> {
    circles(edges)
        .into_iter()
        .map(|c| {
            let mut names: Vec<&str> = c.iter().map(|i| files[*i].rel.as_str()).collect();
            names.sort();
            names.join(", ")
        })
        .collect()
}

/// Every edge from a layer to one it may not name.
fn upward(files: &[File], edges: &[BTreeSet<usize>]) -> Vec<String> {
    let allowed: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut wrong = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let Some(layer) = layer_of(f) else { continue };
        let Some(may) = allowed.get(layer) else {
            wrong.push(format!("{} is in no layer", f.rel));
            continue;
        };
        for t in &edges[i] {
            let target = layer_of(&files[*t]).unwrap_or_default();
            if target != layer && !may.contains(&target) {
                wrong.push(format!(
                    "{} ({layer}) names {} ({target})",
                    f.rel, files[*t].rel
                ));
            }
        }
    }
    wrong
}

/// Whether the code names the crate (`krate::…` or `use krate`), not as part of another path.
fn paths_named(code: &str, krate: &str) -> bool {
    let mut rest = code;
    while let Some(at) = rest.find(krate) {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + krate.len()..];
        let starts = !before.is_some_and(|c| is_ident(c) || c == ':');
        let used = rest[..at].trim_end().ends_with("use") && after.starts_with([';', ' ']);
        if starts && (after.starts_with("::") || used) {
            return true;
        }
        rest = after;
    }
    false
}

/// Files that use a crate of [`CRATES`] outside the places that may.
fn outside_crates(files: &[File]) -> Vec<String> {
    let mut wrong = Vec::new();
    for (krate, places) in CRATES {
        for f in files {
            let allowed = places.iter().any(|p| match p.strip_suffix('/') {
                Some(dir) => f.rel.starts_with(&format!("{dir}/")),
                None => f.rel == *p,
            });
            if !allowed && paths_named(&f.code, krate) {
                wrong.push(format!("{} uses {krate}; only {places:?} may", f.rel));
            }
        }
    }
    wrong
}

/// Files with a `Result<…, String>`.
fn stringly(files: &[File]) -> Vec<String> {
    files
        .iter()
        .filter(|f| {
            let flat: String = f.code.split_whitespace().collect::<Vec<_>>().join(" ");
            flat.match_indices("Result<").any(|(at, _)| {
                let inner = &flat[at + "Result<".len()..];
                // The text up to this `Result`'s closing `>`, and its last top-level argument.
                let mut depth = 0usize;
                let mut last = 0;
                for (k, c) in inner.char_indices() {
                    match c {
                        '<' | '(' => depth += 1,
                        ')' => depth = depth.saturating_sub(1),
                        ',' if depth == 0 => last = k + 1,
                        '>' if depth == 0 => return inner[last..k].trim() == "String",
                        '>' => depth -= 1,
                        _ => {}
                    }
                }
                false
            })
        })
        .map(|f| f.rel.clone())
        .collect()
}

#[test]
fn no_import_circle() {
    let files = files();
    let found = circle_names(&files, &graph(&files));
    assert!(
        found.is_empty(),
        "these files name each other in a circle (move the shared item down to the lowest module that needs it):\n{}",
        found.join("\n")
    );
}

#[test]
fn a_layer_names_only_the_layers_below_it() {
    let files = files();
    let wrong = upward(&files, &graph(&files));
    assert!(
        wrong.is_empty(),
        "imports that reach up a layer (pass the value down, or move the type to the layer that owns it):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_outside_is_reached_from_one_place_each() {
    let wrong = outside_crates(&files());
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_file_fits_one_purpose() {
    let mut paths = Vec::new();
    walk(&src(), &mut paths);
    let long: Vec<String> = paths
        .iter()
        .filter_map(|p| {
            let n = std::fs::read_to_string(p).unwrap().lines().count();
            (n > MAX_LINES).then(|| format!("{} has {n} lines", p.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines; split them by what the code does:\n{}",
        long.join("\n")
    );
}

#[test]
fn errors_are_types_not_strings() {
    let found = stringly(&files());
    assert!(
        found.is_empty(),
        "these files return errors as strings; give the error a type (thiserror) that keeps its source:\n{}",
        found.join("\n")
    );
}

#[test]
fn lib_rs_declares_the_layers_bottom_up_and_maps_them() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod ").and_then(|r| r.strip_suffix(';')))
        .collect();
    let layers: Vec<&str> = LAYERS.iter().map(|l| l.0).collect();
    assert_eq!(
        declared, layers,
        "src/lib.rs must declare exactly the layers, bottom up"
    );
    for entry in std::fs::read_dir(src()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "lib" || name == "main" {
            continue;
        }
        assert!(
            path.is_dir() && layers.contains(&name.as_str()),
            "src/{name} is not a layer folder; every module lives in one of {layers:?}"
        );
        assert!(
            lib.contains(&format!("[`{name}`]")),
            "the module map at the top of src/lib.rs does not describe `{name}`"
        );
    }
}

/// The checks above, run on files written to break them: each must see what is wrong, and only
/// that (comments, strings and test code are not code).
#[test]
fn the_checks_see_what_they_should() {
    let file = |rel: &str, text: &str| File {
        rel: rel.to_string(),
        module: module_of(rel),
        code: without_inline_tests(&strip_comments_and_strings(text)),
    };
    let files = vec![
        file(
            "domain/a.rs",
            "use crate::domain::{b::B, c};\n// crate::app::x in a comment\npub fn f() -> Result<(), String> { let s = \"crate::web::y\"; let c = '\"'; }\n#[cfg(test)]\nmod tests { use crate::app::z; }\n",
        ),
        file("domain/b.rs", "pub struct B;\nfn g() -> Result<u8, Box<dyn Error>> { super::a::f(); }\n"),
        file("domain/c.rs", "mod inner;\nfn h() { inner::k(); crate::app::cli::run(); }\n"),
        file("app/cli.rs", "pub fn run() -> Result<HashMap<String, u8>, Problem> { polars_buffer::x() }\n"),
        file("app/db.rs", "use rusqlite::Connection;\n"),
    ];
    let edges = graph(&files);
    assert_eq!(
        edges[0],
        BTreeSet::from([1, 2]),
        "a names b and c, not what its comments, strings and tests say"
    );
    assert_eq!(edges[2], BTreeSet::from([3]));
    assert_eq!(circle_names(&files, &edges), ["domain/a.rs, domain/b.rs"]);
    assert_eq!(
        upward(&files, &edges),
        ["domain/c.rs (domain) names app/cli.rs (app)"]
    );
    assert_eq!(stringly(&files), ["domain/a.rs"]);
    assert_eq!(
        outside_crates(&files),
        [
            "app/cli.rs uses polars_buffer; only [\"data/compute/\"] may",
            "app/db.rs uses rusqlite; only [\"store/\"] may"
        ]
    );
}
