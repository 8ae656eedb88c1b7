//! What a new user trips on, each tried as they would: the README's Quickstart as written, the
//! terminal timeline without a terminal, several captures (a glob, stdin, gzip, a lab's
//! newest), and the wording of the errors a first lab file or command line meets.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::harness::Need;
use common::*;
use serde_json::Value;

/// Runs `cmd` without a terminal anywhere: stdin empty, stdout and stderr piped.
fn untethered(mut cmd: Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run connlab")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The `{"file", "summary"}` lines `inspect --json` printed, events left out.
fn summaries(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("summary").is_some())
        .collect()
}

fn the_timeline_refuses_to_start_without_a_terminal() {
    let out = out_dir("tui-no-terminal");
    let run = untethered({
        let mut cmd = connlab();
        cmd.args(["run", "keepalive-reuse", "--tui", "--out"])
            .arg(&out);
        cmd
    });
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("needs a terminal"),
        "{}",
        stderr(&run)
    );
    assert!(!stderr(&run).contains("panicked"), "{}", stderr(&run));
    let left = std::fs::read_dir(&out).expect("out").count();
    assert_eq!(left, 0, "the lab must not have run");

    let replay = untethered({
        let mut cmd = connlab();
        cmd.arg("tui")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
        cmd
    });
    assert_eq!(replay.status.code(), Some(2), "{}", stderr(&replay));
    assert!(
        stderr(&replay).contains("stdin and stdout are not one"),
        "{}",
        stderr(&replay)
    );
}

/// Runs keepalive-reuse twice into `<dir>/captures` (as `connlab run` does from `dir`) and
/// returns both captures, oldest first.
fn two_runs(dir: &Path) -> [PathBuf; 2] {
    let folder = dir.join("captures");
    let mut files = Vec::new();
    for _ in 0..2 {
        let run = run_lab("keepalive-reuse", &folder);
        assert_expectations_pass(&run);
        // No pause between them: a second run in the same second is numbered after the first.
        files.push(PathBuf::from(
            run.summary["capture"].as_str().expect("capture"),
        ));
    }
    [files[0].clone(), files[1].clone()]
}

fn several_captures_stdin_gzip_and_a_labs_newest() {
    let dir = out_dir("several-captures");
    let [older, newer] = two_runs(&dir);

    // By the lab's name, from the folder the runs were made in: the newest capture.
    let by_name = connlab()
        .current_dir(&dir)
        .args(["inspect", "keepalive-reuse", "--json"])
        .output()
        .expect("inspect");
    assert_eq!(by_name.status.code(), Some(0), "{}", stderr(&by_name));
    let s = summaries(&by_name);
    assert_eq!(s.len(), 1);
    assert_eq!(
        s[0]["file"].as_str().map(Path::new),
        Some(
            Path::new("captures")
                .join(newer.file_name().expect("name"))
                .as_path()
        )
    );
    let one = &s[0]["summary"];
    let connections = u(one, "connections");
    let requests = u(one, "requests");
    assert!(connections >= 1 && requests >= 10, "{one}");

    // What a glob gives once the lab ran twice: one summary each, or one for both.
    let each = connlab()
        .args(["inspect", "--json"])
        .args([&older, &newer])
        .output()
        .expect("inspect");
    assert_eq!(each.status.code(), Some(0), "{}", stderr(&each));
    let s = summaries(&each);
    assert_eq!(s.len(), 2, "one summary per capture");
    assert_eq!(u(&s[0]["summary"], "requests"), requests);
    let merged = connlab()
        .args(["inspect", "--merge", "--json"])
        .args([&older, &newer])
        .output()
        .expect("inspect");
    let s = summaries(&merged);
    assert_eq!(s.len(), 1, "one summary for both");
    assert_eq!(u(&s[0]["summary"], "connections"), 2 * connections);
    assert_eq!(u(&s[0]["summary"], "requests"), 2 * requests);

    // stdin, and a gzipped copy, read as the file itself.
    let piped = connlab()
        .args(["inspect", "-", "--json"])
        .stdin(std::fs::File::open(&newer).expect("open"))
        .output()
        .expect("inspect -");
    assert_eq!(piped.status.code(), Some(0), "{}", stderr(&piped));
    assert_eq!(u(&summaries(&piped)[0]["summary"], "requests"), requests);
    let gz = dir.join("copy.pcapng.gz");
    let zipped = Command::new("gzip")
        .arg("-c")
        .arg(&newer)
        .output()
        .expect("gzip");
    std::fs::write(&gz, zipped.stdout).expect("write gz");
    let unzipped = connlab()
        .args(["inspect", "--json"])
        .arg(&gz)
        .output()
        .expect("inspect gz");
    assert_eq!(unzipped.status.code(), Some(0), "{}", stderr(&unzipped));
    assert_eq!(u(&summaries(&unzipped)[0]["summary"], "requests"), requests);

    // A page per capture; stdin has no name to put one beside.
    let pages = connlab()
        .arg("report")
        .args([&older, &newer])
        .output()
        .expect("report");
    assert_eq!(pages.status.code(), Some(0), "{}", stderr(&pages));
    for capture in [&older, &newer] {
        assert!(capture.with_extension("html").is_file(), "{capture:?}");
    }
    let nameless = untethered({
        let mut cmd = connlab();
        cmd.args(["report", "-"]);
        cmd
    });
    assert_eq!(nameless.status.code(), Some(2));
    assert!(
        stderr(&nameless).contains("-o FILE.html"),
        "{}",
        stderr(&nameless)
    );
}

