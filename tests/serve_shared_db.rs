//! Several `srelab serve` processes on one SQLite file: no lost write, no
//! 5xx under concurrent POST load, and every acknowledged write is
//! committed when acknowledged and survives `kill -9`. Group commit and
//! the turnstile between instances: `serve_group_commit.rs`.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{HttpConn, spawn_serve};
use serde_json::{Value, json};

/// What a client saw for one POST that got a 201.
#[derive(Debug, Clone)]
struct Acked {
    id: i64,
    body: Value,
}

/// Posts `count` items on one keep-alive connection; returns the 201s and
/// every other status seen.
fn post_many(addr: SocketAddr, tag: &str, count: usize) -> (Vec<Acked>, Vec<u16>) {
    let mut conn = HttpConn::connect(addr).unwrap();
    let mut acked = Vec::new();
    let mut other = Vec::new();
    for i in 0..count {
        let body = json!({"name": format!("{tag}-{i}"), "value": i as f64 + 0.25}).to_string();
        let response = conn
            .send(
                "POST",
                "/api/items",
                &[("Content-Type", "application/json")],
                body.as_bytes(),
                true,
            )
            .unwrap_or_else(|e| panic!("POST {tag}-{i}: {e}"));
        if response.status == 201 {
            let item = response.json();
            acked.push(Acked {
                id: item["id"].as_i64().unwrap(),
                body: item,
            });
        } else {
            other.push(response.status);
        }
    }
    (acked, other)
}

fn rows(db: &Path) -> Vec<(i64, String, Option<f64>, String)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT id, name, value, created_at FROM items ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn assert_row_matches(row: &(i64, String, Option<f64>, String), acked: &Acked) {
    assert_eq!(row.0, acked.id);
    assert_eq!(row.1, acked.body["name"].as_str().unwrap(), "{acked:?}");
    assert_eq!(row.2, acked.body["value"].as_f64(), "{acked:?}");
    assert_eq!(
        row.3,
        acked.body["created_at"].as_str().unwrap(),
        "{acked:?}"
    );
}

#[test]
fn two_instances_on_one_file_lose_no_write_and_answer_no_5xx() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    // Both start at the same moment: the migrations must cope.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| spawn_serve(&db, &[]));
        let b = s.spawn(|| spawn_serve(&db, &[]));
        (a.join().unwrap(), b.join().unwrap())
    });
    const CLIENTS_PER_INSTANCE: usize = 8;
    const POSTS_PER_CLIENT: usize = 150;
    let results: Vec<(Vec<Acked>, Vec<u16>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..CLIENTS_PER_INSTANCE * 2)
            .map(|c| {
                let addr = if c % 2 == 0 { a.addr } else { b.addr };
                s.spawn(move || post_many(addr, &format!("c{c}"), POSTS_PER_CLIENT))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let acked: Vec<Acked> = results.iter().flat_map(|r| r.0.clone()).collect();
    let other: Vec<u16> = results.iter().flat_map(|r| r.1.clone()).collect();
    assert!(other.is_empty(), "non-201 answers: {other:?}");
    assert_eq!(acked.len(), CLIENTS_PER_INSTANCE * 2 * POSTS_PER_CLIENT);

    let stored = rows(&db);
    assert_eq!(
        stored.len(),
        acked.len(),
        "rows in the database vs 201 answers"
    );
    let mut acked = acked;
    acked.sort_by_key(|a| a.id);
    for (row, acked) in stored.iter().zip(&acked) {
        assert_row_matches(row, acked);
    }
    for server in [&a, &b] {
        let metrics = server.metrics();
        assert!(
            metrics.contains("srelab_db_write_batch_size_count"),
            "{metrics}"
        );
        assert!(!metrics.contains("status=\"5"), "5xx counted:\n{metrics}");
    }
}

/// Clients posting to `addr` until `stop`, recording every 201; a
/// connection error (the instance was killed) ends a client quietly, any
/// other status fails the test. Each 201 is read back at once from the
/// database file by this process (another process than the server, with
/// its own connection): a 201 sent before its commit is caught here, while
/// the server still runs, not only if a kill happens to land in between.
fn post_until(
    addr: SocketAddr,
    db: &Path,
    tag: &str,
    clients: usize,
    acked: &Arc<Mutex<Vec<Acked>>>,
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..clients)
        .map(|c| {
            let (acked, stop, tag) = (Arc::clone(acked), Arc::clone(stop), format!("{tag}{c}"));
            let reader = rusqlite::Connection::open_with_flags(
                db,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .unwrap();
            std::thread::spawn(move || {
                let Ok(mut conn) = HttpConn::connect(addr) else {
                    return;
                };
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let body = json!({"name": format!("{tag}-{i}"), "value": i}).to_string();
                    i += 1;
                    let json_type = [("Content-Type", "application/json")];
                    match conn.send("POST", "/api/items", &json_type, body.as_bytes(), true) {
                        Ok(r) if r.status == 201 => {
                            let item = r.json();
                            let id = item["id"].as_i64().unwrap();
                            let acked_item = Acked { id, body: item };
                            let stored = row(&reader, id).unwrap_or_else(|| {
                                panic!("{tag}: 201 for item {id} before its commit")
                            });
                            assert_row_matches(&stored, &acked_item);
                            acked.lock().unwrap().push(acked_item);
                        }
                        Ok(r) => panic!("{tag}: unexpected status {}: {}", r.status, r.text()),
                        // A kill cuts connections mid-request: that write
                        // was never acknowledged.
                        Err(_) => return,
                    }
                }
            })
        })
        .collect()
}

