//! A crate's modules as the compiler finds them: from the root file, each `mod x;` in `x.rs`
//! or `x/mod.rs`, each inline `mod x { ... }` inside its file; and for each module, the items
//! it defines, the names it imports and every path its code writes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::tokens::{tokens, Located, Token};

/// The modules of one crate; the root is the first.
#[derive(Debug)]
pub struct Crate {
    pub modules: Vec<Module>,
}

/// One module: a file, or an inline `mod x { ... }` within one.
#[derive(Debug)]
pub struct Module {
    /// The file its code is in (an inline module's is the file around it).
    pub file: PathBuf,
    /// The `#[cfg(test)]` inline module this code is in, if any (`tests`): tests sit above
    /// the code they test, so their imports are not the file's.
    pub test_block: Option<String>,
    /// The folder its `mod x;` children are in.
    dir: PathBuf,
    pub parent: Option<usize>,
    pub children: BTreeMap<String, usize>,
    /// `use` declarations: the name each brings in, and the path as written here.
    pub imports: BTreeMap<String, Vec<String>>,
    /// `use path::*`, as written here.
    pub globs: Vec<Vec<String>>,
    /// Names defined here (functions, types, traits, constants, statics, macros).
    pub items: BTreeSet<String>,
    /// Every path written here, in `use` declarations and in code.
    pub paths: Vec<Written>,
}

/// A path written in a module, as written (`super::track::Cause`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub path: Vec<String>,
    /// `use path::*`: all of that module's items.
    pub glob: bool,
    pub line: usize,
}

/// Keywords followed by the name of the item they define.
const ITEM_KEYWORDS: &[&str] = &[
    "fn", "struct", "enum", "union", "trait", "type", "const", "static",
];

impl Crate {
    /// The crate whose root file is `root`; `read` gives a file's text (None: no such file).
    pub fn load(root: &Path, read: &dyn Fn(&Path) -> Option<String>) -> Result<Crate, String> {
        let text = read(root).ok_or_else(|| format!("no crate root {}", root.display()))?;
        let dir = root.parent().expect("a folder").to_path_buf();
        let mut krate = Crate {
            modules: vec![Module::new(root.to_path_buf(), dir, None)],
        };
        krate.read_file(0, &text, read)?;
        Ok(krate)
    }

    /// Reads the code of the file of module `module`, and the files of its `mod x;` children.
    fn read_file(
        &mut self,
        module: usize,
        text: &str,
        read: &dyn Fn(&Path) -> Option<String>,
    ) -> Result<(), String> {
        let toks = tokens(text);
        // The modules open at this point of the file, with the brace depth inside each.
        let mut open: Vec<(usize, usize)> = vec![(module, 0)];
        let mut depth = 0;
        let mut i = 0;
        while i < toks.len() {
            let here = open.last().expect("the file's module").0;
            let ident = |at: usize| match toks.get(at).map(|t| &t.token) {
                Some(Token::Ident(name)) => Some(name.as_str()),
                _ => None,
            };
            let mark = |at: usize| match toks.get(at).map(|t| &t.token) {
                Some(Token::Mark(c)) => Some(*c),
                _ => None,
            };
            match (&toks[i].token, ident(i + 1)) {
                (Token::Mark('{'), _) => depth += 1,
                (Token::Mark('}'), _) => {
                    depth -= 1;
                    if open.len() > 1 && depth < open.last().expect("open").1 {
                        open.pop();
                    }
                }
                (Token::Ident(kw), Some(name)) if kw == "mod" => {
                    let name = name.to_owned();
                    match mark(i + 2) {
                        Some(';') => {
                            let (child, text) = self.child_file(here, &name, read)?;
                            self.read_file(child, &text, read)?;
                        }
                        Some('{') => {
                            let dir = self.modules[here].dir.join(&name);
                            let file = self.modules[here].file.clone();
                            let mut module = Module::new(file, dir, Some(here));
                            module.test_block = self.modules[here].test_block.clone();
                            if module.test_block.is_none() && test_only(&toks[..i]) {
                                module.test_block = Some(name.clone());
                            }
                            let child = self.add(here, &name, module);
                            depth += 1;
                            open.push((child, depth));
                        }
                        _ => {}
                    }
                    i += 3;
                    continue;
                }
                (Token::Ident(kw), _) if kw == "use" => {
                    i = self.use_tree(here, &toks, i + 1, Vec::new());
                    while i < toks.len() && toks[i].token != Token::Mark(';') {
                        i += 1;
                    }
                }
                (Token::Ident(kw), Some(name)) if ITEM_KEYWORDS.contains(&kw.as_str()) => {
                    self.modules[here].items.insert(name.to_owned());
                }
                (Token::Ident(kw), _) if kw == "macro_rules" && mark(i + 1) == Some('!') => {
                    if let Some(name) = ident(i + 2) {
                        self.modules[here].items.insert(name.to_owned());
                    }
                }
                (Token::Ident(first), _) if i == 0 || toks[i - 1].token != Token::PathSep => {
                    let mut path = vec![first.clone()];
                    while toks.get(i + 1).map(|t| &t.token) == Some(&Token::PathSep) {
                        let Some(next) = ident(i + 2) else { break };
                        path.push(next.to_owned());
                        i += 2;
                    }
                    if path.len() > 1 {
                        let line = toks[i].line;
                        self.modules[here].paths.push(Written {
                            path,
                            glob: false,
                            line,
                        });
                    }
                }
                _ => {}
            }
            i += 1;
        }
        Ok(())
    }

