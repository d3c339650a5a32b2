//! What only PostgreSQL has: the server going away and coming back under
//! load, migrations raced by several instances, a schema newer than the
//! binary, an unreachable server at start, the pool's metrics, and a
//! password that never appears in any output. Each test runs its own
//! cluster (tests/common/postgres.rs).

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::backend::{Backend, PG_DB, TestDb};
use common::{HttpConn, sample, serve_command, srelab_bin, start_serve};
use serde_json::{Value, json};

/// What the load saw.
#[derive(Default)]
struct Seen {
    acked: Mutex<Vec<(i64, Value)>>,
    unavailable: AtomicUsize,
    other: Mutex<Vec<String>>,
}

/// Clients posting to `addrs` until `stop`: 201s are recorded, 503s with a
/// JSON error counted, anything else (including a dropped connection) is
/// a failure of the test.
fn load(
    addrs: &[SocketAddr],
    seen: &Arc<Seen>,
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..6)
        .map(|c| {
            let (addr, seen, stop) = (addrs[c % addrs.len()], Arc::clone(seen), Arc::clone(stop));
            std::thread::spawn(move || {
                let mut conn = HttpConn::connect(addr).unwrap();
                let json_type = [("Content-Type", "application/json")];
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let body = json!({"name": format!("c{c}-{i}"), "value": i}).to_string();
                    let started = Instant::now();
                    let r = match conn.send("POST", "/api/items", &json_type, body.as_bytes(), true)
                    {
                        Ok(r) => r,
                        Err(e) => {
                            seen.other.lock().unwrap().push(format!("c{c}: {e}"));
                            return;
                        }
                    };
                    if started.elapsed() > Duration::from_secs(8) {
                        seen.other
                            .lock()
                            .unwrap()
                            .push(format!("c{c}: a request took {:?}", started.elapsed()));
                    }
                    match r.status {
                        201 => {
                            let item = r.json();
                            seen.acked
                                .lock()
                                .unwrap()
                                .push((item["id"].as_i64().unwrap(), item));
                        }
                        503 => {
                            assert!(r.error_code().starts_with("database_"), "{}", r.text());
                            seen.unavailable.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        s => seen
                            .other
                            .lock()
                            .unwrap()
                            .push(format!("c{c}: status {s}: {}", r.text())),
                    }
                }
            })
        })
        .collect()
}

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn postgres_stopped_under_load_gives_503s_then_recovers_without_a_restart_losing_nothing() {
    let mut db = TestDb::new(Backend::Postgres);
    let args = ["--statement-timeout", "2s", "--db-pool-size", "4"];
    let (a, b) = (db.serve(&args), db.serve(&args));
    let (seen, stop) = (Arc::new(Seen::default()), Arc::new(AtomicBool::new(false)));
    let clients = load(&[a.addr, b.addr], &seen, &stop);
    let acked = |seen: &Seen| seen.acked.lock().unwrap().len();
    wait_until("first writes", Duration::from_secs(30), || {
        acked(&seen) >= 200
    });

    db.pg().stop();
    wait_until(
        "503s while the database is down",
        Duration::from_secs(30),
        || seen.unavailable.load(Ordering::Relaxed) >= 20,
    );
    for server in [&a, &b] {
        let ready = server.get("/readyz");
        assert_eq!(ready.status, 503, "{}", ready.text());
        assert_eq!(ready.error_code(), "database_unavailable");
        assert_eq!(
            server.get("/healthz").status,
            200,
            "alive while the database is down"
        );
    }
    let before = acked(&seen);
    db.pg().restart();
    wait_until("writes after the restart", Duration::from_secs(30), || {
        acked(&seen) >= before + 200
    });
    for server in [&a, &b] {
        wait_until("ready again", Duration::from_secs(10), || {
            server.get("/readyz").status == 200
        });
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let other = seen.other.lock().unwrap();
    assert!(other.is_empty(), "unexpected answers: {other:?}");

    let rows = db.rows();
    let acked = seen.acked.lock().unwrap();
    for (id, item) in acked.iter() {
        let row = rows
            .binary_search_by_key(id, |r| r.0)
            .map(|i| &rows[i])
            .unwrap_or_else(|_| panic!("acknowledged item {id} is not in the database"));
        assert_eq!(row.1, item["name"].as_str().unwrap());
        assert_eq!(a.get(&format!("/api/items/{id}")).json(), *item);
    }
    let metrics = a.metrics();
    assert!(sample(&metrics, r#"srelab_db_errors_total{op="insert"}"#).unwrap() > 0.0);
    assert_eq!(
        sample(&metrics, "srelab_db_pool_connections_max"),
        Some(4.0)
    );
    assert!(sample(&metrics, "srelab_db_pool_connections_in_use").is_some());
    assert!(sample(&metrics, "srelab_db_pool_wait_seconds_count").unwrap() > 0.0);
}

#[test]
fn instances_starting_together_apply_each_migration_once() {
    let db = TestDb::new(Backend::Postgres);
    let servers: Vec<_> = std::thread::scope(|s| {
        let starting: Vec<_> = (0..4).map(|_| s.spawn(|| db.serve(&[]))).collect();
        starting.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for server in &servers {
        assert_eq!(
            server.post_json("/api/items", r#"{"name":"m"}"#).status,
            201
        );
    }
    let pg = db.postgres.as_ref().unwrap();
    let versions = pg.query(PG_DB, "SELECT version FROM srelab_schema ORDER BY version");
    let versions: Vec<i32> = versions.iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, [1], "each migration recorded once");
}

/// Runs `srelab serve` against `db` until it exits; (exit code, stdout+stderr).
fn run_serve(db: &str, extra: &[&str]) -> (i32, String) {
    let out = Command::new(srelab_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--db", db])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn a_schema_newer_than_the_binary_is_refused() {
    let db = TestDb::new(Backend::Postgres);
    drop(db.serve(&[]));
    let pg = db.postgres.as_ref().unwrap();
    pg.query(PG_DB, "INSERT INTO srelab_schema (version) VALUES (99)");
    let (code, out) = run_serve(&db.db, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("schema version 99 is newer than this srelab knows"),
        "{out}"
    );
}

#[test]
fn an_unreachable_database_is_one_line_and_exit_1_unless_told_to_wait() {
    let mut db = TestDb::new(Backend::Postgres);
    db.pg().stop();
    let secret = "pw-never-shown";
    let url = db.db.replacen("srelab@", &format!("srelab:{secret}@"), 1);
    let (code, out) = run_serve(&url, &["--statement-timeout", "1s"]);
    assert_eq!(code, 1, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].starts_with("error: cannot open database postgres://srelab@/srelab_test?host="),
        "{out}"
    );
    assert!(!out.contains(secret), "{out}");

    // Told to wait, it comes up once the server does.
    let mut cmd = serve_command(Path::new(&url), &["--db-wait", "60s"]);
    cmd.stderr(Stdio::null());
    let starting = std::thread::spawn(move || start_serve(cmd));
    std::thread::sleep(Duration::from_secs(2));
    db.pg().restart();
    let server = starting.join().unwrap();
    assert_eq!(server.get("/readyz").status, 200);
}

#[test]
fn the_password_never_appears_in_output_or_help() {
    let mut db = TestDb::new(Backend::Postgres);
    let secret = "s3cret-pw-42";
    // Trust authentication ignores the password, so the URL still works.
    let url = db.db.replacen("srelab@", &format!("srelab:{secret}@"), 1);
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = serve_command(
        Path::new(&url),
        &["--log-format", "json", "--statement-timeout", "1s"],
    );
    cmd.env("RUST_LOG", "debug").stderr(log.reopen().unwrap());
    let server = start_serve(cmd);
    assert_eq!(
        server.post_json("/api/items", r#"{"name":"p"}"#).status,
        201
    );
    db.pg().stop();
    assert_eq!(
        server.post_json("/api/items", r#"{"name":"q"}"#).status,
        503
    );
    let ready = server.get("/readyz");
    assert!(!ready.text().contains(secret), "{}", ready.text());
    drop(server);
    let logged = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        logged.contains("postgres://srelab@"),
        "the URL is logged, without password:\n{logged}"
    );
    assert!(!logged.contains(secret), "{logged}");

    let help = Command::new(srelab_bin())
        .args(["serve", "--help"])
        .env("SRELAB_DB", &url)
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(!String::from_utf8_lossy(&help.stdout).contains(secret));
    let bad = url.replace("/srelab_test", ":notaport/srelab_test");
    let (code, out) = run_serve(&bad, &[]);
    assert_ne!(code, 0);
    assert!(
        out.starts_with("error: --db: invalid PostgreSQL URL"),
        "{out}"
    );
    assert!(!out.contains(secret), "{out}");
}
