//! `connlab sweep`: the example of docs/report-and-sweep.md end to end (table, files, chart in a real browser),
//! bad input refused before anything runs, and Ctrl-C keeping the finished points.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::harness::Need;
use common::*;

/// The tests that run labs take turns, so each can check that no namespace is left.
static LABS: Mutex<()> = Mutex::new(());

fn sweep_folder(out: &Path) -> PathBuf {
    std::fs::read_dir(out)
        .expect("out")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.is_dir()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("sweep-"))
        })
        .expect("the sweep's folder")
}

/// The CSV as rows of cells, header first.
fn csv(folder: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(folder.join("sweep.csv"))
        .expect("sweep.csv")
        .lines()
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

fn column(table: &[Vec<String>], name: &str) -> Vec<String> {
    let i = table[0].iter().position(|h| h == name).expect("column");
    table[1..].iter().map(|r| r[i].clone()).collect()
}

fn the_idle_pool_size_against_time_wait() {
    let _turn = LABS.lock().unwrap_or_else(|e| e.into_inner());
    let out = out_dir("sweep-pool");
    let started = Instant::now();
    let done = connlab()
        .args([
            "sweep",
            "pool-burst",
            "--vary",
            "client.max_idle_per_host=1,2,5,10,25,50",
            "-j",
            "2",
            "--metric",
            "findings.pool_overflow.kept_idle",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("sweep");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&done.stdout);
    // The lab's own expectations hold only at its default (2): the other points fail them.
    assert_eq!(done.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("6 of 6 points ran"), "{stdout}");
    let table = csv(&sweep_folder(&out));
    assert_eq!(
        column(&table, "time_wait.client"),
        ["49", "48", "45", "40", "25", "0"],
        "TIME_WAIT falls as the idle pool grows"
    );
    assert_eq!(
        column(&table, "findings.pool_overflow.kept_idle"),
        ["1", "2", "5", "10", "", ""],
        "the diagnosis reads the pool size off the wire"
    );
    assert_eq!(column(&table, "result")[1], "pass");
    let reasons = column(&table, "reason");
    assert!(
        reasons[0].contains("(got ") && reasons[1].is_empty(),
        "a failed point says which expectation failed: {reasons:?}"
    );
    let widest = stdout
        .lines()
        .take_while(|l| !l.is_empty())
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0);
    assert!(
        widest <= 130,
        "the terminal table fits a terminal: {widest}\n{stdout}"
    );
    let folder = sweep_folder(&out);
    for point in [
        "01-client.max_idle_per_host=1",
        "06-client.max_idle_per_host=50",
    ] {
        assert!(folder.join(point).is_dir(), "folders named by their values");
    }
    eprintln!("sweep of 6 points with -j 2: {elapsed:?}");
    let left = leftovers();
    assert!(left.is_empty(), "every point cleaned up: {left:?}");

    let html = sweep_folder(&out).join("sweep.html");
    let page = std::fs::read_to_string(&html).expect("sweep.html");
    assert!(!page.contains("://"), "offline");
    let dom = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--host-resolver-rules=MAP * ~NOTFOUND",
        ])
        .arg(format!("--user-data-dir={}", out.join("profile").display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("time_wait.client: 49 at 1"),
        "a point per value"
    );
    assert!(
        dom.matches("<polyline").count() >= 3,
        "a line per moving figure"
    );
    // Each point links its capture and its report, relative to the sweep's folder.
    for link in dom.split("href=\"").skip(1) {
        let target = &link[..link.find('"').expect("closing quote")];
        assert!(
            sweep_folder(&out).join(target).is_file(),
            "the link {target} leads to a file"
        );
    }
    assert_eq!(dom.matches(">report<").count(), 6, "a report per point");
    assert!(dom.contains("failed: "), "failures carry their reason");
}

fn bad_input_is_refused_before_anything_runs() {
    let out = out_dir("sweep-bad");
    let cases: [(&[&str], &str); 4] = [
        (&["--vary", "client.max_idle=1,2"], "max_idle_per_host"),
        (&["--vary", "client.requests="], "empty"),
        (&["--vary", "client.requests=1,many"], "many"),
        (&["--vary", "client.requests=1", "-j", "0"], "0"),
    ];
    for (args, says) in cases {
        let done = connlab()
            .args(["sweep", "pool-burst"])
            .args(args)
            .arg("--out")
            .arg(&out)
            .output()
            .expect("sweep");
        let stderr = String::from_utf8_lossy(&done.stderr);
        assert_eq!(done.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let made = std::fs::read_dir(&out).map(|d| d.count()).unwrap_or(0);
    assert_eq!(made, 0, "nothing ran, nothing was written");
}

fn ctrl_c_keeps_the_points_that_finished() {
    let _turn = LABS.lock().unwrap_or_else(|e| e.into_inner());
    let out = out_dir("sweep-interrupt");
    let mut child = connlab()
        .args([
            "sweep",
            "read-timeout-as-idle",
            "--vary",
            "client.requests=1,2,3,4",
            "--out",
        ])
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("sweep");
    // Stop during the second point: once its folder exists, the first one has finished.
    let started = Instant::now();
    let second_started = || {
        std::fs::read_dir(&out)
            .ok()
            .and_then(|mut d| d.next())
            .is_some_and(|e| {
                e.map(|e| e.path().join("02-client.requests=2").exists())
                    .unwrap_or(false)
            })
    };
    while !second_started() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the second point never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
    let table = csv(&sweep_folder(&out));
    let results = column(&table, "result");
    assert!(!results.is_empty() && results.len() < 4, "{results:?}");
    assert_ne!(
        results[0], "interrupted",
        "the first point finished: {results:?}"
    );
    let left = leftovers();
    assert!(left.is_empty(), "every point cleaned up: {left:?}");
}

fn main() -> std::process::ExitCode {
    common::harness::run(cases![
        the_idle_pool_size_against_time_wait [Need::Labs, Need::Tool("chromium")],
        bad_input_is_refused_before_anything_runs [],
        ctrl_c_keeps_the_points_that_finished [Need::Labs],
    ])
}
