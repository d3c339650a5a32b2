//! A SQLite VFS that remembers which writes were made durable (fsynced),
//! so a test can see what a power loss would leave on disk.
//!
//! [`install`] registers it as the process's default VFS, in front of the
//! `unix` one: every connection opened afterwards in this process (the
//! service's store driven in-process included) goes through it. Each write
//! records the bytes it overwrote; an fsync of a file forgets that file's
//! record. [`durable_copy`] writes the files of a database as they would be
//! after losing the page cache now: every write since the file's last fsync
//! undone, the file cut back to its size at that fsync. The `-shm` index is
//! left out: SQLite rebuilds it from the WAL.
//!
//! Only for tests: it holds one process-wide lock around every write and
//! sync.

use std::collections::BTreeMap;
use std::ffi::{CStr, c_int, c_void};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Mutex, Once};

use rusqlite::ffi;

/// Per file path: the bytes overwritten since the last fsync, and the
/// file's size at that fsync.
#[derive(Default)]
struct Durability {
    undo: Vec<(u64, Vec<u8>)>,
    synced_len: u64,
}

static FILES: Mutex<BTreeMap<PathBuf, Durability>> = Mutex::new(BTreeMap::new());
/// The `unix` VFS every call ends in.
static UNIX: AtomicPtr<ffi::sqlite3_vfs> = AtomicPtr::new(std::ptr::null_mut());
static INSTALL: Once = Once::new();

/// Registers the VFS as this process's default (once).
pub fn install() {
    INSTALL.call_once(|| unsafe {
        let unix = ffi::sqlite3_vfs_find(c"unix".as_ptr());
        assert!(!unix.is_null(), "SQLite has no `unix` VFS");
        UNIX.store(unix, Ordering::Release);
        let mut vfs = *unix;
        vfs.zName = c"srelab-lossy".as_ptr();
        vfs.szOsFile = std::mem::size_of::<File>() as c_int;
        vfs.pNext = std::ptr::null_mut();
        vfs.xOpen = Some(open);
        let rc = ffi::sqlite3_vfs_register(Box::leak(Box::new(vfs)), 1);
        assert_eq!(rc, ffi::SQLITE_OK, "registering the lossy VFS");
    });
}

/// Writes the durable state of `db` and its `-wal` file into `dir` (same
/// file names): what a power loss at this moment would leave.
pub fn durable_copy(db: &Path, dir: &Path) -> std::io::Result<()> {
    let _no_write_meanwhile = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    let files = FILES.lock().unwrap_or_else(|e| e.into_inner());
    for suffix in ["", "-wal"] {
        let mut path = db.as_os_str().to_owned();
        path.push(suffix);
        let path = PathBuf::from(path);
        let Some(state) = files.get(&path) else {
            continue;
        };
        let mut bytes = std::fs::read(&path)?;
        for (offset, old) in state.undo.iter().rev() {
            let (start, end) = (*offset as usize, *offset as usize + old.len());
            if bytes.len() < end {
                bytes.resize(end, 0);
            }
            bytes[start..end].copy_from_slice(old);
        }
        bytes.resize(state.synced_len as usize, 0);
        std::fs::write(dir.join(path.file_name().expect("a file name")), bytes)?;
    }
    Ok(())
}

/// Our file: SQLite's base struct first, then the `unix` VFS's own file.
#[repr(C)]
struct File {
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
    path: Option<PathBuf>,
}

fn unix() -> *mut ffi::sqlite3_vfs {
    UNIX.load(Ordering::Acquire)
}

/// The allocation of one `unix` file.
fn layout() -> std::alloc::Layout {
    let size = unsafe { (*unix()).szOsFile } as usize;
    std::alloc::Layout::from_size_align(size.max(8), 16).expect("a valid layout")
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    unsafe {
        let file = file.cast::<File>();
        let real = std::alloc::alloc_zeroed(layout()).cast::<ffi::sqlite3_file>();
        let unix = unix();
        let rc = ((*unix).xOpen.expect("unix xOpen"))(unix, name, real, flags, out_flags);
        if rc != ffi::SQLITE_OK || (*real).pMethods.is_null() {
            std::alloc::dealloc(real.cast(), layout());
            (*file).base.pMethods = std::ptr::null();
            return rc;
        }
        let path = (!name.is_null())
            .then(|| PathBuf::from(CStr::from_ptr(name).to_string_lossy().into_owned()));
        if let Some(path) = &path {
            let len = std::fs::metadata(path).map_or(0, |m| m.len());
            let mut files = FILES.lock().unwrap_or_else(|e| e.into_inner());
            files.entry(path.clone()).or_insert(Durability {
                undo: Vec::new(),
                synced_len: len,
            });
        }
        std::ptr::write(
            file,
            File {
                base: ffi::sqlite3_file { pMethods: &METHODS },
                real,
                path,
            },
        );
        rc
    }
}

/// The real file and its methods.
unsafe fn real(
    file: *mut ffi::sqlite3_file,
) -> (*mut ffi::sqlite3_file, &'static ffi::sqlite3_io_methods) {
    unsafe {
        let real = (*file.cast::<File>()).real;
        (real, &*(*real).pMethods)
    }
}

unsafe fn size(file: *mut ffi::sqlite3_file) -> u64 {
    unsafe {
        let (real, m) = real(file);
        let mut size: ffi::sqlite3_int64 = 0;
        (m.xFileSize.expect("xFileSize"))(real, &mut size);
        size as u64
    }
}

