//! The code's structure, checked like behaviour: no file of either crate takes items from a
//! file that takes items from it back (no import circle), the top-level modules of the library
//! and of the command import each other one way only, and the pure core crate depends on
//! nothing that does I/O.
//!
//! Run `cargo test --test structure -- --nocapture` to print the import graphs.

mod circles;
mod graph;
mod modules;
mod tokens;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use circles::{circles, describe};
use graph::{add_crate, Graph};
use modules::Crate;

/// The workspace's folder.
fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The crates' root files, from the workspace's folder: the pure core, the library, the
/// command.
const CRATE_ROOTS: &[&str] = &["core/src/lib.rs", "src/lib.rs", "src/main.rs"];

/// The import graph of one crate's files, each named from the workspace's folder.
fn crate_graph(root: &str) -> Graph {
    let base = workspace();
    let read = |path: &Path| std::fs::read_to_string(path).ok();
    let krate = Crate::load(&base.join(root), &read).unwrap_or_else(|e| panic!("{e}"));
    let mut graph = Graph::new();
    add_crate(&mut graph, &krate, &|file| {
        let rel = file.strip_prefix(&base).expect("in the workspace");
        rel.to_string_lossy().into_owned()
    });
    graph
}

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

/// The graph between the top-level modules of a crate, from its file graph: each of the
/// root's `mod x;` is a node with all the files (and blocks of tests) under it, and the root
/// file is `crate`.
fn module_graph(root: &str, files: &Graph) -> Graph {
    let folder = Path::new(root).parent().expect("a folder");
    let module_of = |node: &str| -> String {
        let file = node.split('#').next().expect("a file");
        let rel = Path::new(file).strip_prefix(folder).expect("in the crate");
        if rel == Path::new(root).strip_prefix(folder).expect("the root") {
            return "crate".to_owned();
        }
        let first = rel.components().next().expect("a component");
        let name = first.as_os_str().to_string_lossy();
        name.strip_suffix(".rs").unwrap_or(&name).to_owned()
    };
    let mut modules = Graph::new();
    for (from, edges) in files {
        let module = module_of(from);
        let deps = modules.entry(module.clone()).or_default();
        for (to, why) in edges {
            let dep = module_of(to);
            if dep != module {
                deps.entry(dep)
                    .or_insert_with(|| format!("{from} -> {to}, {why}"));
            }
        }
    }
    modules
}

fn print_graph(graph: &Graph) {
    for (node, deps) in graph {
        let deps: Vec<&str> = deps.keys().map(String::as_str).collect();
        println!("{node} -> {}", deps.join(", "));
    }
}

/// A crate of small files, as `(path, text)`, its root `lib.rs`; its file graph.
fn graph_of(files: &[(&str, &str)]) -> Graph {
    let files: BTreeMap<PathBuf, String> = files
        .iter()
        .map(|(path, text)| (PathBuf::from(path), text.to_string()))
        .collect();
    let read = |path: &Path| files.get(path).cloned();
    let krate = Crate::load(Path::new("lib.rs"), &read).unwrap_or_else(|e| panic!("{e}"));
    let mut graph = Graph::new();
    add_crate(&mut graph, &krate, &|file| {
        file.to_string_lossy().into_owned()
    });
    graph
}

/// The edges of `graph`, as `from -> to`.
fn edges(graph: &Graph) -> Vec<String> {
    graph
        .iter()
        .flat_map(|(from, deps)| deps.keys().map(move |to| format!("{from} -> {to}")))
        .collect()
}

#[test]
fn declaring_a_child_is_no_edge_and_using_its_items_is() {
    let g = graph_of(&[
        ("lib.rs", "mod a;\nmod b;\n"),
        ("a.rs", "pub struct A;"),
        ("b/mod.rs", "mod c;\npub fn f() { c::g(); }"),
        ("b/c.rs", "pub fn g() {}"),
    ]);
    assert_eq!(edges(&g), ["b/mod.rs -> b/c.rs"]);
    assert_eq!(g.len(), 4, "every file is a node: {g:?}");
}

#[test]
fn use_groups_and_inline_paths_are_edges() {
    let g = graph_of(&[
        ("lib.rs", "mod a;\nmod b;\nmod c;\nmod d;\npub struct Root;"),
        ("a.rs", "pub struct A;"),
        ("b/mod.rs", "pub mod x;\npub type B = u8;"),
        ("b/x.rs", "pub struct X;"),
        (
            "c.rs",
            "use super::{a, b::x::X};\nuse std::net::SocketAddr;\n\
             fn f() { let _ = a::A; let _ = crate::Root; let _: SocketAddr; }",
        ),
        (
            "d.rs",
            "fn g() { super::b::B::new(); self::h(); }\nfn h() {}",
        ),
    ]);
    assert_eq!(
        edges(&g),
        [
            "c.rs -> a.rs",
            "c.rs -> b/x.rs",
            "c.rs -> lib.rs",
            "d.rs -> b/mod.rs"
        ]
    );
}

