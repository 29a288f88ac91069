//! Connecting with an optional deadline (Unix).

use std::io;
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

use socket2::{SockAddr, Socket};

use crate::error::error;

/// `connect(2)`s `socket` to `addr`, giving up with `ErrorKind::TimedOut` at `deadline`.
///
/// Without a deadline this is a blocking `connect(2)`; an `EINTR` there is finished with
/// `poll(2)` rather than a second `connect(2)` (which would fail with `EALREADY`). With a
/// deadline the socket is made non-blocking for the `connect(2)`, waited on with
/// `poll(2)`, checked with `SO_ERROR`, and made blocking again.
pub(crate) fn connect(socket: &Socket, addr: &SockAddr, deadline: Option<Instant>) -> io::Result<()> {
    if deadline.is_some() {
        socket.set_nonblocking(true)?;
    }
    let mut backoff = Backoff::new();
    let result = loop {
        match socket.connect(addr) {
            Ok(()) => break Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::EINPROGRESS) || e.kind() == io::ErrorKind::Interrupted =>
            {
                break wait_writable(socket, deadline).and_then(|()| match socket.take_error()? {
                    Some(err) => Err(err),
                    None => Ok(()),
                });
            }
            // A Unix socket whose listener's backlog is full: try again, less and less often.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let wait = backoff.next();
                match remaining(deadline) {
                    Ok(left) => thread::sleep(left.map_or(wait, |left| left.min(wait))),
                    Err(e) => break Err(e),
                }
            }
            Err(e) => break Err(e),
        }
    };
    if deadline.is_some() {
        socket.set_nonblocking(false)?;
    }
    result
}

/// The waits between `connect(2)`s to a Unix socket whose listener's backlog is full
/// (`EAGAIN`: no `EINPROGRESS` to wait on): 1 ms, doubling, at most 64 ms.
#[derive(Debug)]
pub(crate) struct Backoff(Duration);

impl Backoff {
    const FIRST: Duration = Duration::from_millis(1);
    const LONGEST: Duration = Duration::from_millis(64);

    pub(crate) fn new() -> Self {
        Backoff(Self::FIRST)
    }

    /// The next wait.
    pub(crate) fn next(&mut self) -> Duration {
        let wait = self.0;
        self.0 = (wait * 2).min(Self::LONGEST);
        wait
    }
}

/// The time left until `deadline` (`None`: no limit), or `TimedOut` once it has passed.
/// Never less than a millisecond, so that it can be handed to `SO_RCVTIMEO`, where a
/// zero (as a sub-microsecond remainder would round to) means "wait forever".
pub(crate) fn remaining(deadline: Option<Instant>) -> io::Result<Option<Duration>> {
    match deadline.map(|d| d.saturating_duration_since(Instant::now())) {
        Some(left) if left.is_zero() => Err(error(io::ErrorKind::TimedOut, "timed out")),
        left => Ok(left.map(|left| left.max(Duration::from_millis(1)))),
    }
}

/// `poll(2)`s for `POLLOUT` until `deadline`.
fn wait_writable(socket: &Socket, deadline: Option<Instant>) -> io::Result<()> {
    loop {
        let timeout_ms = match remaining(deadline)? {
            None => -1,
            Some(left) => i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX),
        };
        let mut fds = libc::pollfd { fd: socket.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
        // SAFETY: `fds` is one valid, initialised pollfd and we pass a count of 1.
        match unsafe { libc::poll(&mut fds, 1, timeout_ms) } {
            -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => continue,
            -1 => return Err(io::Error::last_os_error()),
            0 => continue, // re-checks the deadline
            _ => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_backlog_is_tried_again_less_and_less_often() {
        let mut backoff = Backoff::new();
        let waits: Vec<u64> = (0..9).map(|_| backoff.next().as_millis() as u64).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 64, 64]);
    }

    #[test]
    fn remaining_time_is_never_a_zero_timeout() {
        assert!(remaining(None).unwrap().is_none());
        let soon = Instant::now() + Duration::from_nanos(300);
        match remaining(Some(soon)) {
            Ok(Some(left)) => assert!(left >= Duration::from_millis(1)),
            Ok(None) => panic!("a deadline gives a limit"),
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::TimedOut),
        }
        let past = Instant::now() - Duration::from_millis(1);
        assert_eq!(remaining(Some(past)).unwrap_err().kind(), io::ErrorKind::TimedOut);
    }
}
