//! JUnit XML for CI systems (GitLab, Jenkins, GitHub test reporters): one `<testcase>` per
//! lab, one `<failure>` per failed expectation with what was wanted and what the run got, an
//! `<error>` for a lab that could not run, `<skipped>` for one that did not, and the capture
//! as an attachment line (`[[ATTACHMENT|path]]`, the Jenkins convention) so the pcapng is one
//! click away from the red test.

use std::fmt::Write as _;

use super::{LabRun, SuiteResult};
use crate::child_run::Outcome;

/// The whole report.
pub fn render(result: &SuiteResult) -> String {
    let tests = result.runs.len();
    let failures = result.count(Outcome::Failed);
    let errors = result.count(Outcome::Error) + result.count(Outcome::Interrupted);
    let skipped = result.count(Outcome::Skipped);
    let time = result.elapsed.as_secs_f64();
    let stamp = humantime::format_rfc3339_seconds(result.started).to_string();
    let stamp = stamp.trim_end_matches('Z');
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned());
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"connlab\" tests=\"{tests}\" failures=\"{failures}\" \
         errors=\"{errors}\" skipped=\"{skipped}\" time=\"{time:.3}\">"
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"connlab labs\" tests=\"{tests}\" failures=\"{failures}\" \
         errors=\"{errors}\" skipped=\"{skipped}\" time=\"{time:.3}\" timestamp=\"{stamp}\" \
         hostname=\"{}\">",
        escape(&host)
    );
    for run in &result.runs {
        testcase(&mut out, run);
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn testcase(out: &mut String, run: &LabRun) {
    let time = run.child.as_ref().map_or(0.0, |c| c.elapsed.as_secs_f64());
    let file = run
        .lab
        .file
        .as_ref()
        .map(|f| format!(" file=\"{}\"", escape(&f.display().to_string())))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "    <testcase name=\"{}\" classname=\"connlab.lab\" time=\"{time:.3}\"{file}>",
        escape(&run.lab.name)
    );
    let why = run.child.as_ref().and_then(|c| c.error.clone());
    match run.outcome() {
        Outcome::Pass => {}
        Outcome::Failed => {
            for (name, want, got) in run.failed_expectations() {
                let _ = writeln!(
                    out,
                    "      <failure type=\"expectation\" message=\"{}\">want: {name} {}\ngot: {}</failure>",
                    escape(&format!("{name} {want} (got {got})")),
                    escape(&want),
                    escape(&got)
                );
            }
        }
        Outcome::Skipped => {
            let _ = writeln!(
                out,
                "      <skipped message=\"{}\"/>",
                escape(why.as_deref().unwrap_or("skipped"))
            );
        }
        Outcome::Interrupted => {
            let message = if run.child.is_some() {
                "interrupted"
            } else {
                "not run: the suite was interrupted"
            };
            let _ = writeln!(
                out,
                "      <error type=\"interrupted\" message=\"{message}\"/>"
            );
        }
        Outcome::Error => {
            let why = why.unwrap_or_else(|| "the run ended without a summary".to_owned());
            let first = why.lines().last().unwrap_or("");
            let _ = writeln!(
                out,
                "      <error type=\"error\" message=\"{}\">{}</error>",
                escape(first),
                escape(&why)
            );
        }
    }
    if let Some(capture) = run.capture() {
        let path = std::fs::canonicalize(capture)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| capture.to_owned());
        let events = run.summary().and_then(|s| s["events"].as_str());
        let _ = write!(
            out,
            "      <system-out>capture: {}\n[[ATTACHMENT|{}]]",
            escape(capture),
            escape(&path)
        );
        if let Some(events) = events {
            let _ = write!(out, "\nevents: {}", escape(events));
        }
        out.push_str("</system-out>\n");
    }
    out.push_str("    </testcase>\n");
}

/// Text for an XML attribute or element: escaped as the HTML report escapes (the same five
/// characters), after dropping the characters XML 1.0 forbids (most control characters, which
/// a program's stderr can hold).
fn escape(text: &str) -> String {
    let allowed = |c: &char| {
        !(((*c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r'))
            || *c == '\u{FFFE}'
            || *c == '\u{FFFF}')
    };
    crate::report::html::esc(&text.chars().filter(allowed).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::super::tests::lab_run;
    use super::*;
    use std::time::{Duration, SystemTime};

    #[test]
    fn one_case_per_lab_and_one_failure_per_failed_expectation() {
        let result = SuiteResult {
            runs: vec![
                lab_run("keepalive-reuse", Some(0), &[]),
                lab_run(
                    "pool-burst",
                    Some(1),
                    &[("reused", ">= 49", 3), ("connections", "= 1", 50)],
                ),
                lab_run("curl-keepalive", Some(3), &[]),
                lab_run("broken", Some(2), &[]),
                lab_run("late", None, &[]),
            ],
            started: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            elapsed: Duration::from_secs(9),
        };
        let xml = render(&result);
        assert!(xml.contains("<testsuites name=\"connlab\" tests=\"5\" failures=\"1\" errors=\"2\" skipped=\"1\""), "{xml}");
        assert_eq!(xml.matches("<testcase ").count(), 5);
        assert_eq!(xml.matches("<failure ").count(), 2);
        assert!(xml.contains("message=\"reused &gt;= 49 (got 3)\""), "{xml}");
        assert!(
            xml.contains("[[ATTACHMENT|/tmp/out/pool-burst.pcapng]]"),
            "{xml}"
        );
        assert!(
            xml.contains("&lt;b&gt; &amp; &quot;bad&quot;"),
            "escaped: {xml}"
        );
        assert!(xml.contains("timestamp=\"2023-11-14T22:13:20\""), "{xml}");
    }

    #[test]
    fn forbidden_characters_are_dropped() {
        assert_eq!(escape("a\u{1b}[31mb\u{0}"), "a[31mb");
    }
}
