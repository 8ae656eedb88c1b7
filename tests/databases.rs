//! Database and cache servers from Debian's packages, and their own clients: the real
//! redis-server with redis-py (python3-redis), PostgreSQL with psycopg2 (python3-psycopg2), MariaDB with PyMySQL, on hosts made by the test and recorded by
//! tcpdump, and the lab that starts redis-server itself. What connlab reads off the wire is
//! checked against the programs' own counts: the client's, and the server's `INFO
//! commandstats`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::harness::Need;
use common::hosts::{Hosts, SERVER_IP};
use common::real::{finding, first_knob, go_program, inspect};
use common::*;
use serde_json::Value;

/// Starts redis-server on the server host as `nobody`, closing clients idle longer than
/// `timeout_s`, its files under `dir`; waits until it listens.
fn redis_server(hosts: &mut Hosts, dir: &Path, timeout_s: u32) {
    std::fs::create_dir_all(dir).expect("redis folder");
    let owned = std::process::Command::new("chown")
        .args(["nobody:nogroup"])
        .arg(dir)
        .status()
        .expect("chown");
    assert!(owned.success());
    let mut server = Hosts::command(&hosts.server, "setpriv");
    server
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "redis-server",
        ])
        .args([
            "--bind",
            SERVER_IP,
            "--port",
            "6379",
            "--protected-mode",
            "no",
        ])
        .args([
            "--timeout",
            &timeout_s.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(dir.join("redis.log"));
    hosts.spawn(server);
    Hosts::wait_listening_in(&hosts.server.clone(), 6379);
}

/// Starts PostgreSQL on the server host as `nobody`, its data folder made by initdb under
/// `dir` (trusting the test's addresses), logging every connection and statement to
/// `dir/postgres.log`; waits until it listens. Returns its process id, to stop it cleanly.
fn postgres_server(hosts: &mut Hosts, dir: &Path, settings: &[&str]) -> u32 {
    std::fs::create_dir_all(dir).expect("postgres folder");
    let owned = std::process::Command::new("chown")
        .args(["nobody:nogroup"])
        .arg(dir)
        .status()
        .expect("chown");
    assert!(owned.success());
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server (Debian's postgresql)")
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin"))
        .max()
        .expect("a PostgreSQL version");
    let data = dir.join("db");
    let as_nobody = |program: &Path| {
        let mut c = Hosts::command(&hosts.server.clone(), "setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(program);
        c
    };
    let made = as_nobody(&bin.join("initdb"))
        .arg("--pgdata")
        .arg(&data)
        .args(["--username=postgres", "--auth=trust", "--no-sync"])
        .output()
        .expect("initdb");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let hba = data.join("pg_hba.conf");
    let mut rules = std::fs::read_to_string(&hba).expect("pg_hba.conf");
    rules.push_str("host all all 198.18.0.0/15 trust\n");
    std::fs::write(&hba, rules).expect("pg_hba.conf");
    let log = std::fs::File::create(dir.join("postgres.log")).expect("postgres.log");
    let mut server = as_nobody(&bin.join("postgres"));
    server
        .arg("-D")
        .arg(&data)
        // No Unix socket: the test's folder may be longer than a socket's path can be.
        .args(["-p", "5432", "-c", "unix_socket_directories="])
        .args(["-c", &format!("listen_addresses={SERVER_IP}")])
        .args(["-c", "log_statement=all", "-c", "log_connections=on"])
        .args(["-c", "log_disconnections=on", "-c", "fsync=off"]);
    for setting in settings {
        server.args(["-c", setting]);
    }
    server.stderr(log);
    let pid = hosts.spawn(server).id();
    Hosts::wait_listening_in(&hosts.server.clone(), 5432);
    pid
}

/// Stops the PostgreSQL started by [`postgres_server`] as its administrator would (a fast
/// shutdown), so no shared memory is left behind.
fn stop_postgres(hosts: &mut Hosts, pid: u32) {
    // `ip netns exec` runs setpriv, which runs postgres in the same process: the pid is the
    // postmaster's.
    let _ = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    let _ = hosts.child(pid).wait();
}

/// The file or folder of a lab's run in `out` whose name ends with `suffix` (the run's
/// capture, its server's log or data folder).
fn beside(out: &Path, suffix: &str) -> std::path::PathBuf {
    std::fs::read_dir(out)
        .expect("the lab's folder")
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().ends_with(suffix))
        .unwrap_or_else(|| panic!("no *{suffix} in {}", out.display()))
        .path()
}

/// The lines of a PostgreSQL log that contain `what`.
fn log_lines(log: &str, what: &str) -> u64 {
    log.lines().filter(|l| l.contains(what)).count() as u64
}

/// What the server says of itself: `INFO section` asked on its host's loopback (so the
/// question is not in the capture), as `(name, first figure)` pairs of the lines starting
/// with `prefix` (`cmdstat_get:calls=19,...` gives `("GET", 19)`).
fn server_info(hosts: &Hosts, section: &str, prefix: &str) -> BTreeMap<String, u64> {
    let out = Hosts::command(&hosts.server, "redis-cli")
        .args(["-h", SERVER_IP, "-p", "6379", "INFO", section])
        .output()
        .expect("redis-cli");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix(prefix)?.split_once(':')?;
            let figure = rest
                .split_once('=')?
                .1
                .split(',')
                .next()?
                .trim()
                .parse()
                .ok()?;
            Some((name.to_ascii_uppercase(), figure))
        })
        .collect()
}

/// Counts by name as a map of numbers.
fn counts(v: &Value) -> BTreeMap<String, u64> {
    v.as_object()
        .expect("an object of counts")
        .iter()
        .map(|(k, n)| (k.clone(), n.as_u64().expect("a count")))
        .collect()
}

