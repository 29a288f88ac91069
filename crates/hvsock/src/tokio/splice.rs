//! The bridge's zero-copy pump on Linux: `splice(2)` from one socket into a pipe, then
//! from the pipe into the other socket, so the bytes never come up to user space.
//!
//! A direction holds a pipe only while data flows. It takes one when its source becomes
//! readable (an empty pipe from a small pool shared by the process, or a new one from
//! `pipe2(2)`), and gives it back once the pipe is empty and the source would block. If
//! the destination blocks with bytes in the pipe, the pipe stays with the direction
//! until they are out. So ten thousand idle connections hold no pipe, and no
//! descriptors beyond their sockets; a pipe that cannot be made (`EMFILE`, `ENFILE`)
//! makes that burst go through a buffer instead ([`super::bridge`] decides).
//!
//! Near its limit of open files a process leaves the last descriptors to sockets: no
//! pipe is made while a burst's sockets, or a new pipe, are numbered within 1/16 of the
//! limit, nor for 250 ms after; and pipes are kept only while the process is under
//! half its limit. Descriptors are numbered lowest free first, so the newest tell how
//! many are open.
//!
//! Only Unix and TCP sockets take part (`AF_VSOCK` has no zero-copy path into a pipe), and
//! only while `SIGPIPE` is ignored, as Rust programs do from the start: a `splice(2)` into
//! a socket whose peer has gone raises it, having no `MSG_NOSIGNAL`, and at its default
//! action it would kill the process.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use socket2::{Domain, SockRef};
use tokio::io::Interest;

use super::bridge::{poll_written, Burst};
use super::Stream;
use crate::idle::Activity;

/// The capacity each pipe asks for (`F_SETPIPE_SZ`): how much one `splice(2)` moves at
/// most, and how many bytes a direction whose destination does not read can hold in
/// the kernel. Against the default 64 KiB, relayed throughput rose by 10-30%; 1 MiB
/// was no better than 256 KiB within the noise (docs/performance.md, "Relay").
const PIPE_SIZE: usize = 256 * 1024;

/// Empty pipes kept for the next burst (two descriptors each), so that a connection
/// trading small messages does not make and close a pipe for each one.
const POOL_MAX: usize = 8;

static POOL: Mutex<Vec<Pipe>> = Mutex::new(Vec::new());

/// How long after descriptors were last found short no pipe is made or kept: through
/// a rush of new connections at the limit (each of which says so again), and not much
/// longer, since the bursts meanwhile are copied.
const SHORT_HOLD: Duration = Duration::from_millis(250);

/// When descriptors were last found short: milliseconds from [`epoch`], plus one; 0 if
/// never.
static SHORT_AT: AtomicU64 = AtomicU64::new(0);

/// A pipe a direction moves bytes through, and how many are in it.
#[derive(Debug)]
pub(super) struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    /// What one `splice(2)` into it may move: its capacity.
    size: usize,
    /// Bytes spliced in and not yet out.
    held: usize,
}

impl Pipe {
    /// An empty pipe from the pool, or a new one, for a burst from `from` to `to`;
    /// `None` if none can be made, or the process is near its limit of open files (the
    /// caller copies this burst instead). The sockets' own descriptors tell that too: a
    /// connection numbered within [`reserve`] of the limit came when there were that
    /// many open.
    pub(super) fn take((from, to): (&Stream, &Stream)) -> Option<Pipe> {
        let limit = open_file_limit();
        let newest = highest(&[from.as_raw_fd(), to.as_raw_fd()]);
        let pipe = if newest.saturating_add(reserve(limit)) >= limit {
            short_now();
            Err(io::Error::other(format!("a socket numbered {newest} of {limit}")))
        } else if short_lately() {
            Err(io::Error::other("descriptors were short a moment ago"))
        } else {
            // Not `if let Some(pipe) = pool().pop()`: its guard would live on through
            // `Pipe::new`, whose `crowded` locks the pool again.
            let kept = pool().pop();
            kept.map_or_else(|| Pipe::new(limit), Ok)
        };
        match pipe {
            Ok(pipe) => Some(pipe),
            Err(e) => {
                tracing::debug!("no pipe for splice(2), copying this burst instead: {e}");
                #[cfg(test)]
                tests::fell_back();
                None
            }
        }
    }

    /// Back to the pool if it is empty, the pool has room, and descriptors are far from
    /// short: not found short lately, and the burst's sockets and the pipe numbered
    /// below half the limit of open files. Otherwise closed.
    pub(super) fn give_back(self, (from, to): (&Stream, &Stream)) {
        if self.held != 0 || short_lately() {
            return;
        }
        let fds = [from.as_raw_fd(), to.as_raw_fd(), self.read.as_raw_fd(), self.write.as_raw_fd()];
        if highest(&fds) < open_file_limit() / 2 {
            let mut pool = pool();
            if pool.len() < POOL_MAX {
                pool.push(self);
            }
        }
    }

