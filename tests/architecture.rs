//! The architecture invariants of ARCHITECTURE.md, checked on the source text: which module may
//! use which crate, and that `lib.rs` lists every module. (The clock rule is clippy's:
//! `disallowed_methods` in clippy.toml.)

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Files under src/ whose code (comments aside) names `krate`, relative to src/.
fn users_of(krate: &str) -> Vec<String> {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let mut users: Vec<String> = files
        .iter()
        .filter(|f| {
            std::fs::read_to_string(f).unwrap().lines().any(|l| {
                let code = l.trim_start();
                !code.starts_with("//")
                    && (code.contains(&format!("{krate}::"))
                        || code.contains(&format!("use {krate}")))
            })
        })
        .map(|f| {
            f.strip_prefix(src())
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect();
    users.sort();
    users
}

#[test]
fn only_compute_uses_polars() {
    assert_eq!(users_of("polars"), ["compute.rs"]);
}

#[test]
fn only_notify_uses_lettre() {
    let outside: Vec<String> = users_of("lettre")
        .into_iter()
        .filter(|f| !f.starts_with("notify/"))
        .collect();
    assert!(
        outside.is_empty(),
        "{outside:?} use lettre; only notify/ may (addresses are crate::address types)"
    );
}

#[test]
fn lib_rs_lists_every_module() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    for entry in std::fs::read_dir(src()).unwrap() {
        let path = entry.unwrap().path();
        let name = if path.is_dir() {
            path.file_name().unwrap().to_string_lossy().into_owned()
        } else if path.extension().is_some_and(|e| e == "rs") {
            path.file_stem().unwrap().to_string_lossy().into_owned()
        } else {
            continue;
        };
        if name == "lib" || name == "main" {
            continue;
        }
        assert!(
            lib.contains(&format!("pub mod {name};")),
            "src/lib.rs does not list the module `{name}`"
        );
        assert!(
            lib.contains(&format!("[`{name}`]")),
            "the module map at the top of src/lib.rs does not describe `{name}`"
        );
    }
}
