//! Samples and percentiles, and what `/proc` says about a process (CPU time,
//! resident memory).

/// Latency samples in microseconds.
#[derive(Default, Debug)]
pub(crate) struct Samples(Vec<u64>);

impl Samples {
    /// Records one sample.
    pub(crate) fn push(&mut self, us: u64) {
        self.0.push(us);
    }

    /// Moves another worker's samples in.
    pub(crate) fn merge(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    /// Sorts once; then [`Samples::pct`] reads.
    pub(crate) fn sort(&mut self) {
        self.0.sort_unstable();
    }

    /// The `p`-th percentile (nearest rank) of the sorted samples; 0 when
    /// empty.
    pub(crate) fn pct(&self, p: f64) -> u64 {
        if self.0.is_empty() {
            return 0;
        }
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1]
    }

    /// The largest sample.
    pub(crate) fn max(&self) -> u64 {
        self.0.last().copied().unwrap_or(0)
    }
}

/// Clock ticks per second of `/proc/*/stat` times (USER_HZ, 100 on Linux).
const TICKS_PER_SEC: u64 = 100;

/// User + system CPU time of a process in microseconds (`/proc/PID/stat`,
/// 10 ms resolution), or `None` where there is no such process or no /proc.
pub(crate) fn cpu_us(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the `(comm)` which may hold spaces: utime is field 14,
    // stime field 15 (1-based), i.e. indices 11 and 12 after the comm.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 1_000_000 / TICKS_PER_SEC)
}

/// Resident set size of a process in bytes (`VmRSS` in `/proc/PID/status`).
pub(crate) fn rss_bytes(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut s = Samples::default();
        for v in (1..=100).rev() {
            s.push(v);
        }
        s.sort();
        assert_eq!(s.pct(50.0), 50);
        assert_eq!(s.pct(99.0), 99);
        assert_eq!(s.pct(100.0), 100);
        assert_eq!(s.max(), 100);
        assert_eq!(Samples::default().pct(99.0), 0);
    }

    #[test]
    fn reads_own_process() {
        assert!(cpu_us("self").is_some());
        assert!(rss_bytes("self").unwrap() > 0);
    }
}
