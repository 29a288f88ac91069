//! The emulation over real sockets, the same tests on every platform: on Unix
//! over Unix socket pairs (with `poll` on a pipe standing in for `CancelIoEx`), on
//! Windows over TCP loopback with the real `CancelIoEx`. The Windows glue around it
//! (`crate::tokio::windows`) is only type-checked on Linux.

mod cancel;
mod closing;
mod errors;
mod sockets;
mod transfer;

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Weak;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hvsock_testkit::payload;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{Blocking, Config, Conn};

/// A small buffer and small calls, so that every boundary is crossed many times.
const TINY: Config = Config { buffer: 4096, chunk: 1000, linger: Duration::from_secs(30) };

/// How long anything that should happen "soon" may take on a busy machine.
const SOON: Duration = Duration::from_secs(10);

/// `AsyncRead` and `AsyncWrite` over a shared [`Conn`], for tokio's `*Ext` helpers.
struct Async<'a, S: Blocking>(&'a Conn<S>);

impl<S: Blocking> AsyncRead for Async<'_, S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.0.poll_read(cx, buf)
    }
}

impl<S: Blocking> AsyncWrite for Async<'_, S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.0.poll_write(cx, &[IoSlice::new(buf)])
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_shutdown(cx)
    }
}

/// `future`'s output, which must come within [`SOON`]: a hang fails the test.
async fn soon<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(SOON, future).await.expect("no hang")
}

/// Waits until `shared` is gone: every thread has left it and
/// the socket is closed. Panics after [`SOON`].
async fn gone(shared: Weak<dyn std::any::Any + Send + Sync>, what: &str) {
    let start = Instant::now();
    while shared.strong_count() > 0 {
        assert!(start.elapsed() < SOON, "{what}: the threads are still there after {SOON:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
