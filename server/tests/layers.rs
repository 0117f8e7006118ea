//! The server's layers, held by reading its source tree: handlers →
//! services → the backend-neutral `store` (trait and models) ← its backends
//! (`store/sqlite/`, later `store/postgres/`).
//!
//! Three rules, each a test:
//! * no import cycle between the server's top-level modules (a backend
//!   folder such as `store::sqlite` counts as a module of its own; the crate
//!   root `lib.rs`/`main.rs` wires everything and is left out);
//! * `store` itself (trait and models) imports no other module of the
//!   server, so a backend needs nothing but it;
//! * SQL and `rusqlite` appear only in a backend folder.
//!
//! Why a test and not a convention: the cycles and the SQL outside the
//! backend grew one convenient `use` at a time (issue 11). The scan is
//! textual (comments dropped, `use crate::…`, `crate::…::` and `super::…`
//! paths resolved), which is enough for a crate written in one style.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Where SQL and `rusqlite` may appear: one folder per backend.
const BACKEND_DIRS: &[&str] = &["store/sqlite/", "store/postgres/"];

/// Words that only SQL text contains.
const SQL_WORDS: &[&str] = &[
    "SELECT ",
    "INSERT ",
    "UPDATE ",
    "DELETE FROM",
    "CREATE TABLE",
];

/// The `src/` of the crate under test. `CARGO_MANIFEST_DIR` is read at run
/// time first, so the built test can be pointed at another checkout (to
/// see it fail on an older tree).
fn src_dir() -> PathBuf {
    let dir =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    Path::new(&dir).join("src")
}

/// Every `.rs` file under `dir`, as (path relative to `src/`, text).
fn sources(src: &Path) -> Vec<(String, String)> {
    fn walk(dir: &Path, src: &Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, src, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p
                    .strip_prefix(src)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(src, src, &mut out);
    assert!(!out.is_empty(), "no sources under {}", src.display());
    out
}

/// The text without comments (line, doc and block comments), strings kept:
/// a doc link to another module is not a dependency on it.
fn strip_comments(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut in_str = false;
    while i < b.len() {
        let c = b[i];
        if in_str {
            if c == b'\\' && i + 1 < b.len() {
                out.push_str(&text[i..i + 2]);
                i += 2;
                continue;
            }
            if c == b'"' {
                in_str = false;
            }
        } else if c == b'"' {
            // A char literal '"' is not a string.
            if !(i > 0 && b[i - 1] == b'\'' && b.get(i + 1) == Some(&b'\'')) {
                in_str = true;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
            continue;
        }
        // Copy one whole UTF-8 character.
        let len = text[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&text[i..i + len]);
        i += len;
    }
    out
}

/// The code without its `#[cfg(test)]` items: a unit test may reach
/// across modules to check that two of them agree (the OpenAPI pattern of a
/// header against its parser) without making them depend on each other.
fn strip_test_items(code: &str) -> String {
    const MARK: &str = "#[cfg(test)]";
    let b = code.as_bytes();
    let mut out = String::with_capacity(code.len());
    let mut from = 0;
    while let Some(at) = code[from..].find(MARK).map(|i| from + i) {
        out.push_str(&code[from..at]);
        let mut i = at + MARK.len();
        // The item ends at its first `;` outside braces, or with the brace
        // that closes its first `{`.
        let mut depth = 0usize;
        while i < b.len() {
            match b[i] {
                b'"' => {
                    i += 1;
                    while i < b.len() && b[i] != b'"' {
                        i += if b[i] == b'\\' { 2 } else { 1 };
                    }
                }
                b'\'' if b.get(i + 2) == Some(&b'\'') => i += 2,
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        i += 1;
                        break;
                    }
                }
                b';' if depth == 0 => {
                    i += 1;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        from = i.min(b.len());
    }
    out.push_str(&code[from..]);
    out
}

/// The module path of a file: `store/sqlite/mod.rs` → `[store, sqlite]`,
/// `field/ops.rs` → `[field, ops]`, `lib.rs` → `[]`.
fn module_of(rel: &str) -> Vec<String> {
    let rel = rel.trim_end_matches(".rs");
    let mut parts: Vec<String> = rel.split('/').map(str::to_owned).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The layer a module path belongs to: its top-level module, with a backend
/// folder (`store::sqlite`) a layer of its own. `None` for the crate root.
fn node_of(path: &[String], top: &BTreeSet<String>) -> Option<String> {
    let first = path.first()?;
    if !top.contains(first) {
        return None; // an item of the crate root (AppState, Config…)
    }
    for dir in BACKEND_DIRS {
        let parts: Vec<&str> = dir.trim_end_matches('/').split('/').collect();
        if path.len() >= parts.len() && path.iter().zip(&parts).all(|(a, b)| a == b) {
            return Some(parts.join("::"));
        }
    }
    Some(first.clone())
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The items of a `{a, b::c, d::{e, f}}` group, each as written.
fn group_items(s: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let mut depth = 0;
    let mut from = 1;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    items.push(s[from..i].trim());
                    break;
                }
            }
            ',' if depth == 1 => {
                items.push(s[from..i].trim());
                from = i + 1;
            }
            _ => {}
        }
    }
    items.retain(|i| !i.is_empty() && *i != "self");
    items
}

/// Every absolute module path a file names: `crate::x::…`, `super::…`
/// (resolved against the file's module), `use child::…` of a submodule
/// (`known` lists every module of the crate), grouped `{…}` imports
/// included.
fn referenced_paths(
    module: &[String],
    code: &str,
    known: &BTreeSet<Vec<String>>,
) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let boundary = |i: usize| {
        i == 0
            || !(bytes[i - 1].is_ascii_alphanumeric()
                || bytes[i - 1] == b'_'
                || bytes[i - 1] == b':')
    };
    for (i, _) in code.match_indices("crate::") {
        if !boundary(i) {
            continue;
        }
        push_path(Vec::new(), &code[i + "crate::".len()..], &mut out);
    }
    for (i, _) in code.match_indices("super::") {
        if !boundary(i) {
            continue;
        }
        let mut base = module.to_vec();
        let mut rest = &code[i..];
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
        push_path(base, rest, &mut out);
    }
    for (i, _) in code.match_indices("use ") {
        if i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_') {
            continue;
        }
        let rest = code[i + "use ".len()..].trim_start();
        let head = ident_at(rest);
        let mut child = module.to_vec();
        child.push(head.to_owned());
        if !head.is_empty() && known.contains(&child) {
            push_path(module.to_vec(), rest, &mut out);
        }
    }
    out
}

