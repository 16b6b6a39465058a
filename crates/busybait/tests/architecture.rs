//! The shape of the code, checked: no module of a crate depends, through others, on
//! itself (a cycle makes two modules one idea in two files), and the sans-IO crates
//! stay free of the runtime and the network.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Cycles between top-level modules that are allowed, with the reason. Empty: a new
/// one fails this test until it is taken apart or written down here.
const ALLOWED_CYCLES: &[(&str, &[&str], &str)] = &[];

fn crates() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Source without comments and string literals (a path named in a doc comment is no
/// dependency).
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'"' && (i == 0 || b[i - 1] != b'\'') {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Top-level module -> the top-level modules it names (`crate::m`, or `super::m`
/// from a top-level module's own file).
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel: Vec<String> = file
            .strip_prefix(src)
            .unwrap()
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        if rel.len() == 1 && (rel[0] == "lib.rs" || rel[0] == "main.rs") {
            continue;
        }
        let top = rel[0].trim_end_matches(".rs").to_string();
        // How many `super::` reach the crate root from this file.
        let depth = if rel.last().is_some_and(|l| l == "mod.rs") {
            rel.len() - 1
        } else {
            rel.len()
        };
        let to_root = "super::".repeat(depth);
        let text = code_only(&std::fs::read_to_string(&file).unwrap());
        let mut names = BTreeSet::new();
        for (prefix, must_not_follow) in [("crate::", ""), (to_root.as_str(), "super::")] {
            for (at, _) in text.match_indices(prefix) {
                if !must_not_follow.is_empty() && text[..at].ends_with(must_not_follow) {
                    continue;
                }
                let name: String = text[at + prefix.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != top && !name.starts_with(|c: char| c.is_uppercase())
                {
                    names.insert(name);
                }
            }
        }
        graph.entry(top).or_default().extend(names);
    }
    graph
}

/// Strongly connected components of more than one module.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(m) = todo.pop() {
            for next in graph.get(&m).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let mut out: Vec<BTreeSet<String>> = Vec::new();
    for m in graph.keys() {
        let from_m = reach(m);
        if !from_m.contains(m) {
            continue;
        }
        let component: BTreeSet<String> = from_m
            .iter()
            .filter(|other| reach(other).contains(m))
            .cloned()
            .collect();
        if !out.contains(&component) {
            out.push(component);
        }
    }
    out
}

#[test]
fn no_module_depends_on_itself_through_others() {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(crates()).unwrap() {
        let dir = entry.unwrap().path();
        let src = dir.join("src");
        if !src.is_dir() {
            continue;
        }
        let crate_name = dir.file_name().unwrap().to_string_lossy().into_owned();
        for cycle in cycles(&module_graph(&src)) {
            let allowed = ALLOWED_CYCLES.iter().any(|(c, modules, _)| {
                *c == crate_name && cycle.iter().map(String::as_str).eq(modules.iter().copied())
            });
            if !allowed {
                found.push(format!("{crate_name}: {cycle:?}"));
            }
        }
    }
    assert!(found.is_empty(), "module cycles: {found:#?}");
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(str::to_string).collect()))
    .collect();
    let found = cycles(&graph);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0], ["a", "b", "c"].map(str::to_string).into());
}

#[test]
fn sans_io_crates_use_no_runtime_and_no_network() {
    for krate in ["events", "device", "telnet", "ssh", "http", "intel", "wire"] {
        let manifest = std::fs::read_to_string(crates().join(krate).join("Cargo.toml")).unwrap();
        let deps = manifest
            .split("[dependencies]")
            .nth(1)
            .unwrap_or_default()
            .split("\n[")
            .next()
            .unwrap_or_default();
        for forbidden in ["tokio", "mio", "socket2", "async-std", "reqwest", "hyper"] {
            assert!(
                !deps.lines().any(|l| l.trim_start().starts_with(forbidden)),
                "{krate} depends on {forbidden}"
            );
        }
    }
}