    /// The file of `mod name;` declared in module `parent`: `name.rs`, else `name/mod.rs`.
    fn child_file(
        &mut self,
        parent: usize,
        name: &str,
        read: &dyn Fn(&Path) -> Option<String>,
    ) -> Result<(usize, String), String> {
        let dir = &self.modules[parent].dir;
        let flat = dir.join(format!("{name}.rs"));
        let nested = dir.join(name).join("mod.rs");
        let (file, text) = match read(&flat) {
            Some(text) => (flat, text),
            None => match read(&nested) {
                Some(text) => (nested, text),
                None => {
                    return Err(format!(
                        "`mod {name};` in {}: neither {} nor {} exists",
                        self.modules[parent].file.display(),
                        flat.display(),
                        nested.display()
                    ))
                }
            },
        };
        let dir = dir.join(name);
        let child = self.add(parent, name, Module::new(file, dir, Some(parent)));
        Ok((child, text))
    }

    fn add(&mut self, parent: usize, name: &str, module: Module) -> usize {
        self.modules.push(module);
        let child = self.modules.len() - 1;
        self.modules[parent].children.insert(name.to_owned(), child);
        child
    }

    /// Reads one tree of a `use` declaration from `toks[i]` (`a::b`, `a::{b, c::D as E}`,
    /// `a::*`, `a::{self}`), under `prefix`; returns where it ends.
    fn use_tree(
        &mut self,
        module: usize,
        toks: &[Located],
        mut i: usize,
        prefix: Vec<String>,
    ) -> usize {
        let mut path = prefix;
        if path.is_empty() && toks.get(i).map(|t| &t.token) == Some(&Token::PathSep) {
            path.push("::".to_owned()); // `use ::name`: another crate
            i += 1;
        }
        loop {
            let Some(here) = toks.get(i) else { return i };
            match &here.token {
                Token::Ident(name)
                    if toks.get(i + 1).map(|t| &t.token) == Some(&Token::PathSep) =>
                {
                    path.push(name.clone());
                    i += 2;
                }
                Token::Ident(name) => {
                    i += 1;
                    let mut alias = None;
                    if toks.get(i).map(|t| &t.token) == Some(&Token::Ident("as".to_owned())) {
                        if let Some(Token::Ident(renamed)) = toks.get(i + 1).map(|t| &t.token) {
                            alias = Some(renamed.clone());
                        }
                        i += 2;
                    }
                    if name != "self" {
                        path.push(name.clone());
                    }
                    let Some(last) = alias.or_else(|| path.last().cloned()) else {
                        return i;
                    };
                    let module = &mut self.modules[module];
                    if last != "_" {
                        module.imports.insert(last, path.clone());
                    }
                    module.paths.push(Written {
                        path,
                        glob: false,
                        line: here.line,
                    });
                    return i;
                }
                Token::Mark('*') => {
                    let module = &mut self.modules[module];
                    module.globs.push(path.clone());
                    module.paths.push(Written {
                        path,
                        glob: true,
                        line: here.line,
                    });
                    return i + 1;
                }
                Token::Mark('{') => {
                    i += 1;
                    loop {
                        match toks.get(i).map(|t| &t.token) {
                            None => return i,
                            Some(Token::Mark('}')) => return i + 1,
                            Some(Token::Mark(',')) => i += 1,
                            Some(_) => {
                                let before = i;
                                i = self.use_tree(module, toks, i, path.clone());
                                if i == before {
                                    i += 1; // not a tree: step over it
                                }
                            }
                        }
                    }
                }
                _ => return i,
            }
        }
    }
}

