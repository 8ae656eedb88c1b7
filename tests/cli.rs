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

#[test]
fn bad_link_values_name_the_field_and_the_range() {
    let dir = std::env::temp_dir().join(format!("connlab-cli-ranges-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    for (line, key) in [
        ("delay_ms = -5.0", "link.delay_ms = -5.0 is out of range"),
        ("delay_ms = nan", "link.delay_ms = NaN is not a number"),
        ("loss_pct = -1.0", "link.loss_pct = -1.0 is out of range"),
        (
            "delay_ms = 9223372036854775807",
            "link.delay_ms = 9223372036854775807",
        ),
        ("loss_pct = 150.0", "link.loss_pct = 150.0 is out of range"),
        (
            "jitter_ms = 1e300",
            "link.jitter_ms = 1e300 is out of range",
        ),
    ] {
        let file = dir.join("bad.toml");
        std::fs::write(
            &file,
            format!("question = \"q?\"\n[server]\n[client]\n[link]\n{line}\n"),
        )
        .expect("write");
        let out = connlab().arg("run").arg(&file).output().expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{line}: {stderr}");
        let col = line.find('=').expect("=") + 3;
        assert!(
            stderr.contains(&format!("bad.toml:5:{col}: {key}")),
            "{line}: {stderr}"
        );
        assert!(stderr.contains("allowed: from 0 to"), "{stderr}");
    }
    let out = connlab()
        .args(["run", "pool-burst", "--set", "link.loss_pct=150"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("--set link.loss_pct=150: link.loss_pct = 150 is out of range"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn completions_are_scripts_that_know_the_subcommands() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = connlab()
            .args(["completions", shell])
            .output()
            .expect("run");
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        for word in ["inspect", "sweep", "--junit", "completions"] {
            assert!(script.contains(word), "{shell} completes {word}");
        }
    }
    let bash = connlab()
        .args(["completions", "bash"])
        .output()
        .expect("run");
    let file = std::env::temp_dir().join(format!("connlab-completion-{}.bash", std::process::id()));
    std::fs::write(&file, &bash.stdout).expect("write");
    // Load it and ask for the completions of `connlab ins`, as bash does on Tab.
    let probe = format!(
        "source {}; COMP_WORDS=(connlab ins); COMP_CWORD=1; COMP_LINE='connlab ins'; \
         COMP_POINT=11; _connlab connlab ins connlab; echo \"${{COMPREPLY[@]}}\"",
        file.display()
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &probe])
        .output()
        .expect("bash");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "inspect");
    // Lab names after `run`, lab fields after `--set`.
    let ask = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        let probe = format!(
            "source {}; COMP_WORDS=({line}); COMP_CWORD={}; COMP_LINE='{line}'; \
             COMP_POINT={}; _connlab connlab {} {}; echo \"${{COMPREPLY[@]}}\"",
            file.display(),
            words.len() - 1,
            line.len(),
            words[words.len() - 1],
            words[words.len() - 2],
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &probe])
            .output()
            .expect("bash");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(ask("connlab run pool-burst-b"), "pool-burst-big-idle");
    assert_eq!(
        ask("connlab run pool-burst --set client.max_idle"),
        "client.max_idle_per_host="
    );
    let _ = std::fs::remove_file(&file);
}

#[test]
fn show_prints_an_embedded_lab_and_check_validates_without_running() {
    let dir = out_dir("show-check");
    let shown = connlab()
        .args(["show", "pool-burst"])
        .output()
        .expect("show");
    assert!(shown.status.success());
    let file = dir.join("mine.toml");
    std::fs::write(&file, &shown.stdout).expect("write");
    let ok = connlab().arg("check").arg(&file).output().expect("check");
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("ok  mine"));
    let bad = connlab()
        .arg("check")
        .arg(&file)
        .args(["--set", "link.loss_pct=150"])
        .output()
        .expect("check");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("out of range"));
    let missing = connlab()
        .args(["show", "pool-brust"])
        .output()
        .expect("show");
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("did you mean"));
    assert!(
        std::fs::read_dir(&dir).expect("dir").count() == 1,
        "check ran nothing and wrote nothing"
    );
}

#[test]
fn the_man_page_documents_every_subcommand() {
    let out = connlab().arg("man").output().expect("run");
    assert!(out.status.success());
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.starts_with(".ie"), "roff");
    assert!(
        page.contains(".TH connlab 1"),
        "{}",
        &page[..200.min(page.len())]
    );
    for sub in ["RUN", "SWEEP", "REPORT", "INSPECT", "TUI", "LIST", "CLEAN"] {
        assert!(
            page.contains(&format!(".SH \"CONNLAB {sub}\"")),
            "section {sub}"
        );
    }
    assert!(page.contains("junit"), "run's options");
    assert!(
        !page.contains("CONNLAB ACTOR"),
        "internal subcommands stay out"
    );
    assert!(
        !page.contains("connlab\\-run(1)") && !page.contains("(1)\n.TP"),
        "no pages referred to that are not installed"
    );
    assert!(page.contains(".SH \"LAB FILES\""), "the lab format");
    for field in [
        "client.max_idle_per_host",
        "link.delay_ms",
        "server.socket.close",
    ] {
        assert!(page.contains(&format!("\\fB{field}\\fR")), "{field}");
    }
}