fn push_path(base: Vec<String>, rest: &str, out: &mut Vec<Vec<String>>) {
    let mut p = base;
    let mut rest = rest;
    // Two segments are enough to tell `store` from `store::sqlite`.
    while p.len() < 2 {
        if rest.starts_with('{') {
            for item in group_items(rest) {
                push_path(p.clone(), item, out);
            }
            return;
        }
        let id = ident_at(rest);
        if id.is_empty() {
            break;
        }
        p.push(id.to_owned());
        match rest[id.len()..].strip_prefix("::") {
            Some(r) => rest = r,
            None => break,
        }
    }
    if !p.is_empty() {
        out.push(p);
    }
}

struct Tree {
    /// Layer → layers it imports, with one file that does (for the message).
    edges: BTreeMap<String, BTreeMap<String, String>>,
    files: Vec<(String, String)>,
}

fn tree() -> Tree {
    let src = src_dir();
    let files = sources(&src);
    let top: BTreeSet<String> = files
        .iter()
        .filter_map(|(rel, _)| module_of(rel).first().cloned())
        .collect();
    let known: BTreeSet<Vec<String>> = files.iter().map(|(rel, _)| module_of(rel)).collect();
    let mut edges: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (rel, text) in &files {
        let module = module_of(rel);
        let Some(from) = node_of(&module, &top) else {
            continue;
        };
        let code = strip_test_items(&strip_comments(text));
        for path in referenced_paths(&module, &code, &known) {
            if let Some(to) = node_of(&path, &top).filter(|to| *to != from) {
                edges
                    .entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_insert_with(|| rel.clone());
            }
        }
    }
    Tree { edges, files }
}

