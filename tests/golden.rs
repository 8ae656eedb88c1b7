//! Golden outputs: `connlab inspect` of every lab's capture, as text and as the `--json`
//! summary, byte for byte as recorded before the protocol registry came in. A change that means
//! to change one regenerates them with `CONNLAB_BLESS=1 cargo test --test golden` and says why
//! in its commit; any other difference is a regression.
//!
//! The captures (`tests/golden/<lab>.pcapng.gz`) are one run of each lab in `labs/`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// `connlab inspect` of `capture` (its name, from the golden folder), text or the `--json`
/// summary line.
fn inspect(capture: &str, json: bool) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_connlab"));
    cmd.current_dir(golden_dir()).args(["inspect", capture]);
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().expect("run connlab inspect");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if json {
        stdout
            .lines()
            .filter(|l| l.starts_with("{\"file\""))
            .map(|l| format!("{l}\n"))
            .collect()
    } else {
        format!("{stdout}{stderr}")
    }
}

/// The first line where `got` and `want` differ, for the failure message.
fn first_difference(got: &str, want: &str) -> String {
    let (mut g, mut w) = (got.lines(), want.lines());
    for n in 1.. {
        match (g.next(), w.next()) {
            (None, None) => break,
            (a, b) if a == b => continue,
            (a, b) => {
                let (a, b) = (a.unwrap_or(""), b.unwrap_or(""));
                // Long JSON lines: around the first byte that differs.
                let at = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
                let around = |s: &str| {
                    let from = s.floor_char_boundary(at.saturating_sub(80));
                    let to = s.ceil_char_boundary((at + 80).min(s.len()));
                    s[from..to].to_owned()
                };
                return format!(
                    "line {n}, byte {at}:\n  got:  {:?}\n  want: {:?}",
                    around(a),
                    around(b)
                );
            }
        }
    }
    "(same lines, other line endings)".into()
}

#[test]
fn inspect_gives_the_recorded_output_for_every_lab_capture() {
    let bless = std::env::var_os("CONNLAB_BLESS").is_some();
    let mut captures: Vec<String> = std::fs::read_dir(golden_dir())
        .expect("tests/golden")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".pcapng.gz"))
        .collect();
    captures.sort();
    assert!(captures.len() >= 55, "{} captures", captures.len());
    let mut differ = Vec::new();
    for capture in &captures {
        let lab = capture.trim_end_matches(".pcapng.gz");
        for (json, ending) in [(false, "txt"), (true, "json")] {
            let got = inspect(capture, json);
            let path = golden_dir().join(format!("{lab}.{ending}"));
            if bless {
                std::fs::write(&path, &got).expect("write golden");
                continue;
            }
            let want = std::fs::read_to_string(&path).unwrap_or_default();
            if got != want {
                differ.push(format!("{lab}.{ending}: {}", first_difference(&got, &want)));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "{} outputs differ from tests/golden:\n{}",
        differ.len(),
        differ.join("\n")
    );
}