/// redis-py with its defaults against redis-server with `timeout 3`: connlab counts exactly
/// the commands the client says it sent (and the server says it ran), finds the pipeline of
/// 8, the subscriber and the refused command (as the server counts it), and names the
/// server's idle close of the three pooled connections with Redis's own knob first.
fn redis_py_against_a_server_with_timeout_3() {
    let mut hosts = Hosts::new();
    let out = out_dir("redis-py");
    redis_server(&mut hosts, &out.join("redis"), 3);
    let file = out.join("redis-py.pcap");
    let tcpdump = hosts.capture_first_bytes(&file, 65535);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/redis_peer.py");
    let client = Hosts::command(&hosts.client, "/usr/bin/python3")
        .arg(&script)
        .args([SERVER_IP, "6379", "5"])
        .output()
        .expect("run the redis-py client");
    assert!(
        client.status.success(),
        "{}",
        String::from_utf8_lossy(&client.stderr)
    );
    std::thread::sleep(Duration::from_millis(300));
    hosts.stop_capture(tcpdump);
    let told: Value = serde_json::from_slice(&client.stdout).expect("the client's JSON");
    let s = inspect(&file);
    let redis = &s["redis"];

    let sent = counts(&told["sent"]);
    assert_eq!(counts(&redis["commands"]["by_name"]), sent, "{redis:#}");
    assert_eq!(
        redis["commands"]["total"].as_u64(),
        Some(sent.values().sum())
    );
    // The server ran them all but the one it does not know (and the INFO asked here), and
    // counted the error it answered by its prefix.
    let mut ran = server_info(&hosts, "commandstats", "cmdstat_");
    ran.remove("INFO");
    let known: BTreeMap<String, u64> = sent
        .into_iter()
        .filter(|(name, _)| !name.starts_with("CONNLAB-"))
        .collect();
    assert_eq!(ran, known, "INFO commandstats");
    let refused = server_info(&hosts, "errorstats", "errorstat_");
    assert_eq!(counts(&redis["errors"]), refused, "INFO errorstats");
    assert_eq!(
        refused.values().sum::<u64>(),
        told["errors"].as_u64().unwrap()
    );
    assert_eq!(redis["deepest_pipeline"], 8, "{redis:#}");
    assert_eq!(redis["subscribers"], 1, "{redis:#}");
    assert_eq!(redis["protocol_errors"], 0);

    // The three pooled connections idle past `timeout 3`: closed by the server after 3 to 4 s
    // (it checks about ten times a second, in whole seconds), named with Redis's knob first.
    let idle = finding(&s, "server_idle_close");
    assert_eq!(idle["connections"], 3, "{idle:#}");
    let after = idle["after_ms"].as_f64().expect("after_ms");
    assert!((3000.0..4300.0).contains(&after), "closed after {after} ms");
    assert!(
        first_knob(&s, "server_idle_close").starts_with("redis-server timeout"),
        "{:#}",
        idle["knobs"]
    );
}

/// The lab starts redis-server itself, as `nobody`, with its files beside the capture; its
/// own expectations say the rest.
fn the_redis_lab_runs_the_real_server_unprivileged() {
    let out = out_dir("redis-lab");
    let run = run_lab("redis-idle-timeout", &out);
    assert_expectations_pass(&run);
    let data = beside(&out, ".server.data");
    let log = std::fs::read_to_string(data.join("redis.log")).expect("redis.log");
    assert!(log.contains("Ready to accept connections"), "{log}");
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(&data).expect("metadata").uid();
    assert_ne!(
        owner, 0,
        "the server's folder belongs to its unprivileged user"
    );
}

/// The lab starts the real PostgreSQL itself (initdb into its folder beside the capture, run as
/// `nobody`), with `idle_session_timeout = 3s`. What connlab reads off the wire must equal the
/// server's own log (`log_connections`, `log_statement = all`, its FATALs) and tshark's pgsql
/// dissector; the lab's expectations say the rest.
fn the_postgres_lab_agrees_with_the_servers_log() {
    let out = out_dir("postgres-lab");
    let run = run_lab("pg-idle-session-timeout", &out);
    assert_expectations_pass(&run);
    let pg = &run.summary["postgres"];
    let file = |suffix: &str| beside(&out, suffix);
    let log = std::fs::read_to_string(file(".server.stderr")).expect("the server's log");
    let lines = |what: &str| log.lines().filter(|l| l.contains(what)).count() as u64;
    assert_eq!(
        pg["sessions"].as_u64(),
        Some(lines("connection authorized:")),
        "{pg:#}"
    );
    assert_eq!(
        pg["sessions"].as_u64(),
        Some(lines("disconnection:")),
        "{pg:#}"
    );
    // The server ran every query it answered; the three written into closed sessions never
    // reached it.
    assert_eq!(
        pg["queries"]["answered"].as_u64(),
        Some(lines("LOG:  statement:")),
        "{pg:#}"
    );
    assert_eq!(
        pg["errors"]["57P05"].as_u64(),
        Some(lines(
            "FATAL:  terminating connection due to idle-session timeout"
        ))
    );
    assert_eq!(pg["errors"]["57P05"], 3);
    // tshark's dissector sees as many simple queries, startups and errors.
    let capture = file(".pcapng");
    let tshark = std::process::Command::new("tshark")
        .args([
            "-d",
            "tcp.port==5432,pgsql",
            "-T",
            "fields",
            "-e",
            "pgsql.type",
            "-r",
        ])
        .arg(&capture)
        .output()
        .expect("run tshark");
    let types = String::from_utf8_lossy(&tshark.stdout).replace('\n', ",");
    let count = |t: &str| types.split(',').filter(|x| *x == t).count() as u64;
    assert_eq!(pg["queries"]["total"].as_u64(), Some(count("Simple query")));
    assert_eq!(pg["sessions"].as_u64(), Some(count("Startup message")));
    assert_eq!(pg["fatal"].as_u64(), Some(count("Error")));
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(file(".server.data"))
        .expect("metadata")
        .uid();
    assert_ne!(
        owner, 0,
        "the server's folder belongs to its unprivileged user"
    );
}

