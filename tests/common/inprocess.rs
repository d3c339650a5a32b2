//! `srelab serve` driven in-process: the real `App` and accept loop from
//! the command line a user would type, on a listener bound to port 0, with
//! a shutdown handle. For tests that need the process's own state (its
//! registry, or a VFS installed in this process).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use clap::Parser;
use srelab::serve::{app::App, config::Config, metrics::Metrics, server, store::Store};
use tokio::sync::oneshot;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: srelab::serve::Args,
}

/// The service as `srelab serve --db DB --no-host-metrics ARGS…` builds it.
pub async fn app(db: &Path, args: &[&str]) -> Arc<App> {
    let db = db.to_str().expect("a UTF-8 path");
    let argv = [&["test", "--db", db, "--no-host-metrics"][..], args].concat();
    let config = Config::from_args(Cli::parse_from(argv).args).expect("a valid configuration");
    let metrics = Metrics::new(&config).expect("metrics");
    let store = Store::open(&config.store, &metrics)
        .await
        .expect("the store opens");
    Arc::new(App::new(config, metrics, store))
}

/// A service serving on 127.0.0.1:0 in the current tokio runtime.
pub struct Running {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Binds 127.0.0.1:0 and serves `app` until [`Running::stop`].
    pub async fn start(app: Arc<App>) -> Running {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("the bound address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::run(listener, Arc::clone(&app), async {
            let _ = stopped.await;
        }));
        Running {
            addr,
            app,
            stop,
            task,
        }
    }

    /// Shuts down as SIGTERM would (drain, commit, close) and waits.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task
            .await
            .expect("the server task")
            .expect("the server stops cleanly");
    }
}