/// `connlab ARGS` run in `dir`: its exit code and stderr.
fn in_dir(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let out = connlab()
        .current_dir(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run connlab");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A path that is not there is "no such file", not a lab to run first; a folder given as a
/// capture is said to be one, once (it was "Is a directory (os error 21)" twice in a row).
#[test]
fn a_missing_file_or_a_folder_is_said_plainly_and_once() {
    let dir = out_dir("missing-and-folders");
    std::fs::create_dir_all(dir.join("a-folder")).expect("folder");
    for (args, said) in [
        (
            &["inspect", "missing.pcap"][..],
            "connlab: no such file: missing.pcap\n",
        ),
        (
            &["report", "captures/missing.pcapng"],
            "connlab: no such file: captures/missing.pcapng\n",
        ),
        (
            &["run", "missing.toml"],
            "connlab: no such file: missing.toml\n",
        ),
        (
            &["check", "labs/missing.toml"],
            "connlab: no such file: labs/missing.toml\n",
        ),
        (
            &["inspect", "a-folder"],
            "connlab: a-folder is a directory, not a capture: give the capture files in it\n",
        ),
        (
            &["report", "a-folder"],
            "connlab: a-folder is a directory, not a capture: give the capture files in it\n",
        ),
    ] {
        assert_eq!(in_dir(&dir, args), (Some(2), said.to_owned()), "{args:?}");
    }
    // A bare word is still taken for a lab whose captures are looked for.
    let (code, said) = in_dir(&dir, &["inspect", "no-such-lab"]);
    assert_eq!(code, Some(2));
    assert!(
        said.contains("run `connlab run no-such-lab` first"),
        "{said}"
    );
}

/// `--junit` names a place the report can be written before any lab runs (it was tried only
/// after the whole suite had run).
#[test]
fn a_junit_path_that_cannot_be_written_stops_the_suite_before_it_runs() {
    let dir = out_dir("junit-nowhere");
    let (code, said) = in_dir(
        &dir,
        &[
            "run",
            "keepalive-reuse",
            "--junit",
            "nowhere/connlab.xml",
            "--out",
            "out",
        ],
    );
    assert_eq!(
        (code, said.as_str()),
        (
            Some(2),
            "connlab: --junit nowhere/connlab.xml: No such file or directory (os error 2); \
             nothing ran\n"
        )
    );
    let ran = std::fs::read_dir(dir.join("out")).map_or(0, |d| d.count());
    assert_eq!(ran, 0, "no lab ran");
}

/// `inspect --conn-log`: a row per connection in Zeek's TSV (its header, 23 columns) or JSON
/// lines, by the file's name; the findings name their connections; one file per run.
#[test]
fn conn_log_writes_a_row_per_connection_in_zeeks_formats() {
    let dir = out_dir("conn-log");
    std::fs::create_dir_all(&dir).expect("folder");
    let capture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/pool-burst.pcapng.gz");
    let capture = capture.to_str().expect("utf-8 path");
    for name in ["conn.log", "conn.json"] {
        let (code, err) = in_dir(&dir, &["inspect", capture, "--conn-log", name]);
        assert_eq!(code, Some(0), "{err}");
    }
    let tsv = std::fs::read_to_string(dir.join("conn.log")).expect("conn.log");
    let fields = tsv
        .lines()
        .find(|l| l.starts_with("#fields\t"))
        .expect("#fields");
    assert_eq!(fields.split('\t').count(), 24);
    let rows: Vec<Vec<&str>> = tsv
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), 50);
    assert!(rows.iter().all(|r| r.len() == 23 && r[6] == "tcp"));
    // The 48 connections the pool closed after the burst, the client's FIN first (Zeek's
    // SF); the 2 it kept idle were still open when the capture ended (S1). The finding's
    // evidence names the first of the closed ones.
    let state = |s: &str| rows.iter().filter(|r| r[11] == s).count();
    assert_eq!((state("SF"), state("S1")), (48, 2));
    assert_eq!(rows.iter().filter(|r| r[20] == "client").count(), 48);
    assert!(rows.iter().any(|r| r[22] == "pool_overflow"));
    let json = std::fs::read_to_string(dir.join("conn.json")).expect("conn.json");
    let lines: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 50);
    assert!(lines
        .iter()
        .all(|r| r["service"] == "http" && r["requests"] == 1));
    // Several captures apart would write the file once each: refused.
    let (code, err) = in_dir(&dir, &["inspect", capture, capture, "--conn-log", "x.log"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--merge"), "{err}");
}