/// A session left idle in a transaction past `idle_in_transaction_session_timeout`: the lab's
/// expectations, and the server's own log, which says the same three FATALs.
fn the_idle_in_transaction_lab_agrees_with_the_servers_log() {
    let out = out_dir("postgres-idle-in-transaction");
    let run = run_lab("pg-idle-in-transaction", &out);
    assert_expectations_pass(&run);
    let log = std::fs::read_to_string(beside(&out, ".server.stderr")).expect("the server's log");
    let pg = &run.summary["postgres"];
    assert_eq!(
        pg["errors"]["25P03"].as_u64(),
        Some(log_lines(&log, "idle-in-transaction timeout"))
    );
    assert_eq!(
        pg["sessions"].as_u64(),
        Some(log_lines(&log, "connection authorized:"))
    );
}

/// pgbouncer in transaction pooling with `server_idle_timeout = 2`, both its legs on the wire:
/// the server leg must equal PostgreSQL's own log, the closes pgbouncer's log ("server idle
/// timeout"), and tshark must see the same startups and Terminates.
fn the_pgbouncer_lab_agrees_with_both_logs() {
    let out = out_dir("pgbouncer-lab");
    let run = run_lab("pgbouncer-server-idle", &out);
    assert_expectations_pass(&run);
    let read = |folder: &str, file: &str| {
        let path = beside(&out, folder).join(file);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let postgres = read(".client.data", "postgres.log");
    let pgbouncer = read(".server.data", "pgbouncer.log");
    // Every session on the server's side: pgbouncer's server connections (pg_isready's local
    // check never crossed the wire).
    let server_leg = log_lines(&postgres, "connection authorized: user=postgres");
    assert_eq!(server_leg, 4, "{postgres}");
    assert_eq!(
        log_lines(&pgbouncer, "new connection to server"),
        server_leg
    );
    assert_eq!(log_lines(&pgbouncer, "login attempt"), 3);
    let pg = &run.summary["postgres"];
    assert_eq!(
        pg["sessions"].as_u64(),
        Some(server_leg + log_lines(&pgbouncer, "login attempt"))
    );
    // Each statement twice: from the clients to pgbouncer, and as PostgreSQL ran it.
    assert_eq!(
        pg["queries"]["total"].as_u64(),
        Some(2 * log_lines(&postgres, "LOG:  statement:"))
    );
    // pgbouncer's own word on its closes: three while its clients stayed (the finding), then
    // the last one after they left.
    assert_eq!(
        log_lines(&pgbouncer, "closing because: server idle timeout"),
        4
    );
    let finding = &run.summary["findings"][0];
    assert_eq!(finding["kind"], "proxy_upstream_idle_close");
    assert_eq!(finding["connections"], 3);
    let endpoints = run.summary["endpoints"].as_array().expect("endpoints");
    let front = endpoints
        .iter()
        .find(|e| e["server"].as_str().is_some_and(|s| s.ends_with(":6432")))
        .expect("pgbouncer's endpoint");
    assert_eq!(front["server_stack"]["stack"], "pgbouncer", "{front:#}");
    // tshark: as many startups and Terminates.
    let tshark = std::process::Command::new("tshark")
        .args([
            "-d",
            "tcp.port==6432,pgsql",
            "-T",
            "fields",
            "-e",
            "pgsql.type",
            "-r",
        ])
        .arg(beside(&out, ".pcapng"))
        .output()
        .expect("run tshark");
    let types = String::from_utf8_lossy(&tshark.stdout).replace('\n', ",");
    let count = |t: &str| types.split(',').filter(|x| *x == t).count() as u64;
    assert_eq!(pg["sessions"].as_u64(), Some(count("Startup message")));
    assert_eq!(
        pg["ended"]["terminate"].as_u64(),
        Some(count("Termination"))
    );
    assert_eq!(pg["queries"]["total"].as_u64(), Some(count("Simple query")));
}

/// The middlebox forgets the pooled sessions while they sit idle: with its RST (AWS's way)
/// each next query meets a reset from the path, `reset_after_idle` by the middlebox, and the
/// server's log shows the three old sessions never ended; with `on_expired = drop` (Azure's)
/// the query meets a black hole, retransmitted until libpq's `tcp_user_timeout` gives up:
/// `dead_peer`, with libpq's knobs.
fn the_stale_session_labs_meet_a_reset_and_a_black_hole() {
    let out = out_dir("postgres-stale");
    let run = run_lab("pg-stale-after-middlebox", &out);
    assert_expectations_pass(&run);
    let log = std::fs::read_to_string(beside(&out, ".server.stderr")).expect("the server's log");
    assert_eq!(log_lines(&log, "connection authorized:"), 6, "{log}");
    // The server ran every query answered; the three written into forgotten flows never
    // reached it.
    let statements = log_lines(&log, "LOG:  statement:");
    assert_eq!(
        Some(statements),
        run.summary["postgres"]["queries"]["answered"].as_u64()
    );
    let s = run_with(
        "pg-stale-after-middlebox",
        "link.middlebox.on_expired=drop",
        "postgres-black-hole",
    );
    assert_eq!(s["middlebox"]["rsts_sent"], 0, "{s:#}");
    assert_eq!(kinds(&s), ["dead_peer"], "{:#}", s["findings"]);
    let dead = &s["findings"][0];
    assert_eq!(dead["connections"], 3);
    assert!(dead["retransmits"].as_u64().unwrap_or(0) >= 3, "{dead:#}");
    let knobs = dead["knobs"].to_string();
    assert!(knobs.contains("libpq tcp_user_timeout"), "{knobs}");
    assert_eq!(s["postgres"]["queries"]["answered"], 6);
}

/// Runs `lab` with one `--set` into a folder of its own named `folder`: its summary.
fn run_with(lab: &str, set: &str, folder: &str) -> Value {
    let output = connlab()
        .args(["run", lab, "--set", set, "--json-summary", "--out"])
        .arg(out_dir(folder))
        .output()
        .expect("run");
    parse_json_output(&output).summary
}

/// The kinds of the findings of a summary, in order.
fn kinds(s: &Value) -> Vec<&str> {
    s["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["kind"].as_str())
        .collect()
}

/// What a server's log must say of a max-lifetime lab: where it is (the entry beside the
/// capture whose name ends so, and the file inside it when it is a folder), and the words of
/// a session's start and of a query.
struct ServerLog {
    file: (&'static str, Option<&'static str>),
    session: &'static str,
    query: &'static str,
}

/// The `<db>-max-lifetime-fix` lab: six sessions and six queries in the server's log, no
/// reset; then with the lifetime unset, four resets after idle (the second and third bursts
/// each find both pooled connections forgotten) that database/sql's retry hides from the
/// caller, and the finding names `knob`.
fn a_lifetime_below_the_idle_timeout(db: &str, log: ServerLog, knob: &str) {
    let lab = format!("{db}-max-lifetime-fix");
    let out = out_dir(&lab);
    let run = run_lab(&lab, &out);
    assert_expectations_pass(&run);
    let s = &run.summary;
    for stale in [
        "reset_after_idle",
        "request_on_closing_connection",
        "dead_peer",
    ] {
        assert!(!kinds(s).contains(&stale), "{:#}", s["findings"]);
    }
    let (entry, inside) = log.file;
    let path = beside(&out, entry);
    let path = match inside {
        Some(file) => path.join(file),
        None => path,
    };
    let text = std::fs::read_to_string(path).expect("the server's log");
    assert_eq!(log_lines(&text, log.session), 6, "{text}");
    assert_eq!(log_lines(&text, log.query), 6, "{text}");

    let unset = format!("{db}-max-lifetime-unset");
    let s = run_with(&lab, "db_client.max_lifetime_ms=60000", &unset);
    assert_eq!(kinds(&s), ["reset_after_idle"], "{:#}", s["findings"]);
    let reset = &s["findings"][0];
    assert_eq!(reset["connections"], 4, "{reset:#}");
    assert_eq!(s["middlebox"]["rsts_sent"], 4, "{s:#}");
    assert_eq!(
        (s["client"]["ok"].as_u64(), s["client"]["failed"].as_u64()),
        (Some(6), Some(0)),
        "{:#}",
        s["client"]
    );
    assert!(reset["knobs"].to_string().contains(knob), "{reset:#}");
}

/// The built-in pool with database/sql's SetConnMaxLifetime at 1 s behind a middlebox that
/// forgets flows idle 3 s: every session is ended by the pool (Terminate, the client's FIN)
/// before the middlebox forgets it, so nothing meets a reset; the server's log has each
/// session and query. Without the lifetime the same bursts meet the middlebox's RSTs and the
/// pool retries each query on a new session.
fn a_pool_lifetime_below_the_middleboxs_idle_timeout_meets_no_reset() {
    let log = ServerLog {
        file: (".server.stderr", None),
        session: "connection authorized:",
        query: "LOG:  statement:",
    };
    a_lifetime_below_the_idle_timeout("pg", log, "SetConnMaxIdleTime");
}

/// MariaDB started by the lab (`mariadb-install-db` into its folder, run as `nobody`) with
/// `wait_timeout = 3`: what connlab reads off the wire must equal the server's general log
/// (its Connect, Query and Quit lines) and tshark's mysql dissector.
fn the_mysql_lab_agrees_with_the_general_log() {
    let out = out_dir("mysql-lab");
    let run = run_lab("mysql-wait-timeout-gone-away", &out);
    assert_expectations_pass(&run);
    let my = &run.summary["mysql"];
    let file = |suffix: &str| beside(&out, suffix);
    let log =
        std::fs::read_to_string(file(".server.data").join("general.log")).expect("the general log");
    assert_eq!(
        my["sessions"].as_u64(),
        Some(log_lines(&log, " Connect\t")),
        "{my:#}"
    );
    assert_eq!(
        my["commands"]["answered"].as_u64(),
        Some(log_lines(&log, " Query\t"))
    );
    assert_eq!(
        my["ended"]["quit"].as_u64(),
        Some(log_lines(&log, " Quit\t"))
    );
    let tshark = std::process::Command::new("tshark")
        .args([
            "-d",
            "tcp.port==3306,mysql",
            "-T",
            "fields",
            "-e",
            "mysql.command",
            "-r",
        ])
        .arg(file(".pcapng"))
        .output()
        .expect("run tshark");
    let commands = String::from_utf8_lossy(&tshark.stdout);
    let queries = commands.lines().filter(|l| *l == "3").count() as u64;
    assert_eq!(
        my["commands"]["by_name"]["COM_QUERY"].as_u64(),
        Some(queries)
    );
}

/// Runs the client program `command` on the client host with the wire captured into `file`
/// (the capture stops 300 ms after it ends); fails the test `name` when the program does.
/// Returns what it printed.
fn client_captured(hosts: &mut Hosts, file: &Path, name: &str, command: &[&str]) -> String {
    let tcpdump = hosts.capture_first_bytes(file, 65535);
    let client = Hosts::command(&hosts.client, command[0])
        .args(&command[1..])
        .output()
        .expect("run the client");
    let said = String::from_utf8_lossy(&client.stdout).into_owned();
    assert!(
        client.status.success(),
        "{name}: {said}{}",
        String::from_utf8_lossy(&client.stderr)
    );
    std::thread::sleep(Duration::from_millis(300));
    hosts.stop_capture(tcpdump);
    said
}

/// Runs `command` on the client host against a fresh PostgreSQL on the server host, with the
/// wire captured: what the program printed, the server's log and `connlab inspect`'s summary
/// of the capture.
fn against_postgres(name: &str, command: &[&str]) -> (String, String, Value) {
    let mut hosts = Hosts::new();
    let out = out_dir(name);
    let server = postgres_server(&mut hosts, &out.join("postgres"), &[]);
    let file = out.join(format!("{name}.pcap"));
    let said = client_captured(&mut hosts, &file, name, command);
    stop_postgres(&mut hosts, server);
    let log = std::fs::read_to_string(out.join("postgres/postgres.log")).expect("the log");
    (said, log, inspect(&file))
}

/// pgjdbc and pgx, each holding 4 sessions of 5 prepared queries against the real
/// PostgreSQL: what connlab reads off the capture must equal what each program says it did
/// and the server's log (its `connection authorized` lines, and a line per statement run:
/// `statement:` for a simple Query, `execute` for an extended one). pgjdbc is named by its
/// startup's parameters; pgx sends libpq's and is not.
fn pgjdbc_and_pgx_sessions_agree_with_the_servers_log() {
    let jar = "/usr/share/java/postgresql.jar";
    let java = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/java/PgSessions.java");
    let pgx = go_program("pgx_sessions");
    let drivers: [(&str, Vec<String>, Option<&str>); 2] = [
        (
            "pgjdbc",
            ["java", "-cp", jar, java.to_str().expect("path")]
                .map(String::from)
                .to_vec(),
            Some("pgjdbc"),
        ),
        ("pgx", vec![pgx.to_str().expect("path").to_owned()], None),
    ];
    for (name, command, stack) in drivers {
        let mut args: Vec<&str> = command.iter().map(String::as_str).collect();
        args.extend([SERVER_IP, "4", "5"]);
        let (said, log, s) = against_postgres(&format!("{name}-sessions"), &args);
        let pg = &s["postgres"];
        let sessions = log_lines(&log, "connection authorized:");
        assert_eq!(sessions, 4, "{name}: {log}");
        assert_eq!(pg["sessions"].as_u64(), Some(sessions), "{name}: {pg:#}");
        let statements = log_lines(&log, "LOG:  statement:") + log_lines(&log, "LOG:  execute ");
        assert_eq!(
            pg["queries"]["answered"].as_u64(),
            Some(statements),
            "{name}: {pg:#}\n{log}"
        );
        // Each program ran its 20 queries (pgjdbc may set things up besides).
        assert!(said.contains("20"), "{name}: {said}");
        assert!(statements >= 20, "{name}: {log}");
        assert_eq!(pg["ended"]["terminate"], 4, "{name}: {pg:#}");
        assert_eq!(
            pg["errors"]["total"].as_u64().unwrap_or(0),
            0,
            "{name}: {pg:#}"
        );
        let told = &s["endpoints"][0]["client_stack"]["stack"];
        assert_eq!(told.as_str(), stack, "{name}: {:#}", s["endpoints"]);
    }
}

/// Go's database/sql with its defaults over lib/pq, two bursts of 20 concurrent queries
/// against the real PostgreSQL: the capture must show what the pool's own db.Stats() says
/// (38 sessions, 36 closed by the pool right after their query) and what the server's log
/// says (38 connections, 40 statements), and connlab must name the pool's overflow on
/// PostgreSQL's queries. Then its twin, the pg-pool-burst lab (connlab's own pool with
/// database/sql's policy, through tokio-postgres, same server and workload), must tell the
/// same story figure by figure.
fn go_database_sql_and_the_built_in_pool_close_36_of_38_on_postgres() {
    let program = go_program("pg_pool");
    let (said, log, s) =
        against_postgres("go-lib-pq", &[program.to_str().expect("path"), SERVER_IP]);
    let told: Value = serde_json::from_str(&said).expect("the pool's JSON");
    let pg = &s["postgres"];
    assert_eq!(told["max_idle_closed"], 36, "{told}");
    let sessions = log_lines(&log, "connection authorized:");
    assert_eq!(sessions, 38);
    assert_eq!(pg["sessions"].as_u64(), Some(sessions), "{pg:#}");
    assert_eq!(
        pg["queries"]["answered"].as_u64(),
        Some(log_lines(&log, "LOG:  statement:"))
    );
    assert_eq!(pg["queries"]["total"], told["queries"], "{pg:#}");
    // The pool closes politely: Terminate, then its FIN, and it holds the TIME_WAITs.
    assert_eq!(pg["ended"]["terminate"], 38, "{pg:#}");
    let overflow = overflow_as_told(&s, &told);

    // Each driver is named by its startup's parameters.
    let driver = |s: &Value| s["endpoints"][0]["client_stack"]["stack"].clone();
    assert_eq!(driver(&s), "lib-pq", "{:#}", s["endpoints"]);

    // The twin: the built-in pool, same policy and workload, on its own server.
    let same: [&[&str]; 2] = [&["postgres", "sessions"], &["postgres", "queries", "total"]];
    let twin = &twin_tells_the_same("pg-pool-burst", (&told, &s), &same, overflow);
    assert_eq!(driver(twin), "tokio-postgres", "{:#}", twin["endpoints"]);
    // The twin holds a TIME_WAIT for each session its pool closed. Go's capture is not
    // compared: lib/pq writes Terminate and closes in two calls, and now and then the server's
    // backend, exiting on Terminate, sends its FIN first and takes the TIME_WAIT.
    assert_eq!(
        twin["time_wait"]["client"].as_u64(),
        told["max_idle_closed"].as_u64(),
        "{:#}",
        twin["time_wait"]
    );
    assert_eq!(
        twin["postgres"]["ended"]["terminate"], 36,
        "{:#}",
        twin["postgres"]
    );
}

/// The pool_overflow finding on a Go pool's capture, checked against the pool's own
/// db.Stats() (`told`): two bursts, two kept idle, the closes it counted, SetMaxIdleConns
/// named.
fn overflow_as_told<'a>(s: &'a Value, told: &Value) -> &'a Value {
    let overflow = finding(s, "pool_overflow");
    assert_eq!(overflow["bursts"], 2, "{overflow:#}");
    assert_eq!(overflow["kept_idle"], 2, "{overflow:#}");
    assert_eq!(
        overflow["connections"].as_u64(),
        told["max_idle_closed"].as_u64(),
        "{overflow:#}"
    );
    assert!(
        first_knob(s, "pool_overflow").contains("SetMaxIdleConns"),
        "{:#}",
        overflow["knobs"]
    );
    overflow
}

