//! The code's structure, checked like behaviour: the modules of the binary crate import each
//! other one way only (no cycle), and the pure core crate depends on nothing that does I/O.
//!
//! Run `cargo test --test structure -- --nocapture` to print the import graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`src/lab/runner.rs` → `lab`); the binary's
/// own files (`main.rs`, `cli.rs`) are `main`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next().expect("a component");
    let name = first.as_os_str().to_string_lossy();
    match name.strip_suffix(".rs") {
        Some("main" | "cli") => "main".to_owned(),
        Some("lib") => "lib".to_owned(),
        Some(stem) => stem.to_owned(),
        None => name.into_owned(),
    }
}

/// Top-level modules named in `text` as `crate::<module>` (code only: comments are skipped).
fn crate_references(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let before = rest[..at].chars().last();
            rest = &rest[at + "crate::".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // e.g. `connlab_crate::`
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// The import graph between the top-level modules of `src/`.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let module = module_of(&src, &file);
        let text = std::fs::read_to_string(&file).expect("read file");
        let deps = graph.entry(module.clone()).or_default();
        for dep in crate_references(&text) {
            if dep != module {
                deps.insert(dep);
            }
        }
    }
    graph
}

/// A cycle in `graph`, as the path that closes it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|start| visit(start, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("capture".into()).or_default().insert("tui".into());
    g.entry("tui".into()).or_default().insert("net".into());
    assert_eq!(find_cycle(&g), None);
    g.entry("tui".into()).or_default().insert("capture".into());
    assert_eq!(
        find_cycle(&g),
        Some(vec!["capture".into(), "tui".into(), "capture".into()])
    );
    let refs = crate_references("use crate::lab::x; // crate::tui\nlet a = crate::net::y;");
    assert_eq!(refs, BTreeSet::from(["lab".into(), "net".into()]));
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let graph = import_graph();
    for (module, deps) in &graph {
        println!(
            "{module} -> {}",
            deps.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    assert!(
        graph.contains_key("capture") && graph.contains_key("lab"),
        "{graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle: {}", cycle.join(" -> "));
    }
}

/// The packages `package` depends on when built, transitively, for this machine's target.
/// Asked of `cargo tree -e normal`, because Cargo.lock also lists dev-dependencies (the core's
/// tests use rustls, which does I/O; the product does not).
fn build_dependencies(package: &str) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-p",
            package,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .filter_map(|line| line.split(' ').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_pure_core_depends_on_nothing_that_does_io() {
    let deps = build_dependencies("connlab-core");
    assert!(deps.contains("pnet_packet"), "{deps:?}");
    for io in ["tokio", "nix", "libc", "mio", "socket2", "rtnetlink"] {
        assert!(!deps.contains(io), "connlab-core depends on {io}: {deps:?}");
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("core/src/lib.rs");
    let lib = std::fs::read_to_string(manifest).expect("core lib.rs");
    assert!(
        lib.contains("#![forbid(unsafe_code)]"),
        "the core stays safe Rust"
    );
}

#[test]
fn the_readme_shows_the_knob_table_as_the_core_holds_it() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let rows: Vec<connlab_core::diagnose::KnobRow> = connlab_core::diagnose::knob_table().collect();
    assert!(
        readme.contains(&format!("The knob table: {} rows", rows.len())),
        "README's count of rows"
    );
    for row in rows {
        let stacks = if row.default {
            format!("{} (default)", row.stacks)
        } else {
            row.stacks.to_owned()
        };
        let line = format!("| `{}` | {stacks} | {} |", row.finding, row.knob);
        assert!(readme.contains(&line), "README lacks the row {line}");
    }
}
