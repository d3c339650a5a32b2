//! The process faults' threads: CPU burn and memory growth. Each runs
//! until its [`Running`] handle is dropped, which stops it without
//! waiting (the threads look at their stop flag often, and memory is
//! handed back when the growing thread exits).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// A running process fault; dropping it stops its threads.
pub struct Running {
    stop: Arc<AtomicBool>,
}

impl Running {
    /// A handle and the flag its threads watch.
    pub fn new() -> (Running, Arc<AtomicBool>) {
        let stop = Arc::new(AtomicBool::new(false));
        (Running { stop: stop.clone() }, stop)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
    }
}

/// Spawns a named thread; a failure to spawn (out of resources) is logged,
/// not a panic: the fault then does less than asked, which its gauge and
/// the metrics show.
pub fn spawn(name: &str, f: impl FnOnce() + Send + 'static) {
    if let Err(err) = std::thread::Builder::new().name(name.into()).spawn(f) {
        tracing::warn!(%err, thread = name, "cannot start a fault thread");
    }
}

/// Burns CPU on `threads` threads at `nice`. At 19 (the lowest priority)
/// the host's utilisation goes to 100% while the lab's other processes, and
/// this service's own request threads, still get the CPU they ask for.
pub fn burn_cpu(threads: u32, nice: i32) -> Running {
    let (running, stop) = Running::new();
    for _ in 0..threads {
        let stop = stop.clone();
        spawn("srelab-fault-cpu", move || {
            set_nice(nice);
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
            while !stop.load(Relaxed) {
                for _ in 0..100_000 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                }
                x = std::hint::black_box(x);
            }
        });
    }
    running
}

/// Sets the calling thread's nice value (on Linux it is per thread).
fn set_nice(nice: i32) {
    if nice == 0 {
        return;
    }
    let tid = nix::unistd::gettid().as_raw();
    // SAFETY: setpriority only reads its integer arguments; `tid` is this
    // thread's own id, so no other thread's priority changes.
    let rc =
        unsafe { nix::libc::setpriority(nix::libc::PRIO_PROCESS, tid as nix::libc::id_t, nice) };
    if rc != 0 {
        tracing::debug!(
            nice,
            "cannot set the CPU fault's nice value; it burns at normal priority"
        );
    }
}

/// Grows resident memory by `mib_per_second` (allocated in ten steps a
/// second, every page written) up to `max_mib`; freed when stopped.
pub fn grow_memory(mib_per_second: u32, max_mib: u32) -> Running {
    let (running, stop) = Running::new();
    spawn("srelab-fault-memory", move || {
        const TICK: Duration = Duration::from_millis(100);
        let step = (mib_per_second as usize) << 20;
        let cap = (max_mib as usize) << 20;
        let mut held: Vec<Vec<u8>> = Vec::new();
        let mut total = 0usize;
        let started = Instant::now();
        let mut ticks = 0u32;
        while !stop.load(Relaxed) {
            // Catch up on the schedule: the rate holds even if a tick was late.
            let due = (started.elapsed().as_millis() / TICK.as_millis()) as u32;
            while ticks < due && total < cap {
                let n = (step / 10).min(cap - total);
                // vec![1; n] writes every byte, so every page is resident.
                held.push(vec![1u8; n]);
                total += n;
                ticks += 1;
            }
            std::thread::sleep(TICK);
        }
        drop(held);
    });
    running
}