/// Runs `lab`, the built-in pool's twin of a Go pool, and checks it tells the same story:
/// the pool's figures against Go's db.Stats() (`told`), the `same` paths of the summary
/// against Go's capture (`go`), and the overflow finding's figures. Returns its summary.
fn twin_tells_the_same(
    lab: &str,
    (told, go): (&Value, &Value),
    same: &[&[&str]],
    overflow: &Value,
) -> Value {
    let run = run_lab(lab, &out_dir(lab));
    assert_expectations_pass(&run);
    let twin = run.summary;
    let pool = &twin["client"]["pool"];
    for field in ["max_idle_closed", "open_connections", "idle"] {
        assert_eq!(pool[field], told[field], "twin {pool:#} against Go {told}");
    }
    let at = |v: &Value, path: &[&str]| path.iter().fold(v.clone(), |v, key| v[key].clone());
    for path in same {
        assert_eq!(at(&twin, path), at(go, path), "{path:?}: twin against Go");
    }
    let twin_overflow = finding(&twin, "pool_overflow");
    for field in ["connections", "bursts", "kept_idle"] {
        assert_eq!(twin_overflow[field], overflow[field], "{twin_overflow:#}");
    }
    twin
}

/// Starts MariaDB on the server host as `nobody`, its data folder made by mariadb-install-db
/// under `dir`, without grant tables (any user logs in with no password), its general log in
/// `dir/general.log`; waits until its error log says it serves. Returns its process id, to
/// stop it cleanly.
fn mariadb_server(hosts: &mut Hosts, dir: &Path) -> u32 {
    std::fs::create_dir_all(dir).expect("mariadb folder");
    let owned = std::process::Command::new("chown")
        .args(["nobody:nogroup"])
        .arg(dir)
        .status()
        .expect("chown");
    assert!(owned.success());
    let as_nobody = |program: &str| {
        let mut c = Hosts::command(&hosts.server.clone(), "setpriv");
        c.args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            program,
        ]);
        c
    };
    let made = as_nobody("mariadb-install-db")
        .arg("--no-defaults")
        .arg(format!("--datadir={}", dir.join("db").display()))
        .arg("--skip-test-db")
        .output()
        .expect("mariadb-install-db");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let at = |name: &str| dir.join(name).display().to_string();
    let mut server = as_nobody("mariadbd");
    server
        .arg("--no-defaults")
        .arg(format!("--datadir={}", at("db")))
        .args([
            "--skip-grant-tables",
            "--skip-name-resolve",
            "--skip-log-bin",
        ])
        .arg(format!("--bind-address={SERVER_IP}"))
        .args(["--port=3306", "--max-connections=60"])
        .arg(format!("--socket={}", at("s")))
        .arg(format!("--pid-file={}", at("pid")))
        .arg(format!("--log-error={}", at("error.log")))
        .arg("--general-log")
        .arg(format!("--general-log-file={}", at("general.log")))
        // What it says before its error log is open (a warning on open files) goes there too.
        .stderr(std::fs::File::create(dir.join("stderr")).expect("mariadbd's stderr"));
    let pid = hosts.spawn(server).id();
    Hosts::wait_listening_in(&hosts.server.clone(), 3306);
    // It listens a moment before it serves; its error log says when it does.
    let serving = || {
        std::fs::read_to_string(dir.join("error.log"))
            .is_ok_and(|log| log.contains("ready for connections"))
    };
    let start = std::time::Instant::now();
    while !serving() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "mariadbd never said it was ready"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    pid
}

