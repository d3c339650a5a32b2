//! `srelab serve` driven in-process: the server takes an already-bound
//! listener and a shutdown future, and each instance owns its registry,
//! so two instances in one process count separately.

mod common;

use common::inprocess::{Running, app};
use srelab::serve::app::App;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_in_one_process_have_their_own_counters_and_stop_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inproc.db");
    let mut running = Vec::new();
    for _ in 0..2 {
        running.push(Running::start(app(&db, &[]).await).await);
    }
    let (first, second) = (running[0].addr, running[1].addr);
    assert!(get(first, "/healthz").await.starts_with("HTTP/1.1 200"));
    assert!(get(first, "/healthz").await.starts_with("HTTP/1.1 200"));
    assert!(get(second, "/nope").await.starts_with("HTTP/1.1 404"));

    let series = r#"http_requests_total{method="GET",route="/healthz",status="200"} "#;
    let count = |app: &App| {
        let text = String::from_utf8(app.metrics.encode()).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(series).map(str::to_owned))
    };
    assert_eq!(count(&running[0].app).as_deref(), Some("2"));
    assert_eq!(count(&running[1].app), None);

    for server in running {
        server.stop().await;
    }
    assert!(tokio::net::TcpStream::connect(first).await.is_err());
}
