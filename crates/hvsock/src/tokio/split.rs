//! Halves of a [`Stream`], to read and write from different places at once.

use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::backend::StreamBackend;
use super::Stream;

/// The read half of a borrowed [`Stream`].
#[derive(Debug)]
pub struct ReadHalf<'a>(&'a Stream);

/// The write half of a borrowed [`Stream`]; `shutdown` half-closes (after what was
/// written before has been sent).
#[derive(Debug)]
pub struct WriteHalf<'a>(&'a Stream);

/// The read half of a [`Stream`], movable to another task.
#[derive(Debug)]
pub struct OwnedReadHalf(Arc<Stream>);

/// The write half of a [`Stream`], movable to another task. Dropping it shuts the
/// connection down for writing, as tokio's own `OwnedWriteHalf` does (on Windows,
/// once what was written before has been sent: see [`Stream::shutdown_now`]).
#[derive(Debug)]
pub struct OwnedWriteHalf(Arc<Stream>);

pub(super) fn split(stream: &mut Stream) -> (ReadHalf<'_>, WriteHalf<'_>) {
    (ReadHalf(stream), WriteHalf(stream))
}

pub(super) fn into_split(stream: Stream) -> (OwnedReadHalf, OwnedWriteHalf) {
    let shared = Arc::new(stream);
    (OwnedReadHalf(Arc::clone(&shared)), OwnedWriteHalf(shared))
}

impl OwnedReadHalf {
    /// Puts the stream back together, if `write` is its other half.
    pub fn reunite(self, write: OwnedWriteHalf) -> Result<Stream, (OwnedReadHalf, OwnedWriteHalf)> {
        if !Arc::ptr_eq(&self.0, &write.0) {
            return Err((self, write));
        }
        let shared = Arc::clone(&self.0);
        drop(self);
        std::mem::forget(write); // its Drop would shut the stream down
        Arc::try_unwrap(shared).map_err(|_| unreachable!("both halves are gone"))
    }

    /// The whole stream, for its addresses.
    pub fn stream(&self) -> &Stream {
        &self.0
    }
}

impl OwnedWriteHalf {
    /// The whole stream, for its addresses.
    pub fn stream(&self) -> &Stream {
        &self.0
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        let _ = self.0.shutdown_now(Shutdown::Write);
    }
}

macro_rules! read_half {
    ($half:ty) => {
        impl AsyncRead for $half {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                self.0.poll_read_priv(cx, buf)
            }
        }
    };
}

macro_rules! write_half {
    ($half:ty) => {
        impl AsyncWrite for $half {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                self.0.poll_write_priv(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.0.poll_write_vectored_priv(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.0.poll_flush_priv(cx)
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.0.poll_shutdown_priv(cx)
            }
        }
    };
}

read_half!(ReadHalf<'_>);
read_half!(OwnedReadHalf);
write_half!(WriteHalf<'_>);
write_half!(OwnedWriteHalf);
