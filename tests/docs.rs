//! The documentation checked against the code, as a reader would trip on it: the knob table of
//! `docs/knobs.md` is the one the core holds (the protocols' rows too), `docs/diagnosis.md`
//! lists every finding in the core's order, `docs/catalogue.md` has one row per embedded lab,
//! every link of the README and `docs/` leads to a page and a heading of it, and the README
//! still gives the test command `.ci/run` runs.

use std::collections::BTreeSet;
use std::path::Path;

/// A page of the documentation: `README.md` or a file under `docs/`.
fn doc(path: &str) -> String {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// The text of `page` from its heading `## <heading>` to the next `## ` heading.
fn section<'a>(page: &'a str, heading: &str) -> &'a str {
    let start = page
        .split_inclusive('\n')
        .scan(0, |at, line| {
            let here = *at;
            *at += line.len();
            Some((here, line))
        })
        .find(|(_, line)| line.trim_end() == format!("## {heading}"))
        .map(|(at, _)| at)
        .unwrap_or_else(|| panic!("no heading ## {heading}"));
    let rest = &page[start + 3..];
    let end = rest.find("\n## ").map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

/// The cells of the table rows of `text` (`| a | b |` → `["a", "b"]`), header and rule left out.
fn table_rows(text: &str) -> Vec<Vec<&str>> {
    text.lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
        .skip(1)
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(str::trim)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_docs_show_the_knob_table_as_the_core_holds_it() {
    let page = doc("docs/knobs.md");
    let rows: Vec<connlab_core::diagnose::KnobRow> = connlab_core::diagnose::knob_table().collect();
    let heading = format!("The knob table: {} rows", rows.len());
    let table = section(&page, &heading);
    for row in &rows {
        let stacks = if row.default {
            format!("{} (default)", row.stacks)
        } else {
            row.stacks.to_owned()
        };
        let line = format!("| `{}` | {stacks} | {} |", row.finding, row.knob);
        assert!(table.contains(&line), "docs/knobs.md lacks the row {line}");
    }
    assert_eq!(
        table_rows(table).len(),
        rows.len(),
        "docs/knobs.md's table has rows the core does not hold"
    );
}

#[test]
fn the_docs_list_every_finding_in_the_cores_order() {
    let page = doc("docs/diagnosis.md");
    let documented: Vec<String> = table_rows(section(&page, "The findings"))
        .iter()
        .map(|cells| cells[0].trim_matches('`').to_owned())
        .collect();
    let kinds: Vec<&str> = connlab_core::diagnose::FindingKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(documented, kinds, "docs/diagnosis.md's table of findings");
}

#[test]
fn the_catalogue_has_a_row_for_every_embedded_lab() {
    let page = doc("docs/catalogue.md");
    let mut documented = BTreeSet::new();
    for cells in table_rows(&page) {
        for name in cells[1].split(", ") {
            assert!(
                documented.insert(name.trim_matches('`').to_owned()),
                "{name} has two rows in docs/catalogue.md"
            );
        }
    }
    let embedded: BTreeSet<String> = connlab::lab::catalog::EMBEDDED
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    assert_eq!(
        documented, embedded,
        "docs/catalogue.md against the embedded labs"
    );
}

/// GitHub's anchor for a heading: lower case, spaces to `-`, punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The lines of a Markdown page outside its fenced code blocks.
fn prose(page: &str) -> impl Iterator<Item = &str> {
    let mut fenced = false;
    page.lines().filter(move |l| {
        if l.starts_with("```") {
            fenced = !fenced;
            return false;
        }
        !fenced
    })
}

#[test]
fn every_link_of_the_readme_and_the_docs_leads_somewhere() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    let headings = |page: &Path| -> BTreeSet<String> {
        let text = std::fs::read_to_string(page).expect("page");
        prose(&text)
            .filter(|l| l.starts_with('#'))
            .filter_map(|l| l.trim_start_matches('#').strip_prefix(' '))
            .map(anchor)
            .collect()
    };
    let mut links = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).expect("page");
        for line in prose(&text) {
            for (_, rest) in line.match_indices("](").map(|(i, _)| line.split_at(i + 2)) {
                let Some(target) = rest.split(')').next() else {
                    continue;
                };
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let (file, fragment) = target.split_once('#').unwrap_or((target, ""));
                let dest = if file.is_empty() {
                    page.clone()
                } else {
                    page.parent().expect("folder").join(file)
                };
                let name = page.strip_prefix(root).expect("in the tree").display();
                assert!(dest.exists(), "{name}: the link {target} leads nowhere");
                if !fragment.is_empty() {
                    assert!(
                        headings(&dest).contains(fragment),
                        "{name}: the link {target} names no heading of {}",
                        dest.display()
                    );
                }
                links += 1;
            }
        }
    }
    assert!(links > 50, "{links} links");
}

#[test]
fn the_readme_holds_the_test_command_ci_runs() {
    let ci = doc(".ci/run");
    assert!(ci.contains("the README's test command"), ".ci/run names it");
    // The command whose results CI totals (its output kept in the log); the build before it
    // (`--no-run`) is not the test command.
    let command = ci
        .lines()
        .find(|l| l.starts_with("cargo test") && l.contains("| tee"))
        .and_then(|l| l.split(" 2>&1").next())
        .expect(".ci/run runs cargo test");
    assert!(
        doc("README.md").contains(&format!("`{command}`")),
        "README.md lacks `{command}`, the test command .ci/run runs"
    );
}
