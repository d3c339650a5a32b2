//! What a 201 promises: with the default `synchronous=FULL`, the item is on
//! disk when the client hears of it, so it survives a power loss.
//!
//! The service runs in-process on the lossy VFS (`tests/common/lossy_vfs.rs`),
//! which knows which writes were fsynced: the power loss is simulated by
//! undoing every write since each file's last fsync. Under `--synchronous
//! normal` the same run loses acknowledged items: the simulation does see a
//! missing fsync.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::HttpConn;
use common::inprocess::{Running, app};
use common::lossy_vfs;

const CLIENTS: usize = 4;
const POSTS: usize = 25;

/// Runs the service with `args`, posts from several clients at once, then
/// "pulls the plug" while it still runs. Returns the acknowledged items
/// (id → name) and the items in the database as the power loss left it.
fn acknowledged_and_surviving(args: &[&str]) -> (BTreeMap<i64, String>, BTreeMap<i64, String>) {
    lossy_vfs::install();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("power.db");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(Running::start(app(&db, args)));
    let acked: BTreeMap<i64, String> = std::thread::scope(|s| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| s.spawn(move || post(server.addr, c)))
            .collect();
        clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect()
    });
    let after = tempfile::tempdir().unwrap();
    lossy_vfs::durable_copy(&db, after.path()).unwrap();
    runtime.block_on(server.stop());
    (acked, items(&after.path().join("power.db")))
}

/// `POSTS` items from client `c` on one keep-alive connection; every 201.
fn post(addr: std::net::SocketAddr, c: usize) -> Vec<(i64, String)> {
    let mut conn = HttpConn::connect(addr).unwrap();
    (0..POSTS)
        .map(|i| {
            let name = format!("c{c}-{i}");
            let body = format!(r#"{{"name":"{name}"}}"#);
            let json = [("Content-Type", "application/json")];
            let response = conn
                .send("POST", "/api/items", &json, body.as_bytes(), true)
                .unwrap();
            assert_eq!(response.status, 201, "{}", response.text());
            (response.json()["id"].as_i64().unwrap(), name)
        })
        .collect()
}

/// The items of a database file, none if it has no items table (yet).
fn items(db: &Path) -> BTreeMap<i64, String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let Ok(mut stmt) = conn.prepare("SELECT id, name FROM items") else {
        return BTreeMap::new();
    };
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn every_201_survives_a_power_loss_with_the_default_synchronous_full() {
    let (acked, surviving) = acknowledged_and_surviving(&[]);
    assert_eq!(acked.len(), CLIENTS * POSTS);
    let lost: Vec<_> = acked
        .iter()
        .filter(|(id, name)| surviving.get(id) != Some(name))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged items lost to a power loss, first: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
}

#[test]
fn with_synchronous_normal_a_power_loss_loses_acknowledged_items() {
    let (acked, surviving) = acknowledged_and_surviving(&["--synchronous", "normal"]);
    assert_eq!(acked.len(), CLIENTS * POSTS);
    assert!(
        surviving.len() < acked.len(),
        "without an fsync per commit every item survived: the simulation sees no fsync"
    );
}
