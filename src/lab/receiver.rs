//! The webhook receiver Alertmanager delivers to: every notification is
//! appended to a JSON-lines file (the payload as Alertmanager sent it, plus
//! `received_at`), printed as one line, and kept in memory for the drill.
//! `srelab lab` runs it on a thread of its own (so a lab busy stopping a
//! child still takes deliveries on time); `srelab receive` runs it alone,
//! as the NixOS lab module does.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use anyhow::Context as _;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::output::say;

/// Largest accepted notification (Alertmanager's payloads are small).
const MAX_BODY: usize = 4 << 20;

/// One alert of a notification.
#[derive(Debug, Clone, Deserialize)]
pub struct NotifiedAlert {
    /// `firing` or `resolved`.
    pub status: String,
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub fingerprint: String,
    /// When Prometheus first saw its condition hold (RFC 3339).
    #[serde(rename = "startsAt", default)]
    pub starts_at: String,
}

impl NotifiedAlert {
    /// When Prometheus first saw its condition hold.
    pub fn starts(&self) -> Option<SystemTime> {
        OffsetDateTime::parse(&self.starts_at, &Rfc3339)
            .ok()
            .map(SystemTime::from)
    }

    pub fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }

    /// `Name{label="value",…}` without `alertname`.
    pub fn describe(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .filter(|(k, _)| *k != "alertname")
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        format!("{}{{{}}}", self.name(), labels.join(","))
    }
}

/// One notification as Alertmanager's webhook (version 4) sends it.
#[derive(Debug, Clone, Deserialize)]
pub struct Notification {
    /// `page` or `ticket`: the receiver Alertmanager routed it to.
    pub receiver: String,
    /// `firing` when any of its alerts fires, else `resolved`.
    pub status: String,
    pub alerts: Vec<NotifiedAlert>,
    /// When the receiver got it (not part of the payload).
    #[serde(skip, default = "Instant::now")]
    pub received: Instant,
}

impl Notification {
    /// The one line printed for it.
    pub fn line(&self) -> String {
        let firing: Vec<String> = self
            .alerts
            .iter()
            .filter(|a| a.status == "firing")
            .map(NotifiedAlert::describe)
            .collect();
        let resolved: Vec<String> = self
            .alerts
            .iter()
            .filter(|a| a.status != "firing")
            .map(NotifiedAlert::describe)
            .collect();
        let mut parts = Vec::new();
        if !firing.is_empty() {
            parts.push(format!("FIRING {}", firing.join(", ")));
        }
        if !resolved.is_empty() {
            parts.push(format!("resolved {}", resolved.join(", ")));
        }
        let summary = self
            .alerts
            .iter()
            .find(|a| a.status == "firing")
            .and_then(|a| a.annotations.get("summary"))
            .map(|s| format!(": {s}"))
            .unwrap_or_default();
        format!("{:<6} {}{summary}", self.receiver, parts.join("; "))
    }
}

/// The notifications received so far, shared with the receiver's thread.
pub type Inbox = Arc<Mutex<Vec<Notification>>>;

/// A running receiver; stops when dropped.
pub struct Receiver {
    pub addr: SocketAddr,
    pub file: PathBuf,
    pub inbox: Inbox,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    /// Serves `listener` on a thread of its own, writing `file` (created
    /// empty: notifications of an earlier run would mislead); with `print`,
    /// each notification is also one line on stdout.
    pub fn start(
        listener: std::net::TcpListener,
        file: &Path,
        print: bool,
    ) -> std::io::Result<Receiver> {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        std::fs::File::create(file)?;
        let inbox: Inbox = Arc::default();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let state = Arc::new(State {
            file: file.to_owned(),
            inbox: inbox.clone(),
            print,
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("srelab-receiver".into())
            .spawn(move || runtime.block_on(serve(listener, state, stopped)))?;
        Ok(Receiver {
            addr,
            file: file.to_owned(),
            inbox,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The URL Alertmanager's webhook posts to.
    pub fn url(&self) -> String {
        format!("http://{}/alerts", self.addr)
    }

    /// The notifications received so far.
    pub fn received(&self) -> Vec<Notification> {
        self.inbox.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct State {
    file: PathBuf,
    inbox: Inbox,
    print: bool,
}

async fn serve(
    listener: std::net::TcpListener,
    state: Arc<State>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            _ = &mut stopped => return,
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(&state, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn reply(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(format!("{text}\n"))));
    *r.status_mut() = status;
    r
}

async fn answer(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::POST {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "POST Alertmanager's webhook notifications here",
        );
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            return reply(
                StatusCode::BAD_REQUEST,
                &format!("cannot read the body: {e}"),
            );
        }
    };
    match record(state, &body) {
        Ok(()) => reply(StatusCode::OK, "recorded"),
        Err(e) => reply(StatusCode::BAD_REQUEST, &e),
    }
}

/// Parses, appends and prints one notification.
fn record(state: &State, body: &[u8]) -> Result<(), String> {
    let mut payload: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let notification: Notification = serde_json::from_value(payload.clone())
        .map_err(|e| format!("not an Alertmanager notification: {e}"))?;
    let now = OffsetDateTime::from(SystemTime::now())
        .format(&Rfc3339)
        .unwrap_or_default();
    if let Some(map) = payload.as_object_mut() {
        map.insert("received_at".into(), Value::String(now));
    }
    let line = serde_json::to_string(&payload).map_err(|e| e.to_string())?;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&state.file)
        .map_err(|e| format!("{}: {e}", state.file.display()))?;
    writeln!(file, "{line}").map_err(|e| format!("{}: {e}", state.file.display()))?;
    if state.print {
        say(format_args!("notification: {}", notification.line()));
    }
    if let Ok(mut inbox) = state.inbox.lock() {
        inbox.push(notification);
    }
    Ok(())
}

/// Arguments of `srelab receive`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on for Alertmanager's webhook (IP:PORT).
    #[arg(long, env = "SRELAB_RECEIVE_LISTEN", default_value = "127.0.0.1:9095")]
    pub listen: SocketAddr,
    /// The JSON-lines file each notification is appended to (emptied at start).
    #[arg(
        long,
        env = "SRELAB_RECEIVE_FILE",
        default_value = "notifications.jsonl"
    )]
    pub file: PathBuf,
}

/// Runs `srelab receive` until SIGTERM or SIGINT.
pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    let listener = std::net::TcpListener::bind(args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let receiver = Receiver::start(listener, &args.file, true)
        .with_context(|| format!("cannot start the receiver ({})", args.file.display()))?;
    say(format_args!(
        "receiving Alertmanager's webhook on {}; notifications go to {}",
        receiver.url(),
        receiver.file.display()
    ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let mut signals = super::run::Signals::new()?;
        signals.recv().await;
        anyhow::Ok(())
    })?;
    drop(receiver);
    Ok(ExitCode::SUCCESS)
}
