//! Is the host busy with work that is not the lab's? The CPU step judges
//! a host-wide alert, which fires by itself on a host that other programs
//! keep saturated; the drill measures that first and says so rather than
//! blaming (or crediting) the alert.

use std::time::Duration;

/// Busy and total CPU time of the host (`/proc/stat`, clock ticks).
fn host_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().sum();
    // idle and iowait are the time nothing ran.
    let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// CPU time of a process and its threads (`utime + stime`, clock ticks).
fn process_ticks(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // Fields after the command (which may hold spaces) start at `state`.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after `state`.
    num(11) + num(12)
}

/// The share of the host's CPU that processes other than `pids` used
/// over `over` (0 to 1), or `None` where `/proc/stat` cannot be read.
pub async fn others_share(pids: &[u32], over: Duration) -> Option<f64> {
    let ours = |pids: &[u32]| pids.iter().map(|p| process_ticks(*p)).sum::<u64>();
    let (busy0, total0) = host_ticks()?;
    let ours0 = ours(pids);
    tokio::time::sleep(over).await;
    let (busy1, total1) = host_ticks()?;
    let ours1 = ours(pids);
    let total = total1.saturating_sub(total0);
    if total == 0 {
        return None;
    }
    let others = busy1
        .saturating_sub(busy0)
        .saturating_sub(ours1.saturating_sub(ours0));
    Some(others as f64 / total as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_counted_as_ours() {
        assert!(host_ticks().is_some_and(|(busy, total)| busy <= total && total > 0));
        let me = std::process::id();
        let before = process_ticks(me);
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(300) {
            std::hint::black_box(0u64.wrapping_add(1));
        }
        assert!(process_ticks(me) > before);
    }
}
