//! What a 201 promises: with the default `synchronous=FULL`, the item is on
//! disk when the client hears of it, so it survives a power loss at that
//! very moment.
//!
//! The service runs in-process on the lossy VFS (`tests/common/lossy_vfs.rs`),
//! which knows which writes were fsynced: the power loss is simulated by
//! undoing every write since each file's last fsync (one still running
//! does not count). Under `--synchronous
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

/// Items by id and name.
type Items = Vec<(i64, String)>;

/// Runs the service with `args` and posts from several clients at once;
/// at each 201, "pulls the plug" (a copy of the database as a power loss
/// at that moment would leave it) and looks for the item there. Returns
/// the acknowledged items and those of them missing after their power loss.
fn lost_at_their_201(args: &[&str]) -> (Items, Items) {
    lossy_vfs::install();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("power.db");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(async { Running::start(app(&db, args).await).await });
    let results: Vec<(Vec<_>, Vec<_>)> = std::thread::scope(|s| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let db = &db;
                s.spawn(move || post(server.addr, db, c))
            })
            .collect();
        clients.into_iter().map(|c| c.join().unwrap()).collect()
    });
    runtime.block_on(server.stop());
    let acked = results.iter().flat_map(|r| r.0.clone()).collect();
    let lost = results.iter().flat_map(|r| r.1.clone()).collect();
    (acked, lost)
}

/// `POSTS` items from client `c` on one keep-alive connection: every 201,
/// and those not in the database as a power loss right after it leaves it.
fn post(addr: std::net::SocketAddr, db: &Path, c: usize) -> (Items, Items) {
    let mut conn = HttpConn::connect(addr).unwrap();
    let (mut acked, mut lost) = (Vec::new(), Vec::new());
    for i in 0..POSTS {
        let name = format!("c{c}-{i}");
        let body = format!(r#"{{"name":"{name}"}}"#);
        let json = [("Content-Type", "application/json")];
        let response = conn
            .send("POST", "/api/items", &json, body.as_bytes(), true)
            .unwrap();
        assert_eq!(response.status, 201, "{}", response.text());
        let item = (response.json()["id"].as_i64().unwrap(), name);
        let after = tempfile::tempdir().unwrap();
        lossy_vfs::durable_copy(db, after.path()).unwrap();
        if items(&after.path().join("power.db")).get(&item.0) != Some(&item.1) {
            lost.push(item.clone());
        }
        acked.push(item);
    }
    (acked, lost)
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
    let (acked, lost) = lost_at_their_201(&[]);
    assert_eq!(acked.len(), CLIENTS * POSTS);
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged items lost to a power loss at their 201, first: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
}

#[test]
fn with_synchronous_normal_a_power_loss_loses_acknowledged_items() {
    let (acked, lost) = lost_at_their_201(&["--synchronous", "normal"]);
    assert_eq!(acked.len(), CLIENTS * POSTS);
    assert!(
        !lost.is_empty(),
        "without an fsync per commit every item survived: the simulation sees no fsync"
    );
}
