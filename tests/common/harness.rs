//! The harness of the integration tests that need something (root, a tool, an unprivileged
//! user): each test names what it needs, and the runner's own count says what did not run.
//!
//! Outside CI a test whose needs are not met is reported as ignored, with the need as its
//! kind (`test [needs root] pool_burst ... ignored`), never as a pass that returned early.
//! Under CI (`CI` set) nothing is ignored: an unmet need fails the test and says what to
//! install. Built on libtest-mimic, so filters and `--list` work as with `#[test]`.

use std::process::{Command, ExitCode};

use libtest_mimic::{Arguments, Failed, Trial};

/// Something a test needs from the machine.
#[derive(Debug, Clone, Copy)]
pub enum Need {
    /// Root itself: the test looks at what root runs leave under /run/netns, builds
    /// namespaces with iproute2, or switches users.
    Root,
    /// Running labs: root, or (rootless) unprivileged user namespaces.
    Labs,
    /// A program on PATH.
    Tool(&'static str),
    /// A module of the distribution's Python (`/usr/bin/python3`).
    PythonModule(&'static str),
}

impl Need {
    fn met(self) -> bool {
        match self {
            // SAFETY: geteuid has no preconditions.
            Need::Root => (unsafe { libc::geteuid() }) == 0,
            Need::Labs => {
                Need::Root.met()
                    || Command::new("unshare")
                        .args(["--user", "--map-root-user", "--net", "true"])
                        .output()
                        .map(|o| o.status.success())
                        .unwrap_or(false)
            }
            Need::Tool(tool) => Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {tool}"))
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false),
            Need::PythonModule(module) => Command::new("/usr/bin/python3")
                .args(["-c", &format!("import {module}")])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false),
        }
    }

    fn words(self) -> String {
        match self {
            Need::Root => "root".to_owned(),
            Need::Labs => "root or unprivileged user namespaces".to_owned(),
            Need::Tool(tool) => tool.to_owned(),
            Need::PythonModule(module) => format!("python3-{module}"),
        }
    }
}

/// One test: its name, what it needs, its body (a panic fails it).
pub struct Case {
    name: &'static str,
    needs: Vec<Need>,
    body: fn(),
}

/// A test named `name` needing `needs`.
pub fn case(name: &'static str, needs: &[Need], body: fn()) -> Case {
    Case {
        name,
        needs: needs.to_vec(),
        body,
    }
}

/// `cases![name [needs...], ...]`: one [`Case`] per test function.
#[macro_export]
macro_rules! cases {
    ($($test:ident [$($need:expr),* $(,)?]),* $(,)?) => {
        vec![$($crate::common::harness::case(stringify!($test), &[$($need),*], $test)),*]
    };
}

/// Runs `cases` as the test binary's main.
pub fn run(cases: Vec<Case>) -> ExitCode {
    let args = Arguments::from_args();
    let ci = std::env::var_os("CI").is_some();
    let trials = cases
        .into_iter()
        .map(|c| {
            let unmet: Vec<String> = c
                .needs
                .iter()
                .filter(|n| !n.met())
                .map(|n| n.words())
                .collect();
            let body = c.body;
            let missing = unmet.join(", ");
            let trial = Trial::test(c.name, move || {
                if !missing.is_empty() {
                    let hint = if ci {
                        "CI is set, so this fails instead of being skipped; .ci/run installs the \
                         tools and runs as root"
                    } else {
                        "run as root with the tools installed (see docs/tests.md)"
                    };
                    return Err(Failed::from(format!("needs {missing}: {hint}")));
                }
                body();
                Ok(())
            });
            if unmet.is_empty() || ci {
                trial
            } else {
                trial
                    .with_ignored_flag(true)
                    .with_kind(format!("needs {}", unmet.join(", ")))
            }
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}
