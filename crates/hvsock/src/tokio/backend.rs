//! What the shared async code needs of a platform backend (the backend is chosen in
//! `sys.rs`): `tokio/unix` (every socket readiness-driven through tokio's `AsyncFd`) or `tokio/windows` (a blocking socket driven by threads of its
//! own, through `tokio/emulated`). The shared code (`stream.rs`, `listener.rs`,
//! `split.rs`, `bridge.rs`) is written once against what each backend provides:
//!
//! `stream::Stream`, with
//! - fields `local: Addr` and `peer: Addr`, visible in `crate::tokio`;
//! - [`StreamBackend`]: the polls behind `AsyncRead` and `AsyncWrite` (of the stream
//!   and of its halves, which share it as `&Stream`) and the wait behind `closed`;
//! - the public inherent methods, the same on every platform and documented by each
//!   backend (what they do differs): `connect_with`, `from_std`, `into_std`,
//!   `shutdown_now`, `readable`, `writable`, `try_read`, `try_write`;
//! - `AsFd` and `AsRawFd` on Unix, `AsSocket` and `AsRawSocket` on Windows.
//!
//! `listener::Listener`, with
//! - the field `local: Addr`, visible in `crate::tokio`;
//! - the public inherent methods `from_std`, `into_std`, `poll_accept`;
//! - `AsRawFd` on Unix, `AsSocket` and `AsRawSocket` on Windows.
//!
//! The public methods stay inherent, not in a trait, so that callers need no import and
//! each platform's documentation says what it does there. Their signatures are checked
//! in `sys.rs` (the `async` ones by the shared code's calls), so a backend that lacks one, or
//! gives it another signature, does not build.

use std::io::{self, IoSlice};
use std::task::{Context, Poll};

use tokio::io::ReadBuf;

/// What the shared code calls on a backend's `Stream` beyond its public methods. All
/// take `&self`: the halves of a split stream share it.
///
/// The names end in `_priv` because `Stream` implements `AsyncRead` and `AsyncWrite`
/// with these very calls: named `poll_read`, the call `self.poll_read(cx, buf)` in
/// `AsyncRead::poll_read` (where `self` is a `Pin<&mut Stream>`) would find
/// `AsyncRead::poll_read` again, and call itself.
pub(super) trait StreamBackend {
    /// Reads into `buf` (the unfilled part): `Ready(Ok(()))` with nothing added is
    /// end-of-file.
    fn poll_read_priv(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>>;

    /// Writes what it can of `buf`, at least one byte unless `buf` is empty.
    fn poll_write_priv(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;

    /// As [`StreamBackend::poll_write_priv`], from several buffers in order.
    fn poll_write_vectored_priv(&self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>])
        -> Poll<io::Result<usize>>;

    /// Completes once everything written is on its way to the peer.
    fn poll_flush_priv(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// A half-close: the peer sees end-of-file after everything written before.
    fn poll_shutdown_priv(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// Completes once a read may find data, end-of-file or an error; reads nothing.
    fn poll_read_ready_priv(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// Completes once a write may take something, or fail; writes nothing.
    fn poll_write_ready_priv(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// Completes once the peer has closed both ways, reading nothing (never, where the
    /// backend cannot tell).
    async fn closed_priv(&self) -> io::Result<()>;
}
