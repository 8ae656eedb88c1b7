//! External actors: any program (curl, a Go binary, nginx) run inside the client or the server
//! namespace, told where its peer is through environment variables, its output kept beside the
//! capture, and killed with the lab.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::run_as::RunAs;
use crate::net::netns;

/// The variable naming the program's own folder beside the capture (`<run>.server.data`),
/// made when an argument names it, and owned by the program's user.
const DATA_DIR: &str = "CONNLAB_DATA_DIR";
/// How long a program stopped by the lab has to end after SIGTERM before it is killed.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// `arg` with each `$NAME` or `${NAME}` of `vars` replaced by its value; anything else is
/// left as written.
fn expand(arg: &str, vars: &[(String, String)]) -> String {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, used) = match after.strip_prefix('{') {
            Some(inner) => match inner.find('}') {
                Some(end) => (&inner[..end], end + 2),
                None => ("", 0),
            },
            None => {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], end)
            }
        };
        match vars.iter().find(|(k, _)| k == name).filter(|_| used > 0) {
            Some((_, value)) => {
                out.push_str(value);
                rest = &after[used..];
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `[exec_client]` or `[exec_server]`: a program to run in a namespace.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExecConfig {
    /// Program and arguments, run through no shell. connlab expands `$CONNLAB_SERVER_ADDR`
    /// and the other variables it sets (`${NAME}` too) in each argument; `["sh", "-c", "..."]`
    /// gives a shell where one is wanted.
    pub command: Vec<String>,
    /// The server's port: where an exec server listens, or where an exec client connects.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// When connlab runs as root, the program runs as this user (`"nobody"`): a real server
    /// needs no root, and PostgreSQL refuses it. Ignored when connlab is not root.
    #[serde(default)]
    pub user: Option<String>,
    /// Programs on PATH the command needs besides its first word (a shell script's tools):
    /// where one is missing, the lab is skipped as it is for a missing program.
    #[serde(default)]
    pub needs: Vec<String>,
    /// The program refuses to run as root (PostgreSQL), also as the root of a user namespace:
    /// without root to switch to `user`, the lab cannot run it and is skipped.
    #[serde(default)]
    pub refuses_root: bool,
    /// A server that listens before it serves (PostgreSQL answers "the database system is
    /// starting up" meanwhile): a command connlab runs in the server's namespace, as `user`,
    /// until it exits 0 (`pg_isready`). It reaches the server's address from the server's
    /// own host, so nothing of it crosses the wire.
    #[serde(default)]
    pub ready: Vec<String>,
}

fn default_port() -> u16 {
    80
}

/// Why an external actor could not start.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The program is not installed: the lab is skipped (outside CI).
    #[error("{0} is not installed")]
    NotInstalled(String),
    /// The program refuses root and connlab cannot switch users (it is not root): the lab
    /// is skipped (outside CI).
    #[error("{0} refuses to run as root, and connlab without root cannot run it as {1}")]
    RefusesRoot(String, String),
    /// Anything else.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// A running external actor.
#[derive(Debug)]
pub struct ExecChild {
    child: Child,
    report: ExecReport,
    /// The variables it was started with (connlab's, `CONNLAB_DATA_DIR` among them), for
    /// its `ready` command.
    env: Vec<(String, String)>,
}

/// What an external actor did, for the summary.
#[derive(Debug, Clone, Serialize)]
pub struct ExecReport {
    /// "client" or "server".
    pub side: String,
    /// The command as configured.
    pub command: Vec<String>,
    /// Exit code, None while running or when killed by a signal.
    pub exit_code: Option<i32>,
    /// connlab stopped it (it still ran when the lab ended): its exit code is its answer to
    /// SIGTERM, which some servers give as 1 (pgbouncer's "fast exit"), not a failure.
    pub stopped: bool,
    /// Where its standard output went.
    pub stdout: PathBuf,
    /// Where its standard error went.
    pub stderr: PathBuf,
}

impl ExecConfig {
    /// The program's path if it can be found (on PATH or as given).
    fn program(&self) -> Result<PathBuf, ExecError> {
        let name = self
            .command
            .first()
            .ok_or_else(|| ExecError::Other(anyhow::anyhow!("exec command is empty")))?;
        for needed in &self.needs {
            on_path(needed)?;
        }
        on_path(name)
    }
}

/// Where `name` (a path, or a program on PATH) is; `NotInstalled` where nowhere.
fn on_path(name: &str) -> Result<PathBuf, ExecError> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(ExecError::NotInstalled(name.to_owned()))
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| ExecError::NotInstalled(name.to_owned()))
}

/// Spawns `command` with its network namespace switched to `ns` between fork and exec.
pub fn spawn_in(ns: &str, command: &mut Command) -> Result<Child> {
    spawn_as(ns, None, command)
}