/// One cycle of the graph, if there is any, as `a → b → … → a` with the
/// file behind each arrow.
fn find_cycle(edges: &BTreeMap<String, BTreeMap<String, String>>) -> Option<String> {
    fn dfs(
        n: &str,
        edges: &BTreeMap<String, BTreeMap<String, String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_owned(), 1);
        stack.push(n.to_owned());
        for m in edges.get(n).into_iter().flat_map(|e| e.keys()) {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| s == m).unwrap();
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = dfs(m, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            if let Some(c) = dfs(n, edges, &mut state, &mut Vec::new()) {
                let arrows: Vec<String> = c
                    .windows(2)
                    .map(|w| format!("{} → {} ({})", w[0], w[1], edges[&w[0]][&w[1]]))
                    .collect();
                return Some(arrows.join(", "));
            }
        }
    }
    None
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let t = tree();
    if let Some(cycle) = find_cycle(&t.edges) {
        panic!("import cycle: {cycle}");
    }
}

#[test]
fn the_store_trait_and_models_import_no_other_module() {
    let t = tree();
    let out: Vec<String> = t
        .edges
        .get("store")
        .into_iter()
        .flatten()
        .map(|(to, file)| format!("store → {to} ({file})"))
        .collect();
    assert!(
        out.is_empty(),
        "the store layer must stand alone: {}",
        out.join(", ")
    );
}

#[test]
fn sql_and_rusqlite_only_in_a_backend_folder() {
    let t = tree();
    let mut found = Vec::new();
    for (rel, text) in &t.files {
        if BACKEND_DIRS.iter().any(|d| rel.starts_with(d)) {
            continue;
        }
        let code = strip_comments(text);
        for w in SQL_WORDS {
            if code.contains(w) {
                found.push(format!("{rel}: SQL {w:?}"));
            }
        }
        if code.contains("rusqlite") {
            found.push(format!("{rel}: rusqlite"));
        }
    }
    assert!(
        found.is_empty(),
        "outside {BACKEND_DIRS:?}:\n{}",
        found.join("\n")
    );
}

/// The scanner itself: the paths it must see, so the tests above cannot
/// pass by seeing nothing.
#[test]
fn the_scanner_resolves_imports() {
    let m = vec!["store".to_owned(), "sqlite".to_owned(), "ledger".to_owned()];
    let known: BTreeSet<Vec<String>> = [vec!["store"], vec!["store", "sqlite"]]
        .iter()
        .map(|p| p.iter().map(|s| s.to_string()).collect())
        .collect();
    let root = vec!["store".to_owned()];
    let re_export = referenced_paths(&root, "pub use sqlite::{SqliteStore};", &known);
    assert_eq!(
        re_export,
        vec![vec!["store".to_owned(), "sqlite".to_owned()]]
    );
    let code = strip_comments(
        "// use crate::ignored::x;\nuse super::sync as sql;\nuse super::super::graph::G;\nuse crate::{validate, store::sqlite::x};\nlet s = \"// not a comment crate::auth::y\";\ncrate::sync::rules();",
    );
    let paths = referenced_paths(&m, &code, &known);
    let want: Vec<Vec<&str>> = vec![
        vec!["validate"],
        vec!["store", "sqlite"],
        vec!["auth", "y"],
        vec!["sync", "rules"],
        vec!["store", "sqlite"],
        vec!["store", "graph"],
    ];
    let got: Vec<Vec<&str>> = paths
        .iter()
        .map(|p| p.iter().map(String::as_str).collect())
        .collect();
    for w in &want {
        assert!(got.contains(w), "missing {w:?} in {got:?}");
    }
    assert!(!got.iter().any(|p| p.first() == Some(&"ignored")));
    let top: BTreeSet<String> = ["store", "sync"].iter().map(|s| s.to_string()).collect();
    assert_eq!(
        node_of(&m, &top).as_deref(),
        Some("store::sqlite"),
        "a backend folder is its own layer"
    );
    assert_eq!(node_of(&["AppState".to_owned()], &top), None);
    let kept = strip_test_items(
        "use crate::a::x;\n#[cfg(test)]\nmod tests { fn f() { let s = \"}\"; crate::b::y(); } }\n#[cfg(test)]\nuse crate::c::z;\nuse crate::d::w;",
    );
    let got: Vec<Vec<String>> = referenced_paths(&[], &kept, &BTreeSet::new());
    let heads: Vec<&str> = got.iter().map(|p| p[0].as_str()).collect();
    assert_eq!(heads, vec!["a", "d"], "test items are left out: {kept:?}");
}
