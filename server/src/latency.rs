//! Latency figures, as Redis keeps them: a histogram of every command's run time
//! (`latency-tracking`: LATENCY HISTOGRAM, INFO `latencystats`) and the latency monitor
//! (`latency-monitor-threshold`: LATENCY LATEST / HISTORY / RESET, events `command` and
//! `fast-command` for commands that ran at least the threshold).
//!
//! The histogram is HdrHistogram's layout with lock-free counters: values in nanoseconds
//! from 1,024 (smaller ones count there) to about 2^31, each power of two split in 64 equal
//! sub-buckets, so a percentile is within 1.6% of the exact value. A command's counters are
//! allocated on its first call.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// The smallest value with its own bucket (Redis's `LATENCY_HISTOGRAM_MIN_VALUE`).
const MIN_NS: u64 = 1024;
/// Powers of two covered above [`MIN_NS`]: up to about 2.2 s (longer runs count in the
/// last bucket).
const POWERS: usize = 21;
const SUB: usize = 64;
const BUCKETS: usize = POWERS * SUB;

/// One command's run times.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: OnceLock<Box<[AtomicU64]>>,
}

/// The bucket of `ns`: its power of two above [`MIN_NS`], then its 64th within it.
fn bucket(ns: u64) -> usize {
    let v = ns.max(MIN_NS);
    let power = (63 - v.leading_zeros()) as usize - 10; // MIN_NS = 2^10
    if power >= POWERS {
        return BUCKETS - 1;
    }
    let base = MIN_NS << power;
    let sub = ((v - base) * SUB as u64 / base) as usize;
    power * SUB + sub.min(SUB - 1)
}

/// The largest value bucket `i` holds (its "highest equivalent value").
fn upper(i: usize) -> u64 {
    let (power, sub) = (i / SUB, i % SUB);
    let base = MIN_NS << power;
    base + (sub as u64 + 1) * base / SUB as u64 - 1
}

impl Histogram {
    /// Counts one run of `ns` nanoseconds.
    pub fn record(&self, ns: u64) {
        let counts = self
            .counts
            .get_or_init(|| (0..BUCKETS).map(|_| AtomicU64::new(0)).collect());
        counts[bucket(ns)].fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> Option<Vec<u64>> {
        let counts = self.counts.get()?;
        Some(counts.iter().map(|c| c.load(Ordering::Relaxed)).collect())
    }

    /// Runs counted.
    pub fn total(&self) -> u64 {
        self.snapshot().map_or(0, |c| c.iter().sum())
    }

    /// Forgets every run (CONFIG RESETSTAT).
    pub fn reset(&self) {
        if let Some(counts) = self.counts.get() {
            for c in counts.iter() {
                c.store(0, Ordering::Relaxed);
            }
        }
    }

    /// The value (ns) at or below which `p` percent of the runs fall.
    pub fn percentile(&self, p: f64) -> u64 {
        let Some(counts) = self.snapshot() else {
            return 0;
        };
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return 0;
        }
        let want = ((p / 100.0 * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return upper(i);
            }
        }
        upper(BUCKETS - 1)
    }

    /// LATENCY HISTOGRAM's `histogram_usec`: at 1, 2, 4, ... 65, 131, ... µs (each power of
    /// two from 1,024 ns, in whole µs as Redis prints them), the runs that took at most about
    /// that long, where that count grew (Redis's logarithmic iteration).
    pub fn cumulative_usec(&self) -> Vec<(u64, u64)> {
        let Some(counts) = self.snapshot() else {
            return Vec::new();
        };
        // At level 1,024 x 2^j ns: every bucket below it and the one it starts.
        let mut out = Vec::new();
        let mut previous = 0;
        for level in 0..POWERS {
            let seen: u64 = counts[..level * SUB + 1].iter().sum();
            if seen > previous {
                out.push(((MIN_NS << level) / 1000, seen));
            }
            previous = seen;
        }
        let all: u64 = counts.iter().sum();
        if all > previous {
            out.push(((MIN_NS << POWERS) / 1000, all));
        }
        out
    }
}

