//! The command line without root: listing, lab file errors, usage errors and exit codes.

mod common;

use common::*;

#[test]
fn list_shows_every_core_lab_with_its_question() {
    let out = connlab().arg("list").output().expect("list");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for lab in [
        "keepalive-reuse",
        "pool-burst",
        "pool-burst-big-idle",
        "read-timeout-as-idle",
        "idle-timeout-fix",
    ] {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(lab))
            .unwrap_or_else(|| panic!("{lab} missing from:\n{text}"));
        assert!(line.trim_end().ends_with('?'), "{line}");
    }
}

#[test]
fn a_bad_lab_file_names_line_and_column() {
    let dir = out_dir("bad-lab");
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        "question = \"q?\"\n[server]\nport = 80\n[client]\nrequests = \"many\"\n",
    )
    .expect("write");
    let out = connlab().arg("run").arg(&file).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.toml:5:12"), "{stderr}");
}

#[test]
fn unknown_lab_lists_the_catalogue() {
    let out = connlab()
        .args(["run", "no-such-lab"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("keepalive-reuse"), "{stderr}");
}

#[test]
fn usage_errors_exit_2_and_help_has_examples() {
    let out = connlab().arg("frobnicate").output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let help = connlab().arg("--help").output().expect("help");
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("Examples:") && text.contains("Exit codes"),
        "{text}"
    );
}

#[test]
fn set_with_an_unknown_key_lists_the_valid_ones() {
    let out = connlab()
        .args(["run", "keepalive-reuse", "--set", "client.requets=5"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("requets") && stderr.contains("`requests`"),
        "{stderr}"
    );
}