/// `connlab ARGS` fails with exit 2 and says `words`.
fn refused(args: &[&str], words: &str) {
    let out = untethered({
        let mut cmd = connlab();
        cmd.args(args);
        cmd
    });
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    assert!(stderr(&out).contains(words), "{args:?}: {}", stderr(&out));
}

fn errors_speak_the_users_words() {
    let dir = out_dir("wording");
    let d = |name: &str| dir.join(name).display().to_string();
    refused(&["run", "labs/", "-j", "0"], "must be at least 1");
    refused(
        &["run", "keepalive-reues"],
        "did you mean \"keepalive-reuse\"",
    );
    std::fs::write(dir.join("empty.pcap"), b"").expect("empty");
    refused(&["inspect", &d("empty.pcap")], "is an empty file");
    std::fs::write(dir.join("a-file"), b"x").expect("a file");
    refused(
        &["run", "keepalive-reuse", "--out", &d("a-file")],
        "is a file",
    );
    refused(
        &[
            "sweep",
            "pool-burst",
            "--vary",
            "client.requests=5,10",
            "--vary",
            "client.requests=20",
        ],
        "client.requests is given twice",
    );
    refused(
        &["inspect", "no-such-capture"],
        "connlab run no-such-capture",
    );

    let labs = dir.join("labs");
    std::fs::create_dir_all(&labs).expect("labs");
    std::fs::write(
        labs.join("a.toml"),
        "question = \"q?\"\n[server]\n[client]\nrequests = \"many\"\n",
    )
    .expect("a");
    std::fs::write(labs.join("b.toml"), "question = \"q?\"\nnope = 1\n").expect("b");
    let out = untethered({
        let mut cmd = connlab();
        cmd.arg("run").arg(&labs);
        cmd
    });
    assert_eq!(out.status.code(), Some(2));
    let said = stderr(&out);
    assert!(said.contains("2 labs cannot run"), "{said}");
    assert!(
        said.contains("a.toml:4:12") && said.contains("expected a whole number"),
        "{said}"
    );
    assert!(said.contains("b.toml:2:1"), "{said}");
}

