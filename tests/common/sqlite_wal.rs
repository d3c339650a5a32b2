//! Reading a SQLite WAL file from outside the process that writes it, to
//! count transactions independently of the service's own metrics.
//!
//! Format (<https://www.sqlite.org/fileformat.html#the_write_ahead_log>): a
//! 32-byte header (big-endian; page size at byte 8, the two salts at 16 and
//! 20), then frames of a 24-byte header and one page. A frame whose second
//! header word (the database size after the commit) is not zero is the last
//! frame of a transaction: a commit record. Frames belong to the current
//! WAL only while their salts match the header's.

use std::path::Path;

/// The number of commit records in `db`'s WAL (0 if there is no WAL).
pub fn commit_records(db: &Path) -> usize {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let Ok(bytes) = std::fs::read(&wal) else {
        return 0;
    };
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    if bytes.len() < 32 {
        return 0;
    }
    assert!(
        matches!(word(0), 0x377f_0682 | 0x377f_0683),
        "{} is not a WAL file",
        wal.to_string_lossy()
    );
    let frame = 24 + word(8) as usize;
    let salts = (word(16), word(20));
    (32..)
        .step_by(frame)
        .take_while(|&at| at + frame <= bytes.len())
        .take_while(|&at| (word(at + 8), word(at + 12)) == salts)
        .filter(|&at| word(at + 4) != 0)
        .count()
}