/// Runs `command` on the client host against a fresh MariaDB on the server host, with the
/// wire captured: what the program printed, the server's general log and `connlab inspect`'s
/// summary of the capture. The server is stopped (SIGTERM, its own clean shutdown) after the
/// capture.
fn against_mariadb(name: &str, command: &[&str]) -> (String, String, Value) {
    let mut hosts = Hosts::new();
    let out = out_dir(name);
    let dir = out.join("mariadb");
    let server = mariadb_server(&mut hosts, &dir);
    let file = out.join(format!("{name}.pcap"));
    let said = client_captured(&mut hosts, &file, name, command);
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &server.to_string()])
        .status();
    let _ = hosts.child(server).wait();
    let log = std::fs::read_to_string(dir.join("general.log")).expect("the general log");
    (said, log, inspect(&file))
}

/// The mysql-pool-burst lab (the built-in pool with database/sql's defaults, speaking MySQL
/// through connlab's own client) against MariaDB started by the lab: every session connlab
/// reads off the wire is a `Connect` line of the server's general log, every query a `Query`
/// line, and every COM_QUIT a `Quit` line; the two connections the pool held to the end are
/// closed after the capture stopped, so the log may have their Quits or not (the server is
/// stopped right after).
fn the_mysql_pool_burst_lab_agrees_with_the_general_log() {
    let out = out_dir("mysql-pool-burst-log");
    let run = run_lab("mysql-pool-burst", &out);
    assert_expectations_pass(&run);
    let log = std::fs::read_to_string(beside(&out, ".server.data").join("general.log"))
        .expect("the general log");
    let my = &run.summary["mysql"];
    assert_eq!(my["sessions"].as_u64(), Some(log_lines(&log, " Connect\t")));
    assert_eq!(
        my["commands"]["answered"].as_u64(),
        Some(log_lines(&log, " Query\t"))
    );
    let quit = my["ended"]["quit"].as_u64().expect("quit");
    let held = my["ended"]["open"].as_u64().expect("open");
    assert_eq!((quit, held), (36, 2), "{my:#}");
    let logged = log_lines(&log, " Quit\t");
    assert!(
        (quit..=quit + held).contains(&logged),
        "{logged} Quit lines for {quit} COM_QUITs and {held} held: {log}"
    );
}

