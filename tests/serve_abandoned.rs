//! A client that goes away before its answer: the service counts the
//! request as `status="499"` (nginx's "client closed request"), and a write
//! it had already queued still commits, so the database and the counters
//! agree.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Server, sample, spawn_serve};

/// Polls the service's `/metrics` until `series` has `value` (10 s at most).
fn wait_for_sample(server: &Server, series: &str, value: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = server.metrics();
        if sample(&metrics, series) == Some(value) {
            return metrics;
        }
        assert!(
            Instant::now() < deadline,
            "{series} never reached {value}:\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_post_whose_client_left_counts_499_and_still_commits() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("abandoned.db");
    let server = spawn_serve(&db, &["--busy-timeout", "20s"]);

    // Another connection holds the write lock: the POST waits in the writer.
    let mut holder = rusqlite::Connection::open(&db).unwrap();
    let lock = holder
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let mut client = TcpStream::connect(server.addr).unwrap();
    let body = br#"{"name":"left before the answer"}"#;
    write!(
        client,
        "POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    client.write_all(body).unwrap();
    // The POST and this scrape are both in flight.
    wait_for_sample(&server, "http_requests_in_flight", 2.0);
    drop(client);

    let abandoned = r#"http_requests_total{method="POST",route="/api/items",status="499"}"#;
    let metrics = wait_for_sample(&server, abandoned, 1.0);
    let created = r#"http_requests_total{method="POST",route="/api/items",status="201"}"#;
    assert_eq!(sample(&metrics, created), None, "{metrics}");
    assert_eq!(
        sample(
            &metrics,
            r#"http_request_duration_seconds_count{method="POST",route="/api/items"}"#
        ),
        None,
        "an abandoned request has no response time: {metrics}"
    );

    lock.rollback().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows: i64 = holder
            .query_row("SELECT COUNT(*) FROM items", [], |r| r.get(0))
            .unwrap();
        if rows == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the abandoned write never committed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