/// As [`spawn_in`], then as `user` where one is given. The user is switched after the
/// namespace (joining one needs root) and before the death signal (a change of credentials
/// clears it).
fn spawn_as(ns: &str, user: Option<RunAs>, command: &mut Command) -> Result<Child> {
    let ns_file = File::open(netns::path(ns)).with_context(|| format!("opening namespace {ns}"))?;
    let ns_fd = ns_file.as_raw_fd();
    // SAFETY: between fork and exec only async-signal-safe calls: setns(2) on an fd opened
    // before the fork, setgroups(2), setgid(2), setuid(2) and prctl(2).
    unsafe {
        command.pre_exec(move || {
            if libc::setns(ns_fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(user) = user {
                user.become_it()?;
            }
            // Die with connlab (even killed with -9), so no program outlives the lab and
            // keeps its namespace alive; the lab thread that spawns it lives as long as it.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command
        .spawn()
        .with_context(|| format!("starting {:?}", command.get_program()))?;
    drop(ns_file);
    Ok(child)
}

/// Runs `cfg`'s `ready` command once inside namespace `ns`, as its user, with `env`: whether
/// it said the server is ready (exit 0).
pub fn ready(ns: &str, cfg: &ExecConfig, env: &[(String, String)]) -> Result<bool> {
    let Some(first) = cfg.ready.first() else {
        return Ok(true);
    };
    let program = on_path(first).map_err(anyhow::Error::from)?;
    let user = cfg.user.as_deref().map(RunAs::named).transpose()?.flatten();
    let mut command = Command::new(program);
    command
        .args(cfg.ready[1..].iter().map(|a| expand(a, env)))
        .envs(env.iter().cloned())
        .envs(&cfg.env)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let status = spawn_as(ns, user, &mut command)?
        .wait()
        .context("waiting for the ready command")?;
    Ok(status.success())
}

/// Starts `cfg` inside namespace `ns`, with `env` added, writing its output to
/// `<out_prefix>.<side>.stdout` and `.stderr`.
pub fn spawn(
    ns: &str,
    side: &str,
    cfg: &ExecConfig,
    env: &[(String, String)],
    out_prefix: &Path,
) -> Result<ExecChild, ExecError> {
    let program = cfg.program()?;
    let stdout = crate::paths::beside(out_prefix, &format!("{side}.stdout"));
    let stderr = crate::paths::beside(out_prefix, &format!("{side}.stderr"));
    let open = |p: &Path| File::create(p).with_context(|| format!("creating {}", p.display()));
    let user = cfg.user.as_deref().map(RunAs::named).transpose()?.flatten();
    if cfg.refuses_root && user.is_none() {
        let name = cfg
            .user
            .clone()
            .unwrap_or_else(|| "another user".to_owned());
        return Err(ExecError::RefusesRoot(cfg.command[0].clone(), name));
    }
    let mut env = env.to_vec();
    let data = crate::paths::beside(out_prefix, &format!("{side}.data"));
    env.push((DATA_DIR.to_owned(), data.display().to_string()));
    if cfg.command.iter().any(|a| a.contains(DATA_DIR)) {
        std::fs::create_dir(&data).with_context(|| format!("creating {}", data.display()))?;
        if let Some(user) = &user {
            user.own(&data)?;
        }
    }
    let args = cfg.command[1..].iter().map(|a| expand(a, &env));
    let mut command = Command::new(&program);
    command
        .args(args)
        .envs(env.iter().cloned())
        .envs(&cfg.env)
        .stdin(Stdio::null())
        .stdout(open(&stdout)?)
        .stderr(open(&stderr)?);
    let child = spawn_as(ns, user, &mut command)?;
    Ok(ExecChild {
        child,
        env,
        report: ExecReport {
            side: side.to_owned(),
            command: cfg.command.clone(),
            exit_code: None,
            stdout,
            stderr,
            stopped: false,
        },
    })
}

impl ExecChild {
    /// The variables connlab started it with.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// The exit status if it has ended.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Stops it and returns its report: SIGTERM first, so that a real server shuts down as
    /// it is meant to (PostgreSQL's postmaster ends its backends and frees its shared memory;
    /// SIGKILL would leave the backends to notice it gone), then SIGKILL after [`STOP_GRACE`].
    pub fn stop(mut self) -> ExecReport {
        if self.try_wait().is_none() {
            self.report.stopped = true;
            let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = std::time::Instant::now() + STOP_GRACE;
            while self.try_wait().is_none() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            if self.try_wait().is_none() {
                let _ = self.child.kill();
            }
        }
        self.report.exit_code = self.child.wait().ok().and_then(|s| s.code());
        self.report
    }
}

#[cfg(test)]
mod tests {
    use super::expand;

    fn vars() -> Vec<(String, String)> {
        vec![
            ("CONNLAB_SERVER_ADDR".into(), "198.18.0.2".into()),
            ("CONNLAB_DATA_DIR".into(), "/out/x.server.data".into()),
        ]
    }

    #[test]
    fn names_connlab_sets_expand_in_arguments() {
        assert_eq!(expand("$CONNLAB_SERVER_ADDR", &vars()), "198.18.0.2");
        assert_eq!(
            expand("--dir=${CONNLAB_DATA_DIR}/db", &vars()),
            "--dir=/out/x.server.data/db"
        );
        assert_eq!(
            expand("$CONNLAB_SERVER_ADDR:$CONNLAB_DATA_DIR", &vars()),
            "198.18.0.2:/out/x.server.data"
        );
    }

    #[test]
    fn anything_else_is_left_as_written() {
        for arg in [
            "$HOME",
            "cost $5",
            "${UNCLOSED",
            "$",
            "a$",
            "${}",
            "--save ''",
        ] {
            assert_eq!(expand(arg, &vars()), arg);
        }
    }
}