/// Go's database/sql with its defaults over go-sql-driver/mysql, two bursts of 20 concurrent
/// queries against the real MariaDB: the capture must show what the pool's own db.Stats() says
/// (38 connections, 36 closed by the pool right after their query) and what the general log
/// says, and connlab must name the pool's overflow. Then its twin, the mysql-pool-burst lab
/// (connlab's own pool and MySQL client, same policy, server and workload), must tell the same
/// story figure by figure.
fn go_database_sql_and_the_built_in_pool_close_36_of_38_on_mariadb() {
    let program = go_program("mysql_pool");
    let (said, log, s) = against_mariadb(
        "go-sql-driver",
        &[program.to_str().expect("path"), SERVER_IP],
    );
    let told: Value = serde_json::from_str(&said).expect("the pool's JSON");
    let my = &s["mysql"];
    assert_eq!(told["max_idle_closed"], 36, "{told}");
    let sessions = log_lines(&log, " Connect\t");
    assert_eq!(sessions, 38, "{log}");
    assert_eq!(my["sessions"].as_u64(), Some(sessions), "{my:#}");
    assert_eq!(
        my["commands"]["answered"].as_u64(),
        Some(log_lines(&log, " Query\t"))
    );
    assert_eq!(my["commands"]["total"], told["queries"], "{my:#}");
    // go-sql-driver ends each connection with COM_QUIT, the 2 kept ones at db.Close().
    assert_eq!(my["ended"]["quit"], 38, "{my:#}");
    assert_eq!(
        my["ended"]["quit"].as_u64(),
        Some(log_lines(&log, " Quit\t"))
    );
    let overflow = overflow_as_told(&s, &told);
    // Debian's go-sql-driver/mysql (1.5) sends no connection attributes, so it is not named.
    assert!(
        s["endpoints"][0]["client_stack"].is_null(),
        "{:#}",
        s["endpoints"]
    );

    // The twin: the built-in pool, same policy and workload, on its own server.
    let same: [&[&str]; 3] = [
        &["connections"],
        &["mysql", "sessions"],
        &["mysql", "commands", "total"],
    ];
    let twin = &twin_tells_the_same("mysql-pool-burst", (&told, &s), &same, overflow);
    // The twin holds a TIME_WAIT for each connection its pool closed (COM_QUIT and its FIN
    // leave in one segment). Go's capture is not held to it: go-sql-driver writes COM_QUIT
    // and closes in two calls, and the server, closing on COM_QUIT, may send its FIN first.
    assert_eq!(
        twin["time_wait"]["client"].as_u64(),
        told["max_idle_closed"].as_u64(),
        "{:#}",
        twin["time_wait"]
    );
    assert_eq!(twin["mysql"]["ended"]["quit"], 36, "{:#}", twin["mysql"]);
    eprintln!(
        "Go: {} connections, {} COM_QUITs, TIME_WAIT {}; built-in: {} connections, {} COM_QUITs, \
         TIME_WAIT {}",
        s["connections"],
        my["ended"]["quit"],
        s["time_wait"],
        twin["connections"],
        twin["mysql"]["ended"]["quit"],
        twin["time_wait"]
    );
}

