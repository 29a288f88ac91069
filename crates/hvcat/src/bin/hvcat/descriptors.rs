//! A relay's file descriptors: two per connection (the client's and the one onwards),
//! and two more for each end that speaks the framed protocol (its translator's socket
//! pair), so the limit of open files caps how many connections it can hold. Past that cap a
//! relay would accept a client and then find no descriptor to connect it onwards; held
//! at the cap, the next client waits in the listen queue until a connection ends, as
//! with `--max-conns`.

use std::sync::atomic::{AtomicBool, Ordering};

use tracing::{debug, warn};

/// Descriptors left free at the cap, for the passing needs of connections being set up
/// (a connect in progress watches its client on a duplicate descriptor).
#[cfg_attr(not(unix), allow(dead_code))]
const HEADROOM: u64 = 8;

/// Lifts the soft limit on open files to the hard one (`setrlimit(RLIMIT_NOFILE)`), as a
/// server of many connections should.
#[cfg(unix)]
pub fn raise_open_file_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read and write one valid rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                warn!("cannot raise the open-file limit: {}", std::io::Error::last_os_error());
            }
        }
    }
}

#[cfg(not(unix))]
pub fn raise_open_file_limit() {}

/// How many connections fit in the descriptors this process may still open: its limit
/// (`getrlimit(RLIMIT_NOFILE)`) less those open now — the lowest free descriptor
/// (`fcntl(F_DUPFD_CLOEXEC)` of any open one, closed at once), since a new descriptor
/// takes the lowest free number — as [`cap`] says, for connections of `each`
/// descriptors. `None` when unlimited or unknown.
#[cfg(unix)]
pub fn connection_cap(open: &impl std::os::fd::AsRawFd, each: u64) -> Option<usize> {
    use std::os::fd::{FromRawFd, OwnedFd};

    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0
        || limit.rlim_cur == libc::RLIM_INFINITY
    {
        return None;
    }
    // SAFETY: F_DUPFD_CLOEXEC on an open descriptor returns a new one or -1.
    let lowest = unsafe { libc::fcntl(open.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
    if lowest < 0 {
        return Some(cap(limit.rlim_cur, limit.rlim_cur, each));
    }
    // SAFETY: the descriptor was just made, and nothing else owns it.
    drop(unsafe { OwnedFd::from_raw_fd(lowest) });
    Some(cap(limit.rlim_cur, u64::try_from(lowest).unwrap_or(u64::MAX), each))
}

#[cfg(not(unix))]
pub fn connection_cap<T>(_: &T, _: u64) -> Option<usize> {
    None
}

/// Connections of `each` descriptors that fit in `limit` with `open` in use already,
/// [`HEADROOM`] kept free; at least one, and at most what a tokio semaphore can count
/// (a limit short of infinity, say 2^62, would make it panic).
#[cfg_attr(not(unix), allow(dead_code))]
fn cap(limit: u64, open: u64, each: u64) -> usize {
    let free = limit.saturating_sub(open).saturating_sub(HEADROOM);
    usize::try_from(free / each.max(1)).unwrap_or(usize::MAX).clamp(1, tokio::sync::Semaphore::MAX_PERMITS)
}

/// The descriptors a relayed connection holds: the client's and the one onwards, and a
/// framed end's translator's socket pair ([`hvsock::framed::Framed::into_plain`]).
pub fn per_connection((client_framed, upstream_framed): (bool, bool)) -> u64 {
    2 + 2 * u64::from(client_framed) + 2 * u64::from(upstream_framed)
}

/// Says, once per relay (later at `debug`), that it holds as many connections as its
/// descriptors allow and accepts no more until one ends.
pub fn say_full(cap: usize, each: u64, said: &AtomicBool) {
    if !said.swap(true, Ordering::Relaxed) {
        warn!(
            "{cap} connections open, as many as the limit of open files allows (ulimit -n; \
             {each} descriptors each): not accepting more until one ends"
        );
    } else {
        debug!("{cap} connections open: waiting for a descriptor");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_fit_above_the_descriptors_open_and_the_headroom() {
        assert_eq!(cap(1024, 10, 2), (1024 - 10 - 8) / 2);
        assert_eq!(cap(20_000, 10, 2), 9_991);
        assert_eq!(cap(24, 8, 2), 4);
        assert_eq!(cap(25, 8, 2), 4);
        assert_eq!(cap(1024, 10, 6), (1024 - 10 - 8) / 6);
    }

    #[test]
    fn at_least_one_connection_however_few_descriptors() {
        assert_eq!(cap(16, 12, 2), 1);
        assert_eq!(cap(8, 8, 2), 1);
        assert_eq!(cap(0, 100, 2), 1);
        assert_eq!(cap(100, 0, 0), 92);
    }

    #[test]
    fn a_huge_limit_is_a_cap_a_semaphore_can_hold() {
        let most = tokio::sync::Semaphore::MAX_PERMITS;
        assert_eq!(cap(1 << 62, 10, 2), most.min((1 << 61) - 9));
        assert_eq!(cap(u64::MAX - 1, 0, 2), most);
        let semaphore = tokio::sync::Semaphore::new(cap(u64::MAX - 1, 0, 2));
        assert_eq!(semaphore.available_permits(), most);
    }

    #[test]
    fn a_framed_end_holds_two_descriptors_more() {
        assert_eq!(per_connection((false, false)), 2);
        assert_eq!(per_connection((true, false)), 4);
        assert_eq!(per_connection((false, true)), 4);
        assert_eq!(per_connection((true, true)), 6);
    }
}
