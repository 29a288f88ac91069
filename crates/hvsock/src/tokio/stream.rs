//! What [`Stream`] does the same way on every platform: connecting, addresses,
//! splitting, and `AsyncRead` / `AsyncWrite` over the platform's polling.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::backend::StreamBackend;
use super::split::{self, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use super::Stream;
use crate::{Addr, ConnectOptions};

impl Stream {
    /// Connects to `addr` with default options: no retry, and no waiting past
    /// [`ConnectOptions::DEFAULT_TIMEOUT`] (5 s; vsock and Hyper-V sockets give up after
    /// 2 s of their own).
    pub async fn connect(addr: &Addr) -> io::Result<Stream> {
        Self::connect_with(addr, &ConnectOptions::new()).await
    }

    /// Connects to `addr`, giving up with `ErrorKind::TimedOut` after `timeout` (name
    /// resolution and handshake included) instead of the default limit.
    pub async fn connect_timeout(addr: &Addr, timeout: Duration) -> io::Result<Stream> {
        Self::connect_with(addr, &ConnectOptions::new().timeout(timeout)).await
    }

    /// The address this end is bound to.
    pub fn local_addr(&self) -> &Addr {
        &self.local
    }

    /// The address of the other end.
    pub fn peer_addr(&self) -> &Addr {
        &self.peer
    }

    /// `TCP_NODELAY` on a TCP connection; see [`crate::Stream::set_nodelay`]. The
    /// adapters (the hyper [`Connector`](super::Connector), tonic's and axum's
    /// listeners) set it on every TCP connection they make or accept.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        crate::transport::tcp::set_nodelay(&socket2::SockRef::from(self), &self.peer, nodelay)
    }

    /// The process at the other end of a Unix-socket connection; see
    /// [`crate::Stream::peer_credentials`].
    pub fn peer_credentials(&self) -> io::Result<crate::PeerCredentials> {
        crate::peer::credentials(self)
    }

    /// Completes once the peer has closed the connection both ways — not after a mere
    /// half-close — without reading anything: for giving up on work done on behalf of a
    /// client that has left (a relay's upstream connect, say). Unix sockets (unix,
    /// hybrid, hyperkit) and vsock tell; a TCP peer's close looks like a half-close
    /// until a write fails. After a half-close, and on Windows, this never completes.
    pub async fn closed(&self) -> io::Result<()> {
        self.closed_priv().await
    }

    /// Borrowed read and write halves, usable at the same time.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        split::split(self)
    }

    /// Owned read and write halves, movable to different tasks. Dropping the write half
    /// shuts the connection down for writing.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        split::into_split(self)
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.poll_read_priv(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_priv(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored_priv(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush_priv(cx)
    }

    /// A half-close: the peer sees end-of-file once everything written before has
    /// arrived, and can still answer.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_shutdown_priv(cx)
    }
}
