//! An async connected hypervisor socket.

use std::io::{self, IoSlice, Read};
use std::net::Shutdown;
use std::task::{ready, Context, Poll};

use socket2::Socket;
use tokio::io::unix::AsyncFd;
use tokio::io::{Interest, ReadBuf};

use crate::tokio::backend::StreamBackend;
use crate::{transport, Addr, ConnectOptions};

/// A connected hypervisor socket for tokio; see [`crate::Stream`] for the transports.
///
/// `AsyncWriteExt::shutdown` is a real half-close (`shutdown(SHUT_WR)`): the peer sees
/// end-of-file and can still answer.
#[derive(Debug)]
pub struct Stream {
    io: AsyncFd<Socket>,
    pub(in crate::tokio) local: Addr,
    pub(in crate::tokio) peer: Addr,
}

impl Stream {
    /// Connects to `addr` as [`crate::Stream::connect_with`] does, without blocking a
    /// thread: timeout, hybrid handshake timeout and retries included.
    pub async fn connect_with(addr: &Addr, options: &ConnectOptions) -> io::Result<Stream> {
        let (io, local) = super::connect::connect(addr, options).await?;
        Ok(Stream { io, local, peer: addr.clone() })
    }

    /// Wraps a blocking stream, making it non-blocking. Must be called within a tokio
    /// runtime.
    pub fn from_std(stream: crate::Stream) -> io::Result<Stream> {
        let (socket, local, peer) = stream.into_parts();
        Self::from_parts(socket, local, peer)
    }

    pub(crate) fn from_parts(socket: Socket, local: Addr, peer: Addr) -> io::Result<Stream> {
        socket.set_nonblocking(true)?;
        Ok(Stream { io: super::register(socket)?, local, peer })
    }

    /// The blocking stream again.
    pub fn into_std(self) -> io::Result<crate::Stream> {
        let socket = self.io.into_inner();
        socket.set_nonblocking(false)?;
        Ok(crate::Stream::from_accepted(socket, self.local, self.peer))
    }

    /// `shutdown(2)` right away (it never blocks).
    pub fn shutdown_now(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Waits until the socket may be readable (data, end-of-file or an error).
    pub async fn readable(&self) -> io::Result<()> {
        self.io.readable().await.map(|mut guard| guard.retain_ready())
    }

    /// Waits until the socket may be writable.
    pub async fn writable(&self) -> io::Result<()> {
        self.io.writable().await.map(|mut guard| guard.retain_ready())
    }

    /// `recv(2)` without waiting: `WouldBlock` if nothing is there yet (and the
    /// readiness is cleared, so that [`Stream::readable`] waits again).
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.try_io(Interest::READABLE, |socket| (&mut &*socket).read(buf))
    }

    /// `send(2)` (`MSG_NOSIGNAL`: a closed peer gives `EPIPE`, never `SIGPIPE`) without
    /// waiting: `WouldBlock` if the socket buffer is full.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.try_io(Interest::WRITABLE, |socket| transport::send(socket, buf))
    }

    /// Runs `f` (one system call on the socket's descriptor for `interest`) unless the
    /// reactor knows the socket is not ready for it; a `WouldBlock` from `f` clears that
    /// readiness, so that the next poll for it waits.
    #[cfg(target_os = "linux")]
    pub(in crate::tokio) fn try_io_fd<R>(
        &self,
        interest: Interest,
        f: impl FnOnce(std::os::fd::RawFd) -> io::Result<R>,
    ) -> io::Result<R> {
        use std::os::fd::AsRawFd;
        self.io.try_io(interest, |socket| f(socket.as_raw_fd()))
    }

    fn poll_send(
        &self,
        cx: &mut Context<'_>,
        mut send: impl FnMut(&Socket) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.io.poll_write_ready(cx))?;
            match guard.try_io(|io| send(io.get_ref())) {
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    /// Whether an empty `send(2)` fails as to a peer that has gone (a half-closed peer
    /// still takes data).
    fn send_fails(&self) -> bool {
        matches!(
            self.io.get_ref().send_with_flags(&[], libc::MSG_DONTWAIT | crate::transport::SEND_FLAGS),
            Err(e) if matches!(e.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset)
        )
    }
}

impl StreamBackend for Stream {
    /// `recv(2)` into `buf` once the socket is readable.
    fn poll_read_priv(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.io.poll_read_ready(cx))?;
            // SAFETY: `recv` only writes initialised bytes into the slice and returns how
            // many; those are marked initialised below and nothing else is.
            let unfilled = unsafe { buf.unfilled_mut() };
            match guard.try_io(|io| io.get_ref().recv(unfilled)) {
                Ok(Ok(n)) => {
                    // SAFETY: `recv` initialised the first `n` bytes of the unfilled part.
                    unsafe { buf.assume_init(n) };
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }

    /// `send(2)` (`MSG_NOSIGNAL`) once the socket is writable.
    fn poll_write_priv(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_send(cx, |socket| transport::send(socket, buf))
    }

    /// `sendmsg(2)` (`MSG_NOSIGNAL`) with several buffers once the socket is writable.
    fn poll_write_vectored_priv(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_send(cx, |socket| transport::send_vectored(socket, bufs))
    }

    /// Nothing to flush: writes go straight to the socket.
    fn poll_flush_priv(&self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// `shutdown(SHUT_WR)`: a half-close.
    fn poll_shutdown_priv(&self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown_now(Shutdown::Write))
    }

    /// `epoll(7)` readiness for reading, from the reactor; kept until a read says
    /// `EAGAIN`.
    fn poll_read_ready_priv(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_read_ready(cx).map_ok(|mut guard| guard.retain_ready())
    }

    /// `epoll(7)` readiness for writing, from the reactor; kept until a write says
    /// `EAGAIN`.
    fn poll_write_ready_priv(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_write_ready(cx).map_ok(|mut guard| guard.retain_ready())
    }

    /// Waits, reading nothing, until the peer has closed both ways: `POLLHUP` on Unix
    /// sockets; on vsock, which raises `POLLHUP` only once this end has shut down too,
    /// end-of-file together with `EPIPE` from an empty `send(2)`. After a half-close it
    /// waits forever (a later close is not seen without reading).
    async fn closed_priv(&self) -> io::Result<()> {
        // A registration of its own (on a `dup(2)`): clearing its readiness must not
        // take a wake-up from the reads that come later.
        let watch = super::register(self.io.get_ref().try_clone()?)?;
        loop {
            let mut guard = watch.ready(Interest::READABLE).await?;
            let ready = guard.ready();
            if ready.is_write_closed() || ready.is_error() || (ready.is_read_closed() && self.send_fails()) {
                return Ok(());
            }
            if ready.is_read_closed() {
                // A half-close, which tokio never clears: nothing more to watch for
                // without reading, and the peer still waits for an answer.
                return std::future::pending().await;
            }
            guard.clear_ready_matching(ready); // new data or a close wakes us again
        }
    }
}

#[cfg_attr(docsrs, doc(cfg(unix)))]
impl std::os::fd::AsRawFd for Stream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.io.as_raw_fd()
    }
}

#[cfg_attr(docsrs, doc(cfg(unix)))]
impl std::os::fd::AsFd for Stream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}
