//! What the process costs the machine: bytes written to storage, anonymous memory, disk space.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A `name: value` field of a `/proc/self/*` file, as a number.
fn proc_field(file: &str, name: &str) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Bytes this process has caused to be written to storage (`/proc/self/io` `write_bytes`).
pub fn write_bytes() -> Option<u64> {
    proc_field("/proc/self/io", "write_bytes")
}

/// Anonymous resident memory of this process in bytes (`RssAnon`: heap and stacks, not the
/// page cache or mapped table files).
pub fn rss_anon() -> Option<u64> {
    proc_field("/proc/self/status", "RssAnon").map(|kb| kb * 1024)
}

/// Samples [`rss_anon`] every 20 ms on a thread and keeps the peak, until dropped.
#[derive(Debug)]
pub struct PeakRss {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PeakRss {
    /// Starts sampling.
    pub fn start() -> PeakRss {
        let peak = Arc::new(AtomicU64::new(rss_anon().unwrap_or(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (Arc::clone(&peak), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name("rss-sampler".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    if let Some(now) = rss_anon() {
                        p.fetch_max(now, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
            .ok();
        PeakRss { peak, stop, thread }
    }

    /// The highest anonymous RSS seen so far.
    pub fn peak(&self) -> u64 {
        if let Some(now) = rss_anon() {
            self.peak.fetch_max(now, Ordering::Relaxed);
        }
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for PeakRss {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Writes dirty pages out and drops the OS page cache, so later reads come from the disk
/// (`sync; echo 3 > /proc/sys/vm/drop_caches`).
///
/// # Errors
/// Not root, or not Linux.
pub fn drop_page_cache() -> Result<(), String> {
    let synced = std::process::Command::new("sync")
        .status()
        .map_err(|e| format!("sync: {e}"))?;
    if !synced.success() {
        return Err(format!("sync exited with {synced}"));
    }
    std::fs::write("/proc/sys/vm/drop_caches", "3\n")
        .map_err(|e| format!("dropping the page cache needs root: /proc/sys/vm/drop_caches: {e}"))
}

/// Total size of the files under `dir`.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn proc_fields_and_sizes_are_read() {
        assert!(rss_anon().unwrap() > 0);
        let before = write_bytes();
        assert!(before.is_some(), "/proc/self/io is readable on Linux");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), [0u8; 1000]).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b"), [0u8; 24]).unwrap();
        assert_eq!(dir_size(dir.path()), 1024);
        let p = PeakRss::start();
        let big = vec![1u8; 32 << 20];
        assert!(p.peak() >= 32 << 20, "{}", p.peak());
        drop(big);
    }
}