/// The built-in pool speaking MySQL with database/sql's SetConnMaxLifetime at 1 s behind a
/// middlebox that forgets flows idle 3 s: every connection is ended by the pool (COM_QUIT, the
/// client's FIN) before the middlebox forgets it, so nothing meets a reset; the general log
/// has each connection and query. Without the lifetime the same bursts meet the middlebox's
/// RSTs and the pool retries each query on a new connection.
fn a_mysql_pool_lifetime_below_the_middleboxs_idle_timeout_meets_no_reset() {
    let log = ServerLog {
        file: (".server.data", Some("general.log")),
        session: " Connect\t",
        query: " Query\t",
    };
    a_lifetime_below_the_idle_timeout("mysql", log, "SetConnMaxLifetime");
}

/// Go database/sql's defaults (2 idle kept, no limit on open) under two bursts of 20 queries:
/// the pool's own stats and the wire agree, and connlab names the pool overflow without
/// knowing the protocol.
fn a_database_pool_with_go_defaults_closes_36_of_38() {
    let run = run_lab("db-pool-burst", &out_dir("db-pool-burst"));
    assert_expectations_pass(&run);
    let s = &run.summary;
    let pool = &s["client"]["pool"];
    assert_eq!(pool["opened"], s["connections"], "{pool:#}");
    assert_eq!(
        pool["max_idle_closed"], s["time_wait"]["client"],
        "every close on return leaves its TIME_WAIT on the client"
    );
    assert_eq!(
        (pool["wait_count"].as_u64(), pool["in_use"].as_u64()),
        (Some(0), Some(0))
    );
}