/// `connlab check` says every error of a file at once, in file order, each with its line and
/// column (it once said only the first it met: line 8's before line 3's, then nothing more).
fn check_says_every_error_of_a_file_at_once_in_file_order() {
    let dir = out_dir("check-every-error");
    std::fs::write(
        dir.join("four.toml"),
        "question = \"q?\"\n[server]\nhandler_delay_ms = -5\n[client]\nrequests = 50\n\
         concurrency = \"all\"\nmax_idle_per_host = 2\ninterval_ms = 99999999\n[expect]\n\
         reused = \"about 5\"\n",
    )
    .expect("write the lab");
    let out = untethered({
        let mut cmd = connlab();
        cmd.current_dir(&dir).args(["check", "four.toml"]);
        cmd
    });
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert_eq!(
        stderr(&out),
        "connlab: 4 errors in four.toml:\n  \
         four.toml:3:20: server.handler_delay_ms = -5 is out of range: allowed: a whole number \
         from 0 to 86400000 ms\n  \
         four.toml:6:15: invalid type: string \"all\", expected a whole number, 0 or more\n  \
         four.toml:8:15: client.interval_ms = 99999999 is out of range: allowed: a whole number \
         from 0 to 86400000 ms\n  \
         four.toml:10:10: expectation `reused`: cannot read \"about 5\"; write a number (5), a \
         comparison (\">= 5\", \"< 3\", \"!= 0\"), a range (\"45..55\"), for per-side counters \
         \"client\", \"server\", \"both\" or \"none\", or for `by`, `via` and `side` a lowercase \
         word (\"middlebox\"), for `code` an HTTP/2 error code (\"REFUSED_STREAM\")\n"
    );
}

/// One lab, one connection: the counts agree with their nouns ("running 1 labs" and "1
/// connections" once).
fn one_lab_and_one_connection_are_said_in_the_singular() {
    let dir = out_dir("singular");
    let out = connlab()
        .current_dir(&dir)
        .args(["run", "keepalive-reuse", "--junit", "connlab.xml"])
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some("running 1 lab, 1 at a time; files in captures"),
        "{said}"
    );
    let total = lines
        .iter()
        .find(|l| l.starts_with("1 lab"))
        .unwrap_or_else(|| panic!("no total in {said}"));
    assert!(
        total.starts_with("1 lab in ")
            && total.ends_with(": 1 passed, 0 failed, 0 errors, 0 skipped"),
        "{total}"
    );

    let capture = std::fs::read_dir(dir.join("captures"))
        .expect("captures")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|x| x == "pcapng"))
        .expect("a capture");
    let out = connlab()
        .arg("report")
        .arg(&capture)
        .output()
        .expect("report");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let page = capture.with_extension("html");
    let head = format!("{}: 1 connection, 1 drawn in full, ", page.display());
    assert!(
        said.starts_with(&head) && said.trim_end().ends_with(" KiB"),
        "{said}"
    );
}

/// Writes the lab file `text` as `<name>.toml` in a folder of its own: the file and folder.
fn lab_file(name: &str, text: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = out_dir(name);
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, text).expect("write the lab");
    (file, dir)
}

/// Runs a lab file into `dir` with the text report.
fn run_in(file: &std::path::Path, dir: &std::path::Path) -> Output {
    connlab()
        .arg("run")
        .arg(file)
        .arg("--out")
        .arg(dir)
        .output()
        .expect("run")
}

/// Runs the lab file `text` (written as `<name>.toml`) with the text report.
fn run_text(name: &str, text: &str) -> Output {
    let (file, dir) = lab_file(name, text);
    run_in(&file, &dir)
}

/// Runs the lab file `text` (written as `<name>.toml`) and returns its exit code and output.
fn run_file(name: &str, text: &str) -> (Option<i32>, String, Value) {
    let (file, dir) = lab_file(name, text);
    let text_out = run_in(&file, &dir);
    let json = connlab()
        .arg("run")
        .arg(&file)
        .args(["--json-summary", "--out"])
        .arg(&dir)
        .output()
        .expect("run --json-summary");
    let summary = parse_json_output(&json).summary;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&text_out.stdout),
        String::from_utf8_lossy(&text_out.stderr)
    );
    (text_out.status.code(), said, summary)
}

