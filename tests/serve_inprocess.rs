//! `srelab serve` driven in-process: the server takes an already-bound
//! listener and a shutdown future, and each instance owns its registry,
//! so two instances in one process count separately.

use std::sync::Arc;

use clap::Parser;
use srelab::serve::{app::App, config::Config, metrics::Metrics, server, store::Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: srelab::serve::Args,
}

async fn app(db: &std::path::Path) -> Arc<App> {
    let cli = Cli::parse_from(["test", "--db", db.to_str().unwrap(), "--no-host-metrics"]);
    let config = Config::from_args(cli.args).unwrap();
    let metrics = Metrics::new(&config).unwrap();
    let store = Store::open(&config.store, &metrics).await.unwrap();
    Arc::new(App::new(config, metrics, store))
}

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
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = app(&db).await;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::run(listener, Arc::clone(&app), async {
            let _ = stopped.await;
        }));
        running.push((addr, app, stop, task));
    }
    let (first, second) = (running[0].0, running[1].0);
    assert!(get(first, "/healthz").await.starts_with("HTTP/1.1 200"));
    assert!(get(first, "/healthz").await.starts_with("HTTP/1.1 200"));
    assert!(get(second, "/nope").await.starts_with("HTTP/1.1 404"));

    let series = r#"http_requests_total{method="GET",route="/healthz",status="200"} "#;
    let count = |app: &App| {
        let text = String::from_utf8(app.metrics.encode()).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(series).map(str::to_owned))
    };
    assert_eq!(count(&running[0].1).as_deref(), Some("2"));
    assert_eq!(count(&running[1].1), None);

    for (_, _, stop, task) in running {
        stop.send(()).unwrap();
        task.await.unwrap().unwrap();
    }
    assert!(tokio::net::TcpStream::connect(first).await.is_err());
}