/// The fix swept: with as many idle connections kept as a burst has queries, nothing is closed
/// after use and nothing is dialed twice.
fn keeping_a_bursts_worth_idle_ends_the_churn() {
    let out = out_dir("db-pool-sweep");
    let done = connlab()
        .args([
            "sweep",
            "db-pool-burst",
            "--vary",
            "db_client.max_idle=2,20",
        ])
        .args(["--metric", "client.pool.max_idle_closed", "--out"])
        .arg(&out)
        .output()
        .expect("sweep");
    let folder = std::fs::read_dir(&out)
        .expect("out")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .expect("the sweep's folder");
    let json: Value =
        serde_json::from_slice(&std::fs::read(folder.join("sweep.json")).expect("sweep.json"))
            .expect("sweep.json");
    let figure = |i: usize, key: &str| json["points"][i]["figures"][key].as_f64();
    assert_eq!(figure(0, "client.pool.max_idle_closed"), Some(36.0));
    assert_eq!(figure(0, "time_wait.client"), Some(36.0));
    assert_eq!(figure(1, "client.pool.max_idle_closed"), Some(0.0));
    assert_eq!(figure(1, "time_wait.client"), Some(0.0));
    assert_eq!(figure(1, "connections"), Some(20.0));
    // The lab's own expectations hold its defaults: the fixed point is told apart.
    assert!(
        !done.status.success(),
        "the fixed point fails the defaults' expectations"
    );
}

/// The middlebox forgets pooled MySQL connections: each next query meets its RST (PyMySQL's
/// 2013) and runs again on a new connection. MariaDB's general log has the 6 connections and
/// only the queries it answered: the three written into forgotten flows never reached it.
fn the_mysql_stale_lab_agrees_with_the_general_log() {
    let out = out_dir("mysql-stale");
    let run = run_lab("mysql-stale-after-middlebox", &out);
    assert_expectations_pass(&run);
    let log = std::fs::read_to_string(beside(&out, ".server.data").join("general.log"))
        .expect("the general log");
    let my = &run.summary["mysql"];
    assert_eq!(my["sessions"].as_u64(), Some(log_lines(&log, " Connect\t")));
    assert_eq!(
        my["commands"]["answered"].as_u64(),
        Some(log_lines(&log, " Query\t"))
    );
    assert_eq!(my["commands"]["total"], 9);
    assert_eq!(my["ended"]["rst"], 3);
}

fn main() -> std::process::ExitCode {
    common::harness::run(cases![
        redis_py_against_a_server_with_timeout_3[
            Need::Root,
            Need::Tool("redis-server"),
            Need::Tool("tcpdump"),
            Need::PythonModule("redis")
        ],
        the_redis_lab_runs_the_real_server_unprivileged[
            Need::Labs,
            Need::Tool("redis-server"),
            Need::PythonModule("redis")
        ],
        the_postgres_lab_agrees_with_the_servers_log[
            // PostgreSQL refuses uid 0, also inside a user namespace: root runs it as nobody.
            Need::Root,
            Need::Tool("pg_ctlcluster"),
            Need::Tool("tshark"),
            Need::PythonModule("psycopg2")
        ],
        the_idle_in_transaction_lab_agrees_with_the_servers_log[
            Need::Root,
            Need::Tool("pg_ctlcluster"),
            Need::PythonModule("psycopg2")
        ],
        the_pgbouncer_lab_agrees_with_both_logs[
            Need::Root,
            Need::Tool("pg_ctlcluster"),
            Need::Tool("pgbouncer"),
            Need::Tool("tshark"),
            Need::PythonModule("psycopg2")
        ],
        the_mysql_stale_lab_agrees_with_the_general_log[
            Need::Root,
            Need::Tool("mariadbd"),
            Need::PythonModule("pymysql")
        ],
        the_stale_session_labs_meet_a_reset_and_a_black_hole[
            Need::Root,
            Need::Tool("pg_ctlcluster"),
            Need::PythonModule("psycopg2")
        ],
        a_pool_lifetime_below_the_middleboxs_idle_timeout_meets_no_reset[
            Need::Root,
            Need::Tool("pg_ctlcluster"),
            Need::Labs
        ],
        the_mysql_lab_agrees_with_the_general_log[
            Need::Root,
            Need::Tool("mariadbd"),
            Need::Tool("tshark"),
            Need::PythonModule("pymysql")
        ],
        pgjdbc_and_pgx_sessions_agree_with_the_servers_log[
            Need::Root,
            Need::Tool("pg_ctlcluster"),
            Need::Tool("java"),
            Need::Tool("go"),
            Need::Tool("tcpdump")
        ],
        go_database_sql_and_the_built_in_pool_close_36_of_38_on_postgres[
            Need::Root,
            Need::Tool("pg_ctlcluster"),
            Need::Tool("go"),
            Need::Tool("tcpdump"),
            Need::Labs
        ],
        the_mysql_pool_burst_lab_agrees_with_the_general_log[
            Need::Root,
            Need::Tool("mariadbd"),
            Need::Labs
        ],
        go_database_sql_and_the_built_in_pool_close_36_of_38_on_mariadb[
            Need::Root,
            Need::Tool("mariadbd"),
            Need::Tool("go"),
            Need::Tool("tcpdump"),
            Need::Labs
        ],
        a_mysql_pool_lifetime_below_the_middleboxs_idle_timeout_meets_no_reset[
            Need::Root,
            Need::Tool("mariadbd"),
            Need::Labs
        ],
        a_database_pool_with_go_defaults_closes_36_of_38[Need::Labs],
        keeping_a_bursts_worth_idle_ends_the_churn[Need::Labs],
    ])
}