/// Records the bytes of `[offset, end)` that exist now, before they change.
unsafe fn remember(file: *mut ffi::sqlite3_file, offset: u64, end: u64) {
    unsafe {
        let Some(path) = &(*file.cast::<File>()).path else {
            return;
        };
        let end = end.min(size(file));
        if end <= offset {
            return;
        }
        let mut old = vec![0u8; (end - offset) as usize];
        let (real, m) = real(file);
        (m.xRead.expect("xRead"))(
            real,
            old.as_mut_ptr().cast(),
            old.len() as c_int,
            offset as i64,
        );
        let mut files = FILES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(state) = files.get_mut(path) {
            state.undo.push((offset, old));
        }
    }
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let (real, m) = real(file);
        let rc = (m.xClose.expect("xClose"))(real);
        std::alloc::dealloc(real.cast(), layout());
        std::ptr::drop_in_place(&mut (*file.cast::<File>()).path);
        rc
    }
}

unsafe extern "C" fn read(
    file: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amt: c_int,
    offset: i64,
) -> c_int {
    unsafe {
        let (real, m) = real(file);
        (m.xRead.expect("xRead"))(real, buf, amt, offset)
    }
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amt: c_int,
    offset: i64,
) -> c_int {
    unsafe {
        let _one_at_a_time = WRITING.lock().unwrap_or_else(|e| e.into_inner());
        remember(file, offset as u64, offset as u64 + amt as u64);
        let (real, m) = real(file);
        (m.xWrite.expect("xWrite"))(real, buf, amt, offset)
    }
}

unsafe extern "C" fn truncate(file: *mut ffi::sqlite3_file, to: i64) -> c_int {
    unsafe {
        let _one_at_a_time = WRITING.lock().unwrap_or_else(|e| e.into_inner());
        remember(file, to as u64, u64::MAX);
        let (real, m) = real(file);
        (m.xTruncate.expect("xTruncate"))(real, to)
    }
}

/// An fsync makes durable what was written before it began: a copy taken
/// while it runs still undoes those writes, as a power loss then would.
unsafe extern "C" fn sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    unsafe {
        let Some(path) = &(*file.cast::<File>()).path else {
            let (real, m) = real(file);
            return (m.xSync.expect("xSync"))(real, flags);
        };
        let (written, len) = {
            let _no_write_meanwhile = WRITING.lock().unwrap_or_else(|e| e.into_inner());
            let files = FILES.lock().unwrap_or_else(|e| e.into_inner());
            (files.get(path).map_or(0, |s| s.undo.len()), size(file))
        };
        let (real, m) = real(file);
        let rc = (m.xSync.expect("xSync"))(real, flags);
        if rc == ffi::SQLITE_OK {
            let _no_write_meanwhile = WRITING.lock().unwrap_or_else(|e| e.into_inner());
            let mut files = FILES.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(state) = files.get_mut(path) {
                state.undo.drain(..written.min(state.undo.len()));
                state.synced_len = len;
            }
        }
        rc
    }
}

/// Writes, and the bookkeeping of syncs, one at a time, so an undo record
/// and the write it belongs to are never split, nor seen split by a copy.
static WRITING: Mutex<()> = Mutex::new(());

unsafe extern "C" fn file_size(file: *mut ffi::sqlite3_file, out: *mut i64) -> c_int {
    unsafe {
        let (real, m) = real(file);
        (m.xFileSize.expect("xFileSize"))(real, out)
    }
}

unsafe extern "C" fn lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    unsafe {
        let (real, m) = real(file);
        (m.xLock.expect("xLock"))(real, level)
    }
}

unsafe extern "C" fn unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    unsafe {
        let (real, m) = real(file);
        (m.xUnlock.expect("xUnlock"))(real, level)
    }
}

unsafe extern "C" fn check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    unsafe {
        let (real, m) = real(file);
        (m.xCheckReservedLock.expect("xCheckReservedLock"))(real, out)
    }
}

unsafe extern "C" fn file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    unsafe {
        let (real, m) = real(file);
        (m.xFileControl.expect("xFileControl"))(real, op, arg)
    }
}

unsafe extern "C" fn sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let (real, m) = real(file);
        (m.xSectorSize.expect("xSectorSize"))(real)
    }
}

unsafe extern "C" fn device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let (real, m) = real(file);
        (m.xDeviceCharacteristics.expect("xDeviceCharacteristics"))(real)
    }
}

unsafe extern "C" fn shm_map(
    file: *mut ffi::sqlite3_file,
    region: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    unsafe {
        let (real, m) = real(file);
        (m.xShmMap.expect("xShmMap"))(real, region, size, extend, out)
    }
}

unsafe extern "C" fn shm_lock(
    file: *mut ffi::sqlite3_file,
    offset: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    unsafe {
        let (real, m) = real(file);
        (m.xShmLock.expect("xShmLock"))(real, offset, n, flags)
    }
}

unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
    unsafe {
        let (real, m) = real(file);
        (m.xShmBarrier.expect("xShmBarrier"))(real)
    }
}

unsafe extern "C" fn shm_unmap(file: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    unsafe {
        let (real, m) = real(file);
        (m.xShmUnmap.expect("xShmUnmap"))(real, delete)
    }
}

unsafe extern "C" fn fetch(
    file: *mut ffi::sqlite3_file,
    offset: i64,
    amt: c_int,
    out: *mut *mut c_void,
) -> c_int {
    unsafe {
        let (real, m) = real(file);
        match m.xFetch {
            Some(f) if m.iVersion >= 3 => f(real, offset, amt, out),
            _ => {
                *out = std::ptr::null_mut();
                ffi::SQLITE_OK
            }
        }
    }
}

unsafe extern "C" fn unfetch(file: *mut ffi::sqlite3_file, offset: i64, p: *mut c_void) -> c_int {
    unsafe {
        let (real, m) = real(file);
        match m.xUnfetch {
            Some(f) if m.iVersion >= 3 => f(real, offset, p),
            _ => ffi::SQLITE_OK,
        }
    }
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};