/// The row with this id, as another connection sees it now.
fn row(conn: &rusqlite::Connection, id: i64) -> Option<(i64, String, Option<f64>, String)> {
    use rusqlite::OptionalExtension;
    conn.query_row(
        "SELECT id, name, value, created_at FROM items WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .optional()
    .unwrap()
}

fn wait_for(count: &Mutex<Vec<Acked>>, at_least: usize) {
    let start = Instant::now();
    while count.lock().unwrap().len() < at_least && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn every_acknowledged_write_survives_kill_9_and_the_other_instance_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let mut victim = spawn_serve(&db, &[]);
    let survivor = spawn_serve(&db, &[]);
    let (to_victim, to_survivor) = (
        Arc::new(Mutex::new(Vec::new())),
        Arc::new(Mutex::new(Vec::new())),
    );
    let (stop_victim, stop_survivor) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let victim_clients = post_until(victim.addr, &db, "v", 6, &to_victim, &stop_victim);
    let survivor_clients = post_until(survivor.addr, &db, "s", 6, &to_survivor, &stop_survivor);
    wait_for(&to_victim, 300);
    victim.guard.kill9();
    stop_victim.store(true, Ordering::Relaxed);
    for client in victim_clients {
        client.join().unwrap();
    }
    // The survivor keeps committing after the kill (the victim's locks
    // died with it) and answers nothing but 201.
    let before = to_survivor.lock().unwrap().len();
    wait_for(&to_survivor, before + 300);
    stop_survivor.store(true, Ordering::Relaxed);
    for client in survivor_clients {
        client.join().unwrap();
    }
    let acked: Vec<Acked> = to_victim
        .lock()
        .unwrap()
        .iter()
        .chain(to_survivor.lock().unwrap().iter())
        .cloned()
        .collect();
    assert!(
        to_victim.lock().unwrap().len() >= 300,
        "too few writes before the kill"
    );
    assert!(
        to_survivor.lock().unwrap().len() >= before + 300,
        "survivor stalled after the kill"
    );

    let restarted = spawn_serve(&db, &[]);
    for a in &acked {
        let got = restarted.get(&format!("/api/items/{}", a.id));
        assert_eq!(got.status, 200, "item {} lost after kill -9", a.id);
        assert_eq!(got.json(), a.body, "item {} changed after kill -9", a.id);
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    assert!(rows(&db).len() >= acked.len());
}
