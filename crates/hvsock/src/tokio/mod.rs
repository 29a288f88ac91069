//! The async API for tokio (feature `tokio`): [`Stream`] and [`Listener`] mirror the
//! blocking types, for every transport.
//!
//! On Unix every transport is readiness-driven through [`tokio::io::unix::AsyncFd`]:
//! no thread per connection, and the hybrid handshake runs on the reactor with its
//! deadline. Dropping a pending `connect`, `accept` or read leaves nothing behind.
//!
//! ```no_run
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let addr: hvsock::Addr = "hybrid://:52/run/vm/v.sock".parse().unwrap();
//! let mut stream = hvsock::tokio::Stream::connect(&addr).await?;
//! stream.write_all(b"status\n").await?;
//! stream.shutdown().await?; // half-close: the guest sees end-of-file
//! let mut reply = String::new();
//! stream.read_to_string(&mut reply).await?;
//! # Ok(())
//! # }
//! ```

mod bridge;
mod connect;
mod listener;
mod split;
mod stream;

pub use bridge::{bridge, Crossed};
pub use listener::Listener;
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
pub use stream::Stream;

/// Registers `socket` with the current tokio reactor.
///
/// # Panics
///
/// Outside a tokio runtime, as tokio's own types do.
fn register(socket: socket2::Socket) -> std::io::Result<tokio::io::unix::AsyncFd<socket2::Socket>> {
    // SAFETY: the `Socket` owns its file descriptor, keeps it open until it is dropped
    // (with the `AsyncFd`, or after `into_inner`), and `as_raw_fd` always returns it.
    unsafe { tokio::io::unix::AsyncFd::register(socket) }.map_err(std::io::Error::from)
}