    /// `pipe2(2)` with `O_NONBLOCK | O_CLOEXEC`, then `fcntl(F_SETPIPE_SZ)` to
    /// [`PIPE_SIZE`] (kept at the kernel's default where the limits refuse it).
    ///
    /// A pipe is refused (and closed at once) when its descriptors come within
    /// [`reserve`] of the limit of open files (`getrlimit(RLIMIT_NOFILE)`): a relay at
    /// its limit needs those for the sockets of new connections more than a burst needs
    /// zero-copy. Descriptors are numbered lowest free first, so the number of a new one
    /// tells how many are open (give or take the holes closed ones leave). Then, and when
    /// `pipe2` fails, descriptors are short ([`short_now`]).
    fn new(limit: u64) -> io::Result<Pipe> {
        let mut fds = [-1; 2];
        // SAFETY: `pipe2` writes two descriptors into the two-element array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            let e = io::Error::last_os_error();
            short_now();
            return Err(e);
        }
        // SAFETY: both descriptors were just made, and nothing else owns them.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let highest = highest(&fds);
        if highest.saturating_add(reserve(limit)) >= limit {
            short_now();
            return Err(io::Error::other(format!(
                "{} of {limit} descriptors open: the last {} are left to sockets",
                highest + 1,
                reserve(limit)
            )));
        }
        let want = libc::c_int::try_from(PIPE_SIZE).unwrap_or(libc::c_int::MAX);
        // SAFETY: `fcntl` on an open pipe; F_SETPIPE_SZ and F_GETPIPE_SZ take an int or nothing.
        let size = unsafe {
            match libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, want) {
                n if n > 0 => n,
                _ => libc::fcntl(write.as_raw_fd(), libc::F_GETPIPE_SZ),
            }
        };
        let size = usize::try_from(size).ok().filter(|&n| n > 0).unwrap_or(64 * 1024);
        Ok(Pipe { read, write, size, held: 0 })
    }
}

fn pool() -> std::sync::MutexGuard<'static, Vec<Pipe>> {
    POOL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Records that descriptors are short now, and closes the pipes kept.
fn short_now() {
    SHORT_AT.store(millis(), Ordering::Relaxed);
    pool().clear();
}

/// Whether descriptors were found short within [`SHORT_HOLD`].
fn short_lately() -> bool {
    let at = SHORT_AT.load(Ordering::Relaxed);
    at != 0 && millis() < at.saturating_add(SHORT_HOLD.as_millis() as u64)
}

/// Milliseconds since the first call, plus one.
fn millis() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    u64::try_from(EPOCH.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
}

/// The highest of `fds`, as a count.
fn highest(fds: &[RawFd]) -> u64 {
    fds.iter().map(|&fd| u64::try_from(fd).unwrap_or(u64::MAX)).max().unwrap_or(0)
}

/// Descriptors below the limit of open files that pipes leave to sockets: 1/16 of it,
/// at least 16.
fn reserve(limit: u64) -> u64 {
    (limit / 16).max(16)
}

/// The soft limit of open files (`getrlimit(RLIMIT_NOFILE)`); unlimited if unknown.
fn open_file_limit() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0
        || limit.rlim_cur == libc::RLIM_INFINITY
    {
        return u64::MAX;
    }
    limit.rlim_cur
}

/// Whether bytes from `from` to `to` may be spliced: both are Unix or TCP sockets
/// (`getsockopt(SO_DOMAIN)`), and `SIGPIPE` is ignored (`sigaction(2)`, reading only).
pub(super) fn qualifies(from: &Stream, to: &Stream) -> bool {
    let zero_copy = |s: &Stream| {
        SockRef::from(s).domain().is_ok_and(|d| d == Domain::UNIX || d == Domain::IPV4 || d == Domain::IPV6)
    };
    zero_copy(from) && zero_copy(to) && sigpipe_ignored()
}

/// `sigaction(2)` without a new action: whether `SIGPIPE` is ignored.
fn sigpipe_ignored() -> bool {
    // SAFETY: an all-zero `sigaction` is a valid value for the call to overwrite.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into `current`.
    let read = unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut current) };
    read == 0 && current.sa_sigaction == libc::SIG_IGN
}

/// Moves bytes from `from` through `pipe` into `to` until `from` would block with the
/// pipe empty ([`Burst::Drained`]) or reaches end-of-file ([`Burst::Eof`]). Bytes that
/// reached `to` are added to `total`; every move is recorded in `last`.
pub(super) fn poll_burst(
    pipe: &mut Pipe,
    cx: &mut Context<'_>,
    (from, to): (&Stream, &Stream),
    last: &Activity,
    total: &mut u64,
) -> Poll<io::Result<Burst>> {
    loop {
        let coop = ready!(tokio::task::coop::poll_proceed(cx));
        if pipe.held > 0 {
            let wrote = to.try_io_fd(Interest::WRITABLE, |fd| splice(pipe.read.as_raw_fd(), fd, pipe.held));
            let n = ready!(poll_written(cx, to, wrote, (last, total)))?;
            if n > 0 {
                #[cfg(test)]
                tests::spliced(n);
                pipe.held -= n;
                coop.made_progress();
            }
            continue;
        }
        // Only into an empty pipe: `EAGAIN` then means the socket has nothing, never that
        // the pipe is full.
        match from.try_io_fd(Interest::READABLE, |fd| splice(fd, pipe.write.as_raw_fd(), pipe.size)) {
            Ok(0) => return Poll::Ready(Ok(Burst::Eof)),
            Ok(n) => {
                pipe.held = n;
                last.moved();
                coop.made_progress();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Ready(Ok(Burst::Drained)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
}

/// `splice(2)` of at most `len` bytes from `from` to `to` (one is a pipe), without
/// blocking on the pipe (`SPLICE_F_NONBLOCK`; the sockets are non-blocking already).
fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    let flags = libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK;
    // SAFETY: both descriptors are open for the call; the offsets are null, as they must
    // be for a pipe and a socket.
    let n = unsafe { libc::splice(from, std::ptr::null_mut(), to, std::ptr::null_mut(), len, flags) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

#[cfg(test)]
pub(super) mod tests;
