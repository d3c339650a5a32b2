//! Child processes of the lab, each owned by a guard: dropping it sends
//! SIGTERM, waits a grace period, then SIGKILLs. Children also get SIGTERM
//! from the kernel if the lab dies (PR_SET_PDEATHSIG), so none is left behind.

use std::fs::{File, OpenOptions};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::error::LabError;

/// How long a child may take to exit after SIGTERM before it is killed.
pub const GRACE: Duration = Duration::from_secs(10);

/// How a child's standard output and error are handled.
pub enum Output {
    /// Appended to a log file.
    Log(PathBuf),
    /// Shared with the lab's terminal (the load tool's TUI).
    Inherit,
}

/// One running child process.
pub struct Child {
    name: String,
    child: std::process::Child,
    log: Option<PathBuf>,
    /// Peak resident memory (VmHWM) seen, in KiB.
    peak_kib: u64,
    done: Option<ExitStatus>,
    /// What asks it to stop (SIGTERM unless the program wants another).
    stop_signal: Signal,
}

impl Child {
    /// Starts `cmd` as the lab child `name`.
    pub fn spawn(name: &str, cmd: &mut Command, output: Output) -> Result<Child, LabError> {
        let log = match &output {
            Output::Log(path) => {
                let file = open_log(path)?;
                let err = file.try_clone().map_err(LabError::io(path))?;
                cmd.stdin(Stdio::null()).stdout(file).stderr(err);
                Some(path.clone())
            }
            Output::Inherit => None,
        };
        // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no
        // memory of the parent. The lab spawns from its main thread only (a
        // current-thread runtime), so the signal fires when the lab exits.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)
            });
        }
        let child = cmd.spawn().map_err(|source| LabError::Spawn {
            what: name.to_owned(),
            program: cmd.get_program().into(),
            source,
        })?;
        tracing::info!(name, pid = child.id(), "started");
        Ok(Child {
            name: name.to_owned(),
            child,
            log,
            peak_kib: 0,
            done: None,
            stop_signal: Signal::SIGTERM,
        })
    }

    /// Stops it with `signal` instead of SIGTERM (PostgreSQL: SIGINT, its
    /// fast shutdown; SIGTERM would wait for every client to leave).
    pub fn with_stop_signal(mut self, signal: Signal) -> Child {
        self.stop_signal = signal;
        self
    }

    /// The child's name in the lab (e.g. `srelab-1`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, once the child has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.done.is_none() {
            self.sample_memory();
            self.done = self.child.try_wait().ok().flatten();
        }
        self.done
    }

    /// The error describing an unexpected exit, with the end of its log.
    pub fn exit_error(&mut self, status: ExitStatus) -> LabError {
        let log = self.log.clone().unwrap_or_default();
        LabError::Exited {
            what: self.name.clone(),
            status: status.to_string(),
            tail: tail(&log, 15),
            log,
        }
    }

    /// Peak resident memory in KiB seen so far.
    pub fn peak_kib(&self) -> u64 {
        self.peak_kib
    }

    /// Reads VmHWM (the kernel's high-water mark of resident memory); every
    /// look at the child's state does, so the last look before it exits
    /// (at the latest when it is stopped) keeps its peak.
    fn sample_memory(&mut self) {
        if self.done.is_none() {
            let kib = vm_hwm_kib(self.pid()).unwrap_or(0);
            self.peak_kib = self.peak_kib.max(kib);
        }
    }

    /// Sends the stop signal, without waiting.
    pub fn terminate(&mut self) {
        if self.exited().is_none() {
            let _ = kill(Pid::from_raw(self.pid() as i32), self.stop_signal);
        }
    }

    /// Waits until `deadline` for the exit, then kills; always reaps.
    pub fn reap(&mut self, deadline: Instant) -> ExitStatus {
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.exited().is_none() {
            tracing::warn!(name = %self.name, "did not stop in time; killing it");
            let _ = self.child.kill();
        }
        let status = self.child.wait().unwrap_or_else(|_| ExitStatus::default());
        self.done = Some(status);
        status
    }

    /// SIGKILL and reap (a crash: the child gets no chance to clean up).
    pub fn kill(&mut self) -> ExitStatus {
        if self.exited().is_none() {
            let _ = self.child.kill();
        }
        self.reap(Instant::now())
    }

    /// SIGTERM, wait up to [`GRACE`], SIGKILL.
    pub fn stop(&mut self) -> ExitStatus {
        self.terminate();
        self.reap(Instant::now() + GRACE)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Stops many children at once: SIGTERM to all, then reap each.
pub fn stop_all(children: &mut [Child]) {
    for c in children.iter_mut() {
        c.terminate();
    }
    let deadline = Instant::now() + GRACE;
    for c in children.iter_mut() {
        c.reap(deadline);
    }
}

fn open_log(path: &Path) -> Result<File, LabError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(LabError::io(path))
}

/// VmHWM of a process, in KiB.
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The last `n` lines of a file, for error messages.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
