//! The Unix side: every socket registered with the reactor through [`AsyncFd`].

use tokio::io::unix::AsyncFd;

pub(super) mod connect;
pub(super) mod listener;
pub(super) mod seqpacket;
pub(super) mod stream;

/// Registers `socket` with the current tokio reactor.
///
/// # Panics
///
/// Outside a tokio runtime, as tokio's own types do.
fn register(socket: socket2::Socket) -> std::io::Result<AsyncFd<socket2::Socket>> {
    // SAFETY: the `Socket` owns its file descriptor, keeps it open until it is dropped
    // (with the `AsyncFd`, or after `into_inner`), and `as_raw_fd` always returns it.
    unsafe { AsyncFd::register(socket) }.map_err(std::io::Error::from)
}
