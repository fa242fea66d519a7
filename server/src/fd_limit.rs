//! Fitting `maxclients` to the process's open-files limit (Redis's `adjustOpenFilesLimit`):
//! every client is a descriptor, and the engine needs descriptors of its own (the WAL, the
//! manifest, tables being written, directory fsyncs). If clients could take them all, a flush
//! would fail with `EMFILE` and poison the database; so the server raises the soft
//! `RLIMIT_NOFILE` to fit `maxclients` plus a reserve, and when it cannot, lowers
//! `maxclients` instead and says so.

/// Descriptors kept out of the clients' reach: the engine's files, the listener, the log, the
/// runtime (Redis keeps 32; the engine's background work needs a few more).
pub const RESERVED_FDS: u64 = 64;

/// What [`fit`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fit {
    /// The `maxclients` the limit allows (the one asked for, or lower).
    pub maxclients: u64,
    /// The soft limit in force afterwards.
    pub limit: u64,
}

/// The soft limit to ask for so that `maxclients` fit, given the current `soft` and `hard`
/// limits, and the `maxclients` that fits if the soft limit stays at `granted`.
pub fn plan(maxclients: u64, soft: u64, hard: u64) -> (u64, impl Fn(u64) -> Fit) {
    let wanted = maxclients.saturating_add(RESERVED_FDS);
    let ask = wanted.min(hard).max(soft);
    (ask, move |granted: u64| Fit {
        maxclients: maxclients.min(granted.saturating_sub(RESERVED_FDS)).max(1),
        limit: granted,
    })
}

/// Raises the soft open-files limit as far as `maxclients` needs (up to the hard limit) and
/// returns what fits. Where the limit cannot be read, `maxclients` is taken as is.
pub fn fit(maxclients: u64) -> Fit {
    match limits() {
        Some((soft, hard)) => {
            let (ask, then) = plan(maxclients, soft, hard);
            let granted = if ask > soft && set_soft_limit(ask, hard) {
                ask
            } else {
                soft
            };
            then(granted)
        }
        None => Fit {
            maxclients,
            limit: u64::MAX,
        },
    }
}

/// The current (soft, hard) `RLIMIT_NOFILE`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limits() -> Option<(u64, u64)> {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes the limits into the struct we own and pass by pointer.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) };
    (rc == 0).then_some((l.rlim_cur, l.rlim_max))
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_soft_limit(soft: u64, hard: u64) -> bool {
    let l = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `setrlimit` reads the struct we pass by pointer; it changes only this
    // process's limit.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &l) == 0 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limits() -> Option<(u64, u64)> {
    None
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_soft_limit(_soft: u64, _hard: u64) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_is_raised_to_fit_up_to_the_hard_limit() {
        let (ask, then) = plan(10_000, 1024, 1_048_576);
        assert_eq!(ask, 10_064);
        assert_eq!(then(ask).maxclients, 10_000);
        // The raise was refused: maxclients shrinks to what the soft limit leaves.
        assert_eq!(then(1024).maxclients, 960);
    }

    #[test]
    fn a_low_hard_limit_lowers_maxclients() {
        let (ask, then) = plan(10_000, 256, 256);
        assert_eq!(ask, 256);
        assert_eq!(then(ask).maxclients, 192);
        // A soft limit already above what is needed is left alone.
        let (ask, then) = plan(100, 4096, 4096);
        assert_eq!(ask, 4096);
        assert_eq!(then(ask).maxclients, 100);
        // Even a tiny limit leaves one client.
        let (_, then) = plan(100, 16, 16);
        assert_eq!(then(16).maxclients, 1);
    }
}
