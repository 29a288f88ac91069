//! Message mode for tokio: [`Seqpacket`] and [`SeqpacketListener`], registered with the
//! reactor through `AsyncFd` as streams are.

use std::io;
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};

use socket2::Socket;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::error::context_uri;
use crate::seqpacket::uri;
use crate::seqpacket::{recv_into_vec, sys, Family};
use crate::tokio::retry::with_retries;
use crate::{Addr, ConnectOptions, ListenOptions};

/// A sequenced-packet connection for tokio; see [`crate::Seqpacket`].
///
/// Every method is cancellation-safe: a message is taken off the socket, or sent, only
/// in the poll that completes the call, so a `recv` or `send` dropped before it
/// completes (by `select!` or a timeout) has received or sent nothing.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// let addr: hvsock::Addr = "unix:///run/agent.sock".parse().unwrap();
/// let conn = hvsock::tokio::Seqpacket::connect(&addr).await?;
/// conn.send(b"ping").await?;
/// let mut reply = Vec::new();
/// if let Some(len) = conn.recv_vec(&mut reply).await? {
///     assert_eq!(reply.len(), len);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Seqpacket {
    io: AsyncFd<Socket>,
    family: Family,
    local: Addr,
    peer: Addr,
    /// Cleared once the kernel has refused a peek: `recv_vec` then asks no more.
    peeks: AtomicBool,
}

impl Seqpacket {
    /// Connects to `addr` with default options, without blocking a thread.
    pub async fn connect(addr: &Addr) -> io::Result<Seqpacket> {
        Self::connect_with(addr, &ConnectOptions::new()).await
    }

    /// Connects to `addr` as [`crate::Seqpacket::connect_with`] does (timeout and
    /// retries included). Dropping the future closes the socket it was connecting.
    pub async fn connect_with(addr: &Addr, options: &ConnectOptions) -> io::Result<Seqpacket> {
        with_retries(options, || async {
            let attempt = async {
                let (socket, family, target) = sys::dial(addr, options)?;
                let io = super::connect::connect_socket(socket, &target)
                    .await
                    .map_err(|e| sys::explain_connect(e, addr))?;
                let local = sys::local_addr(io.get_ref(), family)?;
                Ok(Seqpacket { io, family, local, peer: addr.clone(), peeks: AtomicBool::new(true) })
            };
            let result = match crate::transport::deadline(options) {
                Some(deadline) => tokio::time::timeout_at(deadline.into(), attempt)
                    .await
                    .unwrap_or_else(|_| Err(crate::error::error(io::ErrorKind::TimedOut, "timed out"))),
                None => attempt.await,
            };
            result.map_err(|e| context_uri(e, "connect", uri(addr)))
        })
        .await
    }

    /// Wraps a blocking connection, making it non-blocking. Must be called within a
    /// tokio runtime.
    pub fn from_std(conn: crate::Seqpacket) -> io::Result<Seqpacket> {
        let (socket, family, local, peer) = conn.into_parts();
        socket.set_nonblocking(true)?;
        Ok(Seqpacket { io: super::register(socket)?, family, local, peer, peeks: AtomicBool::new(true) })
    }

    /// The blocking connection again.
    pub fn into_std(self) -> io::Result<crate::Seqpacket> {
        let socket = self.io.into_inner();
        socket.set_nonblocking(false)?;
        Ok(crate::Seqpacket::from_parts(socket, self.family, self.local, self.peer))
    }

    /// Sends `msg` as one message once the socket has room; see
    /// [`crate::Seqpacket::send`].
    pub async fn send(&self, msg: &[u8]) -> io::Result<()> {
        crate::seqpacket::message::sendable(msg.len(), self.family)?;
        let sent = self.io.async_io(Interest::WRITABLE, |socket| sys::send(socket, msg)).await;
        crate::seqpacket::sent(sent, msg.len())
    }

