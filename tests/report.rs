//! The HTML report as a person sees it: a real lab writes it, headless Chromium (with no
//! network) renders it, and the test looks at the DOM it built and at the screenshot.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::harness::Need;
use common::*;

/// Chromium, headless, offline, in a fresh profile; returns its stdout.
fn chromium(args: &[&str], profile: &Path) -> String {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // No name resolves and no proxy answers: the page must need no network.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=127.0.0.1:9",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium failed: {:?}", out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Distinct colours and the share of non-white pixels of a PNG.
fn looks(png_file: &Path) -> (usize, f64) {
    let decoder = png::Decoder::new(std::fs::File::open(png_file).expect("screenshot"));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("png data");
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(channels).collect();
    let colours: std::collections::HashSet<[u8; 3]> =
        pixels.iter().map(|p| [p[0], p[1], p[2]]).collect();
    let inked = pixels.iter().filter(|p| p[..3] != [255, 255, 255]).count();
    (colours.len(), inked as f64 / pixels.len() as f64)
}

fn report_of(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .expect("out dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "html"))
        .expect("an HTML report beside the capture")
}

fn pool_burst_report_in_a_real_browser() {
    let out = out_dir("report-browser");
    let status = connlab()
        .args(["run", "pool-burst", "--report", "--out"])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run");
    assert_eq!(status.code(), Some(0));
    let html = report_of(&out);
    let text = std::fs::read_to_string(&html).expect("report");
    assert!(!text.contains("://"), "the page references no URL at all");
    assert!(!text.contains(" src="), "nothing to load");
    let url = format!("file://{}", html.display());
    let profile = out.join("chromium-profile");

    let dom = chromium(&["--dump-dom", &url], &profile);
    assert_eq!(
        dom.matches("<g class=\"row").count(),
        50,
        "one row per connection"
    );
    assert!(
        dom.matches("<g class=\"row flagged\"").count() >= 1,
        "the finding's connections are highlighted before any click"
    );
    let rows: Vec<&str> = dom.split("<g class=\"row").skip(1).collect();
    for row in &rows {
        // Marks in a row never overprint: at least a glyph's width (8 px) apart.
        let mut xs: Vec<f64> = row
            .split("<text class=\"m ")
            .skip(1)
            .map(|m| {
                let x = &m[m.find("x=\"").expect("x") + 3..];
                x[..x.find('"').expect("end")].parse().expect("px")
            })
            .collect();
        xs.sort_by(f64::total_cmp);
        assert!(
            xs.windows(2).all(|w| w[1] - w[0] >= 7.9),
            "marks overprint: {xs:?}"
        );
        let h = &row[row.find("height=\"").expect("row height") + 8..];
        let h: f64 = h[..h.find('"').expect("end")].parse().expect("px");
        assert!(h >= 18.0, "50 rows get 18 px each, not 14: {h}");
    }
    assert!(
        rows.iter().any(|r| r.contains("FIN from server (second)")),
        "the server's FIN 1 ms after the client's shows too"
    );
    assert!(dom.contains(", frame "), "hover titles give the frame");
    let time_wait_rows = dom
        .split("<g class=\"row")
        .skip(1)
        .filter(|row| row.contains("s-time_wait"))
        .count();
    assert_eq!(
        time_wait_rows, 48,
        "the 48 the client closed hold TIME_WAIT"
    );
    assert!(
        dom.contains("FIN from client (first)"),
        "hover titles name the event"
    );
    assert!(dom.contains("class=\"legend\""), "legend");
    assert!(dom.contains("pool_overflow"), "the finding");
    // Which 48 of the 50 were closed early depends on which two got back first.
    assert!(
        dom.matches("<a href=\"#c-").count() >= 10,
        "the finding links to its connections"
    );
    assert!(dom.contains("<h2>Distributions</h2>"));

    let shot = out.join("report.png");
    chromium(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1300,1600",
            &url,
        ],
        &profile,
    );
    let (colours, inked) = looks(&shot);
    assert!(
        colours > 50,
        "a picture, not a blank page: {colours} colours"
    );
    assert!(inked > 0.08, "ink on {:.1} % of the page", inked * 100.0);
}

fn report_of_any_capture_and_of_a_damaged_one() {
    let out = out_dir("report-cli");
    let run = run_lab("keepalive-reuse", &out);
    assert_expectations_pass(&run);
    let capture = PathBuf::from(run.summary["capture"].as_str().expect("capture path"));
    let html = out.join("any.html");
    let done = connlab()
        .arg("report")
        .arg(&capture)
        .arg("-o")
        .arg(&html)
        .output()
        .expect("report");
    assert_eq!(done.status.code(), Some(0), "{done:?}");
    let page = std::fs::read_to_string(&html).expect("written");
    assert_eq!(page.matches("<g class=\"row").count(), 1);
    assert!(page.contains("Nothing wrong found in 1 connection."));
    assert!(
        page.contains("Does an HTTP/1.1 client keep one connection for 100 sequential requests?"),
        "the capture names its lab: its report keeps the lab's question"
    );
    assert!(page.contains("link: transparent"), "and its link");

    let bytes = std::fs::read(&capture).expect("capture");
    let cut = out.join("cut.pcapng");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).expect("cut");
    let done = connlab().arg("report").arg(&cut).output().expect("report");
    assert_eq!(done.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(stderr.contains("offset"), "{stderr}");
    assert!(
        cut.with_extension("html").exists(),
        "what was read is still drawn"
    );
}

fn main() -> std::process::ExitCode {
    common::harness::run(cases![
        pool_burst_report_in_a_real_browser [Need::Labs, Need::Tool("chromium")],
        report_of_any_capture_and_of_a_damaged_one [Need::Labs],
    ])
}