impl Module {
    fn new(file: PathBuf, dir: PathBuf, parent: Option<usize>) -> Module {
        Module {
            file,
            test_block: None,
            dir,
            parent,
            children: BTreeMap::new(),
            imports: BTreeMap::new(),
            globs: Vec::new(),
            items: BTreeSet::new(),
            paths: Vec::new(),
        }
    }
}

/// Whether the item that follows `before` is `#[cfg(test)]` (or `#[cfg(all(test, ...))]`):
/// reads its attributes back, past its visibility (`pub`, `pub(crate)`).
fn test_only(before: &[Located]) -> bool {
    let ident = |t: &Located, word: &str| t.token == Token::Ident(word.to_owned());
    let mut end = before.len();
    if let Some(at) = before.iter().rposition(|t| ident(t, "pub")) {
        let rest = &before[at + 1..];
        let bracketed = rest.first().is_some_and(|t| t.token == Token::Mark('('))
            && rest.last().is_some_and(|t| t.token == Token::Mark(')'))
            && !rest
                .iter()
                .any(|t| matches!(t.token, Token::Mark(';' | '{' | '}' | ']')));
        if rest.is_empty() || bracketed {
            end = at;
        }
    }
    while end > 0 && before[end - 1].token == Token::Mark(']') {
        let Some(open) = before[..end]
            .iter()
            .rposition(|t| t.token == Token::Mark('['))
        else {
            return false;
        };
        let inside = &before[open + 1..end - 1];
        let cfg = inside.first().is_some_and(|t| ident(t, "cfg"));
        let test = inside.iter().any(|t| ident(t, "test"));
        if cfg && test && !inside.iter().any(|t| ident(t, "not")) {
            return true;
        }
        end = open.saturating_sub(1); // the `#` before the `[` too
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Crate {
        let text = text.to_owned();
        let read = move |path: &Path| (path == Path::new("lib.rs")).then(|| text.clone());
        Crate::load(Path::new("lib.rs"), &read).expect("loads")
    }

    fn path(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn use_trees_are_read_into_names_and_globs() {
        let krate = load("pub(crate) use a::{self, b::C as D, e::*, F as _};\nuse ::g::H;");
        let root = &krate.modules[0];
        let imports: Vec<(&str, Vec<String>)> = root
            .imports
            .iter()
            .map(|(name, p)| (name.as_str(), p.clone()))
            .collect();
        assert_eq!(
            imports,
            [
                ("D", path(&["a", "b", "C"])),
                ("H", path(&["::", "g", "H"])),
                ("a", path(&["a"])),
            ]
        );
        assert_eq!(root.globs, [path(&["a", "e"])]);
        assert_eq!(root.paths.len(), 5, "{:?}", root.paths);
    }

    #[test]
    fn cfg_test_marks_a_block_of_tests() {
        let krate = load(
            "#[cfg(test)]\npub(crate) mod t {}\n#[cfg(not(test))]\nmod u {}\n\
             #[cfg(all(test, feature = \"x\"))]\n#[allow(dead_code)]\nmod v { mod w {} }\nmod x {}",
        );
        let blocks: Vec<Option<&str>> = krate
            .modules
            .iter()
            .map(|m| m.test_block.as_deref())
            .collect();
        assert_eq!(blocks, [None, Some("t"), None, Some("v"), Some("v"), None]);
    }
}
