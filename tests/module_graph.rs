//! The top-level modules must form layers: a module never reaches, through
//! others, back to itself. Edges are `crate::<module>` paths in each
//! module's files. Any module on a cycle fails the build. Config is the
//! bottom layer among the engines: it may use only the leaf utilities.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What config may use: leaves that use nothing of this crate themselves.
const CONFIG_MAY_USE: &[&str] = &["hex", "iam", "keys", "sealing", "seclang", "tls"];

fn top_level_modules(src: &Path) -> BTreeSet<String> {
    std::fs::read_dir(src)
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            let name = path.file_stem()?.to_string_lossy().into_owned();
            let module = path.is_dir() || path.extension().is_some_and(|x| x == "rs");
            (module && name != "lib" && name != "main").then_some(name)
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let modules = top_level_modules(src);
    let uses = regex::Regex::new(r"crate::([a-z_]+)").unwrap();
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let from = Path::new(first)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if !modules.contains(&from) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for found in uses.captures_iter(&text) {
            let to = &found[1];
            if to != from && modules.contains(to) {
                edges
                    .entry(from.clone())
                    .or_default()
                    .insert(to.to_string());
            }
        }
    }
    edges
}

/// The modules reachable from `start` (itself excluded unless on a cycle).
fn reachable(edges: &BTreeMap<String, BTreeSet<String>>, start: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<&str> = edges
        .get(start)
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    while let Some(next) = todo.pop() {
        if seen.insert(next.to_string()) {
            todo.extend(edges.get(next).into_iter().flatten().map(String::as_str));
        }
    }
    seen
}

#[test]
fn top_level_modules_form_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = graph(&src);
    let on_a_cycle: BTreeSet<String> = top_level_modules(&src)
        .into_iter()
        .filter(|m| reachable(&edges, m).contains(m))
        .collect();
    assert!(
        on_a_cycle.is_empty(),
        "modules on a dependency cycle: {on_a_cycle:?}\nedges: {edges:#?}"
    );
}

#[test]
fn config_is_the_bottom_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = graph(&src);
    let uses: Vec<&String> = edges
        .get("config")
        .into_iter()
        .flatten()
        .filter(|m| !CONFIG_MAY_USE.contains(&m.as_str()))
        .collect();
    assert!(uses.is_empty(), "config uses {uses:?}");
    for leaf in CONFIG_MAY_USE {
        let reach = reachable(&edges, leaf);
        assert!(
            reach.iter().all(|m| CONFIG_MAY_USE.contains(&m.as_str())),
            "{leaf} reaches {reach:?}"
        );
    }
}