    /// Receives one message into `buf` once there is one; see
    /// [`crate::Seqpacket::recv`]: `Some(len)`, `None` at the end, an error for a
    /// message longer than `buf`.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let capacity = buf.len();
        // SAFETY: `u8` and `MaybeUninit<u8>` have the same layout, and recvmsg only
        // writes initialised bytes into the slice.
        let uninit = unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) };
        let raw = self.io.async_io(Interest::READABLE, |socket| sys::recv(socket, uninit, false)).await?;
        crate::seqpacket::message::received(raw, self.family, capacity)
    }

    /// Receives one message into `buf`, grown to fit; see
    /// [`crate::Seqpacket::recv_vec`].
    pub async fn recv_vec(&self, buf: &mut Vec<u8>) -> io::Result<Option<usize>> {
        loop {
            let peeked = match self.peeks.load(Ordering::Relaxed) {
                true => self.next_message_len().await,
                false => Err(crate::seqpacket::no_peek()),
            };
            let room = match peeked {
                Ok(Some(len)) => len,
                Ok(None) => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Unsupported => {
                    self.peeks.store(false, Ordering::Relaxed);
                    sys::largest_message(self.io.get_ref())?
                }
                Err(e) => return Err(e),
            };
            let mut guard = self.io.readable().await?;
            let got = guard.try_io(|io| {
                recv_into_vec(buf, room, |spare| sys::recv(io.get_ref(), spare, false), self.family)
            });
            match got {
                Ok(result) => return result,
                Err(_would_block) => continue, // another reader took it: peek again
            }
        }
    }

    /// The length of the next message once there is one, leaving it on the socket;
    /// see [`crate::Seqpacket::next_message_len`].
    pub async fn next_message_len(&self) -> io::Result<Option<usize>> {
        let raw = self
            .io
            .async_io(Interest::READABLE, |socket| sys::recv(socket, &mut [], true))
            .await
            .map_err(|e| sys::explain_peek(e, self.family))?;
        Ok(crate::seqpacket::message::peeked(raw, self.family))
    }

    /// `shutdown(2)` (it never blocks): `Shutdown::Write` ends this end's messages.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how).map_err(|e| context_uri(e, "shutdown", uri(&self.peer)))
    }

    /// The address this end is bound to.
    pub fn local_addr(&self) -> &Addr {
        &self.local
    }

    /// The address of the other end.
    pub fn peer_addr(&self) -> &Addr {
        &self.peer
    }
}

impl std::os::fd::AsRawFd for Seqpacket {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.io.as_raw_fd()
    }
}

impl std::os::fd::AsFd for Seqpacket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

/// A listening sequenced-packet socket for tokio; see [`crate::SeqpacketListener`].
#[derive(Debug)]
pub struct SeqpacketListener {
    io: AsyncFd<Socket>,
    std: crate::SeqpacketListener,
}

impl SeqpacketListener {
    /// Binds and listens on `addr` with default options. Must be called within a tokio
    /// runtime.
    pub fn bind(addr: &Addr) -> io::Result<SeqpacketListener> {
        Self::bind_with(addr, &ListenOptions::new())
    }

    /// Binds and listens on `addr` as [`crate::SeqpacketListener::bind_with`] does.
    pub fn bind_with(addr: &Addr, options: &ListenOptions) -> io::Result<SeqpacketListener> {
        Self::from_std(crate::SeqpacketListener::bind_with(addr, options)?)
    }

    /// Wraps a blocking listener, making it non-blocking.
    pub fn from_std(listener: crate::SeqpacketListener) -> io::Result<SeqpacketListener> {
        listener.set_nonblocking(true)?;
        let io = super::register(listener.as_socket().try_clone()?)?;
        Ok(SeqpacketListener { io, std: listener })
    }

    /// Waits for a connection; cancellation-safe (dropped before it completes, it has
    /// accepted nothing).
    pub async fn accept(&self) -> io::Result<(Seqpacket, Addr)> {
        let (socket, raw) = self
            .io
            .async_io(Interest::READABLE, |socket| socket.accept())
            .await
            .map_err(|e| context_uri(e, "accept on", uri(self.std.local_addr())))?;
        let (conn, peer) = self.std.ready(socket, &raw)?;
        Ok((Seqpacket::from_std(conn)?, peer))
    }

    /// The address this listener listens on.
    pub fn local_addr(&self) -> &Addr {
        self.std.local_addr()
    }
}
