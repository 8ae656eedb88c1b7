//! Which file each written path leads to, and from that the import graph between files.
//!
//! A path is followed as the compiler follows it: through child modules, `use` declarations
//! (a re-export leads on to the file that defines the item) and glob imports. A path that
//! ends at a module names no item: `use super::track;` is no edge by itself, but
//! `track::Cause` written later is one, to `track.rs`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::modules::Crate;

/// Where a path leads.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// A module of the crate.
    Module(usize),
    /// An item defined in the code of this module.
    Item(usize),
    /// Another crate, the prelude, or a name local to a function.
    Outside,
}

/// How many `use` declarations are followed one into another (a loop of them ends there).
const MAX_HOPS: usize = 32;

impl Crate {
    /// Where `path`, written in module `from`, leads.
    pub fn resolve(&self, from: usize, path: &[String]) -> Target {
        self.resolve_hops(from, path, 0)
    }

    fn resolve_hops(&self, from: usize, path: &[String], hops: usize) -> Target {
        let mut at = from;
        for (n, segment) in path.iter().enumerate() {
            at = match (n, segment.as_str()) {
                (0, "crate") => 0,
                (0, "self") => from,
                (_, "super") => match self.modules[at].parent {
                    Some(parent) => parent,
                    None => return Target::Outside,
                },
                (0, "::") => return Target::Outside,
                _ => match self.lookup(at, segment, hops) {
                    Some(Target::Module(module)) => module,
                    Some(found) => return found,
                    // A bare name nothing here defines: another crate's, or a local one.
                    None if n == 0 => return Target::Outside,
                    // Within this crate's module, a name no declaration shows (a macro's).
                    None => return Target::Item(at),
                },
            };
        }
        Target::Module(at)
    }

    /// What `name` is in module `module`: a child module, an import, an item, or an item of a
    /// module it imports with `*`.
    fn lookup(&self, module: usize, name: &str, hops: usize) -> Option<Target> {
        if hops > MAX_HOPS {
            return None;
        }
        let here = &self.modules[module];
        if let Some(&child) = here.children.get(name) {
            return Some(Target::Module(child));
        }
        if let Some(path) = here.imports.get(name) {
            return Some(self.resolve_hops(module, path, hops + 1));
        }
        if here.items.contains(name) {
            return Some(Target::Item(module));
        }
        here.globs
            .iter()
            .find_map(|glob| match self.resolve_hops(module, glob, hops + 1) {
                Target::Module(other) if other != module => self.lookup(other, name, hops + 1),
                _ => None,
            })
    }
}

/// An import graph: each node (a file, or a module), and the nodes it takes items from, each
/// with why (the first path that does: `line 12: super::track::Cause`).
pub type Graph = BTreeMap<String, BTreeMap<String, String>>;

/// Adds the files of `krate` and their edges to `graph`, each file called by `name`.
pub fn add_crate(graph: &mut Graph, krate: &Crate, name: &dyn Fn(&Path) -> String) {
    let node = |module: &crate::modules::Module| match &module.test_block {
        Some(block) => format!("{}#{block}", name(&module.file)),
        None => name(&module.file),
    };
    for (index, module) in krate.modules.iter().enumerate() {
        let from = node(module);
        let edges = graph.entry(from.clone()).or_default();
        for written in &module.paths {
            let to = match krate.resolve(index, &written.path) {
                Target::Item(owner) => owner,
                Target::Module(owner) if written.glob => owner,
                _ => continue,
            };
            let to = node(&krate.modules[to]);
            if to != from {
                let glob = if written.glob { "::*" } else { "" };
                let path = written.path.join("::");
                edges
                    .entry(to)
                    .or_insert_with(|| format!("line {}: {path}{glob}", written.line));
            }
        }
    }
}
