//! Several `srelab serve` processes on one database (a SQLite file, a
//! PostgreSQL cluster): no lost write, no 5xx under concurrent POST load,
//! every acknowledged write is committed when acknowledged and survives
//! `kill -9`, and concurrent writes are committed in groups no larger than
//! `--batch-max`. Group commit counted from SQLite's WAL and the turnstile
//! between instances: `serve_group_commit.rs`.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::HttpConn;
use common::backend::{Backend, Row, TestDb};
use serde_json::{Value, json};

both_backends!(
    two_instances_on_one_database_lose_no_write_and_answer_no_5xx,
    every_acknowledged_write_survives_kill_9_and_the_other_instance_goes_on,
    concurrent_posts_are_committed_in_groups_no_larger_than_batch_max,
);

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

fn assert_row_matches(row: &Row, acked: &Acked) {
    assert_eq!(row.0, acked.id);
    assert_eq!(row.1, acked.body["name"].as_str().unwrap(), "{acked:?}");
    assert_eq!(row.2, acked.body["value"].as_f64(), "{acked:?}");
    assert_eq!(
        row.3,
        acked.body["created_at"].as_str().unwrap(),
        "{acked:?}"
    );
}

fn two_instances_on_one_database_lose_no_write_and_answer_no_5xx(backend: Backend) {
    let db = TestDb::new(backend);
    // Both start at the same moment: the migrations must cope.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| db.serve(&[]));
        let b = s.spawn(|| db.serve(&[]));
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

    let stored = db.rows();
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
/// database by this process (another process than the server, with
/// its own connection): a 201 sent before its commit is caught here, while
/// the server still runs, not only if a kill happens to land in between.
fn post_until(
    addr: SocketAddr,
    db: &TestDb,
    tag: &str,
    clients: usize,
    acked: &Arc<Mutex<Vec<Acked>>>,
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..clients)
        .map(|c| {
            let (acked, stop, tag) = (Arc::clone(acked), Arc::clone(stop), format!("{tag}{c}"));
            let reader = db.reader();
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
                            let stored = reader.row(id).unwrap_or_else(|| {
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

fn wait_for(count: &Mutex<Vec<Acked>>, at_least: usize) {
    let start = Instant::now();
    while count.lock().unwrap().len() < at_least && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn every_acknowledged_write_survives_kill_9_and_the_other_instance_goes_on(backend: Backend) {
    let db = TestDb::new(backend);
    let mut victim = db.serve(&[]);
    let survivor = db.serve(&[]);
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

    let restarted = db.serve(&[]);
    for a in &acked {
        let got = restarted.get(&format!("/api/items/{}", a.id));
        assert_eq!(got.status, 200, "item {} lost after kill -9", a.id);
        assert_eq!(got.json(), a.body, "item {} changed after kill -9", a.id);
    }
    if backend == Backend::Sqlite {
        let conn = rusqlite::Connection::open(&db.db).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }
    assert!(db.rows().len() >= acked.len());
}

/// The value of the sample `series` in `metrics`.
fn sample(metrics: &str, series: &str) -> f64 {
    common::sample(metrics, series).unwrap_or_else(|| panic!("{series} missing:\n{metrics}"))
}

fn concurrent_posts_are_committed_in_groups_no_larger_than_batch_max(backend: Backend) {
    let db = TestDb::new(backend);
    let server = db.serve(&[
        "--batch-max",
        "4",
        "--batch-wait",
        "50ms",
        "--synchronous",
        "normal",
    ]);
    let results: Vec<(Vec<Acked>, Vec<u16>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|c| s.spawn(move || post_many(server.addr, &format!("g{c}"), 4)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(results.iter().all(|r| r.1.is_empty() && r.0.len() == 4));
    let metrics = server.metrics();
    let writes = sample(&metrics, "srelab_db_write_batch_size_sum");
    let batches = sample(&metrics, "srelab_db_write_batch_size_count");
    assert_eq!(writes, 64.0);
    assert!(
        batches < 64.0,
        "no batching: {batches} transactions for 64 writes"
    );
    assert_eq!(
        sample(&metrics, r#"srelab_db_write_batch_size_bucket{le="4"}"#),
        batches,
        "a batch larger than --batch-max"
    );
    assert_eq!(db.rows().len(), 64);
}
