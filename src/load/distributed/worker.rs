//! `srelab load --worker --listen ADDR`: waits for a coordinator, runs the
//! share of the run it is given, sends back what it recorded, and waits for
//! the next coordinator.

use std::{net::SocketAddr, process::ExitCode, sync::Arc, time::Duration};

use anyhow::Context;
use clap::Parser;
use rlt::cli::BenchCli;
use tokio::{
    io::BufReader,
    net::{TcpListener, TcpStream, tcp::OwnedWriteHalf},
    sync::Mutex,
};

use super::{
    protocol::{self, Message, Plan},
    wire::WireRecord,
};
use crate::load::{monitor::Monitor, probe, recorded::Recorded, step};

/// How long a coordinator may take between the steps before the run.
const HANDSHAKE: Duration = Duration::from_secs(30);
/// How often a running worker says how far it got.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Serves coordinators one after the other until the process is stopped.
pub async fn serve(listen: SocketAddr) -> anyhow::Result<ExitCode> {
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("--listen {listen}"))?;
    // The bound address (port 0 picks one), for whoever started the worker.
    println!("worker listening on {}", listener.local_addr()?);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        eprintln!("warning: accept: {e}");
                        continue;
                    }
                };
                match session(stream).await {
                    Ok(summary) => eprintln!("coordinator {peer}: {summary}"),
                    Err(e) => eprintln!("coordinator {peer}: {e}"),
                }
            }
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
        }
    }
}

/// One coordinator: handshake, plan, run, record. Returns what happened.
async fn session(stream: TcpStream) -> Result<String, String> {
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (read, write) = stream.into_split();
    let mut read = BufReader::new(read);
    let write = Arc::new(Mutex::new(write));
    let say = |msg: Message| {
        let write = write.clone();
        async move {
            protocol::send(&mut *write.lock().await, &msg)
                .await
                .map_err(|e| format!("writing to the coordinator: {e}"))
        }
    };

    match protocol::receive_within(&mut read, HANDSHAKE).await? {
        Message::Hello { version, protocol } => {
            if let Some(reason) = protocol::refuse(&version, protocol) {
                say(Message::Refused {
                    reason: reason.clone(),
                })
                .await?;
                return Err(format!("refused: {reason}"));
            }
        }
        other => return Err(format!("expected hello, got {other:?}")),
    }
    say(Message::hello()).await?;
    let plan = match protocol::receive_within(&mut read, HANDSHAKE).await? {
        Message::Plan(plan) => plan,
        Message::Refused { reason } => return Err(format!("the coordinator refused us: {reason}")),
        other => return Err(format!("expected a plan, got {other:?}")),
    };
    let (config, cli) = match prepare(&plan).await {
        Ok(prepared) => prepared,
        Err(reason) => {
            say(Message::Failed {
                reason: reason.clone(),
            })
            .await?;
            return Err(reason);
        }
    };
    say(Message::Ready).await?;
    match protocol::receive_within(&mut read, HANDSHAKE).await? {
        Message::Start => {}
        other => return Err(format!("expected start, got {other:?}")),
    }

    let monitor = Arc::new(Monitor::default());
    let progress = tokio::spawn(report_progress(write.clone(), monitor.clone()));
    let run = async {
        match cli {
            Some(cli) => step::run(&config, cli, None, monitor.clone())
                .await
                .map(|s| s.recorded)
                .map_err(|e| format!("{e:#}")),
            None => Ok(empty(&monitor)),
        }
    };
    // A coordinator that goes away takes the run with it.
    let recorded = tokio::select! {
        recorded = run => recorded,
        _ = protocol::receive(&mut read) => Err("the coordinator went away: run abandoned".into()),
    };
    progress.abort();
    let recorded = recorded?;
    let requests: u64 = recorded.cells.values().map(|c| c.requests()).sum();
    say(Message::Done(Box::new(WireRecord::of(&recorded)))).await?;
    Ok(format!(
        "share {}/{} done: {requests} requests",
        plan.index, plan.count
    ))
}

/// The config and rlt's options of a plan (`None`: the share is empty),
/// once every target answers.
async fn prepare(plan: &Plan) -> Result<(crate::load::config::Config, Option<BenchCli>), String> {
    let config = plan.config().map_err(|e| format!("a bad plan: {e}"))?;
    probe::reachable(&config.targets, config.request_timeout)
        .await
        .map_err(|e| e.to_string())?;
    if plan.iterations == Some(0) {
        return Ok((config, None));
    }
    let cli = BenchCli::try_parse_from(plan.rlt_args()).map_err(|e| format!("a bad plan: {e}"))?;
    Ok((config, Some(cli)))
}

/// A share without requests records nothing.
fn empty(monitor: &Monitor) -> Recorded {
    Recorded {
        cells: Default::default(),
        seconds: Default::default(),
        monitor: monitor.snapshot(),
        elapsed: Duration::ZERO,
        started_at: None,
        outliers: Default::default(),
    }
}

/// Tells the coordinator every second how far the run got.
async fn report_progress(write: Arc<Mutex<OwnedWriteHalf>>, monitor: Arc<Monitor>) {
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    loop {
        tick.tick().await;
        let msg = Message::Progress {
            started: monitor.started.load(std::sync::atomic::Ordering::Relaxed),
        };
        if protocol::send(&mut *write.lock().await, &msg)
            .await
            .is_err()
        {
            return;
        }
    }
}