fn failures_without_expectations_fail_and_say_why() {
    // An HTTP client against a raw TCP server: every request fails.
    let (code, said, summary) = run_file(
        "http-vs-tcp",
        "question = \"q?\"\n[tcp_server]\n[client]\nrequests = 1\nrequest_timeout_ms = 500\n",
    );
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("FAIL client.failed"), "{said}");
    assert!(said.contains("the first failure: "), "{said}");
    assert_eq!(summary["client"]["failed"], 1, "{summary}");

    // An external client that exits 7.
    let (code, said, _) = run_file(
        "exec-exit-7",
        "question = \"q?\"\n[server]\n[exec_client]\ncommand = [\"sh\", \"-c\", \"exit 7\"]\n",
    );
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("FAIL exec.client.exit_code"), "{said}");

    // A server program that ends before it listens: said at once, not after the minute a
    // database may take to make its data folder.
    let started = std::time::Instant::now();
    let out = run_text(
        "exec-server-exit-3",
        "question = \"q?\"\n[exec_server]\ncommand = [\"sh\", \"-c\", \"exit 3\"]\nport = 9000\n\
         [exec_client]\ncommand = [\"true\"]\nport = 9000\n",
    );
    let said = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("the server program ended (exit status: 3) before listening on port 9000"),
        "{said}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{said}"
    );

    // A reset planned into a connection that never opens: a warning, the run still passes.
    let (code, said, summary) = run_file(
        "inject-nowhere",
        "question = \"q?\"\n[server]\n[client]\nrequests = 2\n\
         [[link.inject_rst]]\nat_ms = 300\nconn = 9\n",
    );
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("warning: 1 of the 1 [[link.inject_rst]] never fired"),
        "{said}"
    );
    assert_eq!(summary["warnings"].as_array().map(Vec::len), Some(1));
}

fn a_lab_that_times_out_still_sums_up_what_was_captured() {
    let (code, said, summary) = run_file(
        "slow-client",
        "question = \"q?\"\ntimeout_s = 1\n[server]\n[client]\nrequests = 100\n\
         interval_ms = 100\n[expect]\nrequests = 100\n",
    );
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("timed out: the client had not finished"),
        "{said}"
    );
    assert!(said.contains("FAIL timeout_s"), "{said}");
    let requests = u(&summary, "requests");
    assert!(
        (3..100).contains(&requests),
        "what was captured before the stop: {requests}"
    );
    assert_eq!(summary["timed_out_s"], 1);
}

/// Four runs of one lab started together into one folder: four captures, each holding its own
/// run alone (they once shared one `...Z.pcapng`, two runs mixed in it).
fn runs_started_together_never_share_a_file() {
    let dir = out_dir("together");
    let runs: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| run_lab("keepalive-reuse", &dir)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("run"))
            .collect()
    });
    let mut captures: Vec<PathBuf> = runs
        .iter()
        .map(|run| {
            assert_expectations_pass(run);
            PathBuf::from(run.summary["capture"].as_str().expect("capture"))
        })
        .collect();
    captures.sort();
    captures.dedup();
    assert_eq!(captures.len(), 4, "{captures:?}");
    let names = |ending: &str| {
        std::fs::read_dir(&dir)
            .expect("out")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(ending))
            })
            .count()
    };
    assert_eq!((names(".pcapng"), names(".events.jsonl")), (4, 4));
    for capture in &captures {
        let out = connlab()
            .args(["inspect", "--json"])
            .arg(capture)
            .output()
            .expect("inspect");
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let s = &summaries(&out)[0]["summary"];
        assert_eq!(
            (u(s, "connections"), u(s, "requests"), u(s, "reused")),
            (1, 100, 99),
            "{}: {s}",
            capture.display()
        );
    }
}

