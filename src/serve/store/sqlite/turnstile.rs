//! Fair hand-over of the write lock between processes sharing one database.
//!
//! SQLite's own lock is polled: a process that commits and immediately
//! begins again can win the lock over and over while another instance
//! sleeps in its busy handler, so that instance's writes wait long and
//! commit in small batches. The turnstile puts an order on it with two
//! byte-range locks (open-file-description locks, released by the kernel
//! if a process dies) on `<db>-srelab-lock`: to write, take the gate, then
//! the lock, then release the gate. A waiter holds the gate while it waits
//! for the lock, so the process that just committed cannot take the lock
//! again before the waiter has had its turn.
//!
//! It only adds fairness; SQLite's locking still guarantees correctness.
//! When the turnstile cannot be used (timeout, I/O error), the writer goes
//! on without it.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, fcntl};
use nix::libc;

const GATE: i64 = 0;
const LOCK: i64 = 1;

/// Longest pause between two attempts at a lock.
const MAX_PAUSE: Duration = Duration::from_micros(200);

/// Why a turn could not be had.
#[derive(Debug, thiserror::Error)]
pub enum TurnstileError {
    #[error("timed out waiting for the write turn")]
    TimedOut,
    #[error("lock file: {0}")]
    Io(#[from] io::Error),
}

/// This process's handle on the lock file.
pub struct Turnstile {
    file: File,
}

impl Turnstile {
    /// The lock file beside `db`.
    pub fn path_for(db: &Path) -> PathBuf {
        let mut path = db.as_os_str().to_owned();
        path.push("-srelab-lock");
        PathBuf::from(path)
    }

    /// Opens (creating if needed) the lock file beside `db`.
    pub fn open(db: &Path) -> io::Result<Turnstile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(Self::path_for(db))?;
        Ok(Turnstile { file })
    }

    /// Waits, until `deadline`, for this process's turn to write.
    pub fn enter(&self, deadline: Instant) -> Result<Turn<'_>, TurnstileError> {
        self.wait(GATE, deadline)?;
        let locked = self.wait(LOCK, deadline);
        let gate_released = self.set(GATE, libc::F_UNLCK);
        locked?;
        let turn = Turn { turnstile: self };
        gate_released.map_err(io::Error::from)?;
        Ok(turn)
    }

    fn wait(&self, byte: i64, deadline: Instant) -> Result<(), TurnstileError> {
        let mut pause = Duration::from_micros(20);
        loop {
            match self.set(byte, libc::F_WRLCK) {
                Ok(()) => return Ok(()),
                Err(Errno::EAGAIN | Errno::EACCES | Errno::EINTR) => {}
                Err(errno) => return Err(io::Error::from(errno).into()),
            }
            if Instant::now() >= deadline {
                return Err(TurnstileError::TimedOut);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }

    fn set(&self, byte: i64, kind: libc::c_int) -> Result<(), Errno> {
        let region = libc::flock {
            l_type: kind as libc::c_short,
            l_whence: libc::SEEK_SET as libc::c_short,
            l_start: byte,
            l_len: 1,
            l_pid: 0,
        };
        fcntl(&self.file, FcntlArg::F_OFD_SETLK(&region)).map(drop)
    }
}

/// This process's turn to write; ends when dropped.
pub struct Turn<'a> {
    turnstile: &'a Turnstile,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let _ = self.turnstile.set(LOCK, libc::F_UNLCK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether another open file description holds `byte` of the lock file.
    fn held_elsewhere(t: &Turnstile, byte: i64) -> bool {
        let mut region = libc::flock {
            l_type: libc::F_WRLCK as libc::c_short,
            l_whence: libc::SEEK_SET as libc::c_short,
            l_start: byte,
            l_len: 1,
            l_pid: 0,
        };
        fcntl(&t.file, FcntlArg::F_OFD_GETLK(&mut region)).unwrap();
        region.l_type != libc::F_UNLCK as libc::c_short
    }

    #[test]
    fn a_second_handle_waits_for_the_turn_and_gets_it_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let (a, b) = (Turnstile::open(&db).unwrap(), Turnstile::open(&db).unwrap());
        let soon = || Instant::now() + Duration::from_millis(50);
        let turn = a.enter(soon()).unwrap();
        assert!(matches!(b.enter(soon()), Err(TurnstileError::TimedOut)));
        drop(turn);
        let turn = b.enter(soon()).unwrap();
        assert!(matches!(a.enter(soon()), Err(TurnstileError::TimedOut)));
        drop(turn);
        assert!(a.enter(soon()).is_ok());
    }

    #[test]
    fn a_waiter_gets_the_next_turn_before_the_last_holder() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};

        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let a = Turnstile::open(&db).unwrap();
        let turn = a.enter(Instant::now() + Duration::from_secs(5)).unwrap();
        let waiter_had_its_turn = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&waiter_had_its_turn);
        let waiter = std::thread::spawn(move || {
            let b = Turnstile::open(&db).unwrap();
            let _turn = b.enter(Instant::now() + Duration::from_secs(5)).unwrap();
            flag.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(50));
        });
        // Once the waiter holds the gate, hand over and ask again at once.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !held_elsewhere(&a, GATE) {
            assert!(
                Instant::now() < deadline,
                "the waiter never reached the gate"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(turn);
        let _again = a.enter(Instant::now() + Duration::from_secs(5)).unwrap();
        assert!(
            waiter_had_its_turn.load(Ordering::SeqCst),
            "the last holder barged in before the waiter"
        );
        waiter.join().unwrap();
    }
}