/// Samples the latency monitor keeps per event (Redis's `LATENCY_TS_LEN`).
const HISTORY: usize = 160;

/// One event's samples: (unix seconds, milliseconds), at most one per second, and the
/// largest ever.
#[derive(Debug, Default)]
struct Series {
    samples: VecDeque<(u64, u64)>,
    max: u64,
}

/// The latency monitor's events.
#[derive(Debug, Default)]
pub struct Monitor {
    events: Mutex<BTreeMap<&'static str, Series>>,
}

impl Monitor {
    /// Records `ms` for `event` at unix time `now` (one sample a second: the largest).
    pub fn add(&self, event: &'static str, now: u64, ms: u64) {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let s = events.entry(event).or_default();
        s.max = s.max.max(ms);
        match s.samples.back_mut() {
            Some((t, m)) if *t == now => *m = (*m).max(ms),
            _ => {
                s.samples.push_back((now, ms));
                if s.samples.len() > HISTORY {
                    s.samples.pop_front();
                }
            }
        }
    }

    /// LATENCY LATEST: (event, time of its latest sample, that sample, the largest).
    pub fn latest(&self) -> Vec<(&'static str, u64, u64, u64)> {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        events
            .iter()
            .filter_map(|(name, s)| s.samples.back().map(|&(t, ms)| (*name, t, ms, s.max)))
            .collect()
    }

    /// LATENCY HISTORY event: its samples, oldest first.
    pub fn history(&self, event: &[u8]) -> Vec<(u64, u64)> {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        events
            .iter()
            .find(|(name, _)| name.as_bytes() == event)
            .map(|(_, s)| s.samples.iter().copied().collect())
            .unwrap_or_default()
    }

    /// LATENCY RESET [event ...]: forgets the events named (all without names); returns how
    /// many it forgot.
    pub fn reset(&self, names: &[Vec<u8>]) -> usize {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        if names.is_empty() {
            let n = events.len();
            events.clear();
            return n;
        }
        let before = events.len();
        events.retain(|name, _| {
            !names
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name.as_bytes()))
        });
        before - events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_their_values() {
        for ns in [1, 1024, 1500, 2047, 2048, 1_000_000, 123_456_789] {
            let b = bucket(ns);
            assert!(upper(b) >= ns.max(MIN_NS), "{ns}");
            assert!(b == 0 || upper(b - 1) < ns, "{ns}");
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_and_cumulative_counts() {
        let h = Histogram::default();
        assert_eq!(h.percentile(50.0), 0);
        for _ in 0..98 {
            h.record(1_500);
        }
        h.record(10_000);
        h.record(1_000_000);
        assert_eq!(h.total(), 100);
        let p50 = h.percentile(50.0);
        assert!((1_500..=1_530).contains(&p50), "{p50}");
        let p99 = h.percentile(99.0);
        assert!((10_000..=10_200).contains(&p99), "{p99}");
        assert!(h.percentile(100.0) >= 1_000_000);
        assert_eq!(h.cumulative_usec(), [(2, 98), (16, 99), (1048, 100)]);
        h.reset();
        assert_eq!(h.total(), 0);
    }

    #[test]
    fn the_monitor_keeps_one_sample_a_second() {
        let m = Monitor::default();
        m.add("command", 100, 5);
        m.add("command", 100, 9);
        m.add("command", 101, 3);
        assert_eq!(m.latest(), [("command", 101, 3, 9)]);
        assert_eq!(m.history(b"command"), [(100, 9), (101, 3)]);
        assert_eq!(m.reset(&[b"nope".to_vec()]), 0);
        assert_eq!(m.reset(&[]), 1);
        assert!(m.latest().is_empty());
    }
}