/// The lines of the first ```` ```lang ```` block under the README's heading `## heading`.
fn readme_block(heading: &str, lang: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let (_, section) = readme
        .split_once(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("README.md has no heading ## {heading}"));
    let section = section.split("\n## ").next().unwrap_or(section);
    let (_, block) = section
        .split_once(&format!("\n```{lang}\n"))
        .unwrap_or_else(|| panic!("README.md's {heading} has no ```{lang} block"));
    let (block, _) = block.split_once("\n```").expect("the block ends");
    block
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// The exit code a line of the README promises in its comment (`# exits 1: ...`); 0 otherwise.
fn promised_code(line: &str) -> i32 {
    line.split_once(" # ")
        .and_then(|(_, comment)| comment.trim().strip_prefix("exits "))
        .and_then(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Runs `line` with bash in `dir`, `connlab` on the PATH as a user who installed it has it.
fn shell_line(bin: &Path, dir: &Path, line: &str) -> Output {
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    untethered({
        let mut cmd = Command::new("bash");
        cmd.args(["-o", "pipefail", "-c", line])
            .current_dir(dir)
            .env("PATH", path);
        cmd
    })
}

/// The README's Quickstart, line by line as written, in an empty folder: each line exits as
/// its comment says (0 unless it says otherwise), and the files land where the README says.
/// Then the lab file of "Write your own lab" is checked and run, and must pass.
fn the_readmes_quickstart_works_as_written_in_an_empty_folder() {
    let dir = out_dir("quickstart");
    let bin = dir.join("bin");
    let work = dir.join("work");
    std::fs::create_dir_all(&bin).expect("bin");
    std::fs::create_dir_all(&work).expect("work");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_connlab"), bin.join("connlab"))
        .expect("connlab on the PATH");

    let lines = readme_block("Quickstart", "sh");
    assert!(lines.len() >= 5, "{lines:?}");
    for line in &lines {
        let out = shell_line(&bin, &work, line);
        assert_eq!(
            out.status.code(),
            Some(promised_code(line)),
            "README's Quickstart line `{line}`:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        );
    }

    // Where the files went: captures/ of the folder, `<lab>-<UTC stamp>` with the events beside.
    let captures = work.join("captures");
    let names: Vec<String> = std::fs::read_dir(&captures)
        .expect("captures/ in the folder the Quickstart ran in")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let pcaps: Vec<&String> = names.iter().filter(|n| n.ends_with(".pcapng")).collect();
    assert!(!pcaps.is_empty(), "{names:?}");
    for pcap in pcaps {
        let prefix = pcap.trim_end_matches(".pcapng");
        let stamp = ["pool-burst-", "my-lab-"]
            .iter()
            .find_map(|lab| prefix.strip_prefix(lab))
            .unwrap_or_else(|| panic!("{pcap}: a capture of another lab"));
        // `20261207T064525Z`, or `20261207T064525Z-2` for a second run in that second.
        let plain = stamp.split('-').next().expect("stamp");
        assert!(
            plain.len() == 16 && plain.ends_with('Z') && plain.as_bytes()[8] == b'T',
            "{pcap}: not <lab>-<UTC stamp>"
        );
        assert!(
            names.contains(&format!("{prefix}.events.jsonl")),
            "{pcap}: no events file beside it in {names:?}"
        );
    }

    let own = readme_block("Write your own lab", "toml").join("\n") + "\n";
    std::fs::write(work.join("pool-50.toml"), own).expect("write the lab");
    for line in [
        "connlab check pool-50.toml",
        "connlab run pool-50.toml --json-summary",
    ] {
        let out = shell_line(&bin, &work, line);
        assert_eq!(
            out.status.code(),
            Some(0),
            "the lab of Write your own lab, `{line}`:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        );
    }
}

fn main() -> std::process::ExitCode {
    common::harness::run(cases![
        the_timeline_refuses_to_start_without_a_terminal [],
        several_captures_stdin_gzip_and_a_labs_newest [Need::Labs, Need::Tool("gzip")],
        runs_started_together_never_share_a_file [Need::Labs],
        errors_speak_the_users_words [],
        check_says_every_error_of_a_file_at_once_in_file_order [],
        one_lab_and_one_connection_are_said_in_the_singular [Need::Labs],
        failures_without_expectations_fail_and_say_why [Need::Labs],
        a_lab_that_times_out_still_sums_up_what_was_captured [Need::Labs],
        the_readmes_quickstart_works_as_written_in_an_empty_folder [Need::Labs],
    ])
}
