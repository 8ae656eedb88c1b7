//! Two hosts made by a test, without connlab: network namespaces joined by one veth pair,
//! built with iproute2, so real programs (nginx, ab, curl, Go) talk over the kernel and tcpdump
//! records what connlab must then explain. Everything goes when the value is dropped, also
//! when the test panics.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The client host's address.
pub const CLIENT_IP: &str = "198.18.0.1";
/// The server host's address.
pub const SERVER_IP: &str = "198.18.0.2";

/// A client and a server host.
pub struct Hosts {
    /// Namespace of the client host.
    pub client: String,
    /// Namespace of the server host.
    pub server: String,
    children: Vec<Child>,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Hosts {
    /// Builds both hosts: `eth0` with 198.18.0.1/24 and 198.18.0.2/24, up.
    pub fn new() -> Hosts {
        let seq = 9_000 + NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let hosts = Hosts {
            client: format!("connlab-{pid}-{seq}-client"),
            server: format!("connlab-{pid}-{seq}-server"),
            children: Vec::new(),
        };
        ip(&["netns", "add", &hosts.client]);
        ip(&["netns", "add", &hosts.server]);
        let (a, b) = (format!("rc{seq}a"), format!("rc{seq}b"));
        ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
        for (dev, ns, addr) in [
            (&a, &hosts.client, CLIENT_IP),
            (&b, &hosts.server, SERVER_IP),
        ] {
            ip(&["link", "set", dev, "netns", ns]);
            let inside = |args: &[&str]| {
                let mut all = vec!["-n", ns.as_str()];
                all.extend_from_slice(args);
                ip(&all);
            };
            inside(&["link", "set", dev, "name", "eth0"]);
            inside(&["addr", "add", &format!("{addr}/24"), "dev", "eth0"]);
            inside(&["link", "set", "eth0", "up"]);
            inside(&["link", "set", "lo", "up"]);
        }
        hosts
    }

    /// A command run inside namespace `ns`.
    pub fn command(ns: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, program]);
        c
    }

    /// Starts `command` in the background; it is killed when the hosts go.
    pub fn spawn(&mut self, mut command: Command) -> &mut Child {
        let child = command
            .stdin(Stdio::null())
            .spawn()
            .expect("start a program");
        self.children.push(child);
        self.children.last_mut().expect("just pushed")
    }

    /// The program started with [`Hosts::spawn`] whose process id is `pid`.
    pub fn child(&mut self, pid: u32) -> &mut Child {
        self.children
            .iter_mut()
            .find(|c| c.id() == pid)
            .expect("a program these hosts started")
    }

    /// Runs nginx on the server host, its files under `prefix`, with `server` as the body of
    /// its one server block (listen and keep-alive directives) answering "ok" at `/`, and
    /// waits until `port` listens.
    pub fn nginx(&mut self, prefix: &Path, server: &str, port: u16) {
        let http =
            format!("server {{\n    {server}\n    location / {{ return 200 \"ok\\n\"; }}\n  }}");
        let ns = self.server.clone();
        self.nginx_in(&ns, prefix, &http, port);
    }

    /// Runs nginx in namespace `ns`, its files under `prefix`, with `http` as the body of its
    /// `http` block, and waits until `port` listens there.
    pub fn nginx_in(&mut self, ns: &str, prefix: &Path, http: &str, port: u16) {
        let conf = prefix.join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "worker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/error.log;\n\
                 events {{ worker_connections 1024; }}\n\
                 http {{\n  access_log off;\n  {http}\n}}\n",
                p = prefix.display()
            ),
        )
        .expect("nginx.conf");
        let mut cmd = Hosts::command(ns, "nginx");
        cmd.arg("-p")
            .arg(prefix)
            .arg("-c")
            .arg(&conf)
            .args(["-g", "daemon off;"]);
        self.spawn(cmd);
        Hosts::wait_listening_in(ns, port);
    }

    /// Starts tcpdump on the client host, writing a classic pcap to `file`, and waits until it
    /// listens. Stop it with [`Hosts::stop_capture`].
    pub fn capture(&mut self, file: &Path) -> u32 {
        self.capture_first_bytes(file, 512)
    }

    /// As [`Hosts::capture`], keeping only the first `snaplen` bytes of each frame.
    pub fn capture_first_bytes(&mut self, file: &Path, snaplen: u32) -> u32 {
        let mut tcpdump = Hosts::command(&self.client, "tcpdump");
        tcpdump
            .args(["-i", "eth0", "-s"])
            .arg(snaplen.to_string())
            .args(["-B", "65536", "-U", "--immediate-mode", "-w"])
            .arg(file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let child = self.spawn(tcpdump);
        let pid = child.id();
        let stderr = child.stderr.take().expect("tcpdump stderr");
        let mut lines = BufReader::new(stderr).lines();
        let listening = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.contains("listening on"));
        assert!(listening, "tcpdump did not start");
        std::thread::spawn(move || lines.for_each(drop));
        pid
    }

    /// Stops the tcpdump started by [`Hosts::capture`] and waits until its file is complete.
    pub fn stop_capture(&mut self, pid: u32) {
        let _ = Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status();
        if let Some(child) = self.children.iter_mut().find(|c| c.id() == pid) {
            let _ = child.wait();
        }
    }

    /// Waits until something listens on `port` on the server host.
    pub fn wait_listening(&self, port: u16) {
        Hosts::wait_listening_in(&self.server, port);
    }

    /// Waits until something listens on `port` in namespace `ns`: up to a minute, as the
    /// labs allow a server program, since a database makes its data folder first and CI's
    /// other tests keep both cores busy meanwhile.
    pub fn wait_listening_in(ns: &str, port: u16) {
        let start = Instant::now();
        loop {
            let out = Hosts::command(ns, "ss")
                .args(["-Htln", &format!("sport = :{port}")])
                .output()
                .expect("ss");
            if !String::from_utf8_lossy(&out.stdout).trim().is_empty() {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "nothing listens on port {port} after 60 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in [&self.client, &self.server] {
            if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}
