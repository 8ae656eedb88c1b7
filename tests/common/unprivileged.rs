//! Running connlab as an ordinary user, from a test that runs as root: the user named by
//! `CONNLAB_UNPRIVILEGED_USER` (.ci/run creates one), else `nobody`; a copy of the binary it
//! can execute, and output folders it can write.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The unprivileged user's name.
pub fn user() -> String {
    std::env::var("CONNLAB_UNPRIVILEGED_USER").unwrap_or_else(|_| "nobody".to_owned())
}

/// The user's uid.
pub fn uid() -> u32 {
    let out = Command::new("id")
        .args(["-u", &user()])
        .output()
        .expect("id -u");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a uid")
}

/// A copy of the connlab binary in a folder every user can read (the build folder may not be).
pub fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("connlab-rootless-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("binary folder");
        let bin = dir.join("connlab");
        std::fs::copy(env!("CARGO_BIN_EXE_connlab"), &bin).expect("copy the binary");
        for p in [&dir, &bin] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))
                .expect("permissions");
        }
        bin
    })
}

/// `connlab <args>` as the unprivileged user.
pub fn connlab() -> Command {
    let mut c = Command::new("runuser");
    c.args(["-u", &user(), "--"]).arg(binary());
    c
}

/// A fresh output folder the user can write.
pub fn out_dir(test: &str) -> PathBuf {
    let dir = super::out_dir(&format!("rootless-{test}"));
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    dir
}

/// Pids of the processes the user runs now.
pub fn processes() -> Vec<u32> {
    let uid = uid();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("Uid:"))
                        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u32>().ok())
                })
                == Some(uid)
        })
        .collect()
}

/// Waits (up to 5 s) until the user runs nothing; false if something is still running.
pub fn nothing_left() -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(5) {
        if processes().is_empty() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}