#[test]
fn re_exports_lead_to_the_file_that_defines_the_item() {
    let g = graph_of(&[
        ("lib.rs", "mod d;\nuse d::{Finding as F, Kind};"),
        (
            "d/mod.rs",
            "mod finding;\nmod rules;\npub use finding::*;\npub use rules::Kind;",
        ),
        ("d/finding.rs", "pub struct Finding;"),
        ("d/rules.rs", "use super::Finding;\npub enum Kind {}"),
    ]);
    assert_eq!(
        edges(&g),
        [
            "d/mod.rs -> d/finding.rs",
            "d/mod.rs -> d/rules.rs",
            "d/rules.rs -> d/finding.rs",
            "lib.rs -> d/finding.rs",
            "lib.rs -> d/rules.rs"
        ]
    );
}

/// Inline modules resolve `super::` from where they are; a `#[cfg(test)]` one is a node of its
/// own (`a.rs#tests`), above the file it tests; comments and strings are no code.
#[test]
fn inline_modules_and_comments_are_read_as_the_compiler_reads_them() {
    let g = graph_of(&[
        ("lib.rs", "mod a;\nmod b;"),
        (
            "a.rs",
            "// use crate::b::B;\nconst S: &str = \"super::b::B\";\n\
             fn f() {}\n#[cfg(test)]\nmod tests {\n    use super::*;\n    fn t() { f() }\n}\n\
             mod inner { mod deeper { fn g() { super::super::super::b::B; } } }",
        ),
        ("b.rs", "pub struct B;\nmod t { use super::super::a::*; }"),
    ]);
    assert_eq!(
        edges(&g),
        ["a.rs -> b.rs", "a.rs#tests -> a.rs", "b.rs -> a.rs"]
    );
    assert_eq!(g["a.rs"]["b.rs"], "line 9: super::super::super::b::B");
    assert_eq!(g["b.rs"]["a.rs"], "line 2: super::super::a::*");
}

#[test]
fn the_circle_finder_names_every_circle_with_its_files() {
    let g = graph_of(&[
        ("lib.rs", "mod a;\nmod b;\nmod c;\nmod d;\nmod e;"),
        ("a.rs", "use crate::b::B;\npub struct A;"),
        ("b.rs", "use crate::c::C;\npub struct B;"),
        ("c.rs", "use crate::a::A;\npub struct C;"),
        ("d.rs", "use crate::e::E;\npub struct D;\nuse crate::a::A;"),
        ("e.rs", "use crate::d::D;\npub struct E;"),
    ]);
    assert_eq!(
        circles(&g),
        [vec!["a.rs", "b.rs", "c.rs"], vec!["d.rs", "e.rs"]]
    );
    assert_eq!(
        describe(&["d.rs".to_owned(), "e.rs".to_owned()], &g),
        "    d.rs -> e.rs  (line 1: crate::e::E)\n    e.rs -> d.rs  (line 1: crate::d::D)\n"
    );
    let chain = graph_of(&[
        ("lib.rs", "mod a;\nmod b;"),
        ("a.rs", "use crate::b::B;"),
        ("b.rs", "pub struct B;"),
    ]);
    assert!(circles(&chain).is_empty());
}

#[test]
fn no_file_imports_one_that_imports_it_back() {
    let mut graph = Graph::new();
    for root in CRATE_ROOTS {
        graph.extend(crate_graph(root));
    }
    print_graph(&graph);
    let mut files = Vec::new();
    rust_files(&workspace().join("src"), &mut files);
    rust_files(&workspace().join("core/src"), &mut files);
    for file in &files {
        let name = file.strip_prefix(workspace()).expect("in the workspace");
        let name = name.to_string_lossy();
        assert!(
            graph.contains_key(name.as_ref()),
            "{name} is in no crate's module tree"
        );
    }
    let problems: String = circles(&graph)
        .iter()
        .map(|circle| {
            format!(
                "import circle between {}:\n{}",
                circle.join(", "),
                describe(circle, &graph)
            )
        })
        .collect();
    assert!(problems.is_empty(), "\n{problems}");
}

/// The crates whose top-level modules are layers, one above the other. Not the core: its
/// layers' unit tests and their frame builders (`testframes`) run the layers above
/// (`analyze`'s tests read `diagnose`'s findings).
const LAYERED_CRATES: &[&str] = &["src/lib.rs", "src/main.rs"];

#[test]
fn no_module_imports_one_that_imports_it_back() {
    for root in LAYERED_CRATES {
        let graph = module_graph(root, &crate_graph(root));
        println!("{root}:");
        print_graph(&graph);
        let problems: String = circles(&graph)
            .iter()
            .map(|circle| {
                let modules = circle.join(", ");
                format!(
                    "import circle between the modules {modules} of {root}:\n{}",
                    describe(circle, &graph)
                )
            })
            .collect();
        assert!(problems.is_empty(), "\n{problems}");
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
