//! Message mode: sequenced-packet connections (`SOCK_SEQPACKET`) that keep the boundary
//! of every message, over Linux `AF_VSOCK` and Unix sockets, with the same addresses as
//! streams (`vsock+seqpacket://CID:PORT`, `unix+seqpacket:///PATH` on a command line;
//! see [`crate::Endpoint`]).
//!
//! One [`Seqpacket::send`] is one [`Seqpacket::recv`] at the other end: never merged with
//! the next, never split. A message longer than the buffer given to `recv` is an error
//! that says so ([`MessageTooLong`]), never silently cut short; [`Seqpacket::recv_vec`]
//! receives into a buffer that grows to fit, [`Seqpacket::next_message_len`] tells the
//! next one's length first. An empty message is a message: `recv` returns `Some(0)` for
//! it and `None` at the end. (vsock cannot carry one: Linux sends nothing for an empty
//! `SOCK_SEQPACKET` message there, so [`Seqpacket::send`] refuses it.)
//!
//! Other transports have no message mode (hybrid vsock and hyperkit are byte streams
//! through a VMM's Unix socket, Hyper-V sockets are stream sockets only, TCP is a
//! stream): connecting or listening there fails with `ErrorKind::Unsupported`, "not
//! supported by this transport". Message mode exists on Linux only.

mod listener;
pub(crate) mod message;
#[cfg(target_os = "linux")]
pub(crate) mod sys;
#[cfg(not(target_os = "linux"))]
#[path = "seqpacket/sys_other.rs"]
pub(crate) mod sys;

use std::io;
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use socket2::Socket;

use crate::error::context_uri;
use crate::stream::{socket_options, with_retries};
use crate::{Addr, ConnectOptions, Endpoint, SocketKind};
pub use listener::SeqpacketListener;
pub(crate) use message::Family;
pub use message::MessageTooLong;

/// A sequenced-packet connection: messages, each received as it was sent.
///
/// ```no_run
/// let addr: hvsock::Addr = "vsock://2:5000".parse()?;
/// let conn = hvsock::Seqpacket::connect(&addr)?;
/// conn.send(b"status")?;
/// let mut reply = Vec::new();
/// while let Some(len) = conn.recv_vec(&mut reply)? {
///     println!("a message of {len} bytes: {:?}", String::from_utf8_lossy(&reply));
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Seqpacket {
    socket: Socket,
    family: Family,
    local: Addr,
    peer: Addr,
    /// Cleared once the kernel has refused a peek: `recv_vec` then asks no more.
    peeks: AtomicBool,
}

impl Seqpacket {
    /// Connects to `addr` (a `vsock` or `unix` address) with default options: no retry,
    /// and no waiting past [`ConnectOptions::DEFAULT_TIMEOUT`].
    pub fn connect(addr: &Addr) -> io::Result<Seqpacket> {
        Self::connect_with(addr, &ConnectOptions::new())
    }

    /// Connects to `addr`, giving up with `ErrorKind::TimedOut` after `timeout`.
    pub fn connect_timeout(addr: &Addr, timeout: Duration) -> io::Result<Seqpacket> {
        Self::connect_with(addr, &ConnectOptions::new().timeout(timeout))
    }

    /// Connects to `addr`: `socket(AF_VSOCK, SOCK_SEQPACKET)` or
    /// `socket(AF_UNIX, SOCK_SEQPACKET)` (with `SO_PASSCRED`, so that an empty message
    /// is told from the end), then `connect(2)` by the deadline of `options`, retried as
    /// `options` say. Other transports fail with `ErrorKind::Unsupported`.
    ///
    /// Errors name the address: `connect vsock://2:5000: the vsock transport to CID 2
    /// does not support message mode ...` where the hypervisor's device lacks it.
    pub fn connect_with(addr: &Addr, options: &ConnectOptions) -> io::Result<Seqpacket> {
        with_retries(options, || {
            Self::attempt(addr, options).map_err(|e| context_uri(e, "connect", uri(addr)))
        })
    }

    fn attempt(addr: &Addr, options: &ConnectOptions) -> io::Result<Seqpacket> {
        let deadline = crate::transport::deadline(options);
        let (socket, family, target) = sys::dial(addr, options)?;
        connect(&socket, &target, deadline).map_err(|e| sys::explain_connect(e, addr))?;
        let local = sys::local_addr(&socket, family)?;
        Ok(Seqpacket::from_parts(socket, family, local, addr.clone()))
    }

    pub(crate) fn from_parts(socket: Socket, family: Family, local: Addr, peer: Addr) -> Seqpacket {
        Seqpacket { socket, family, local, peer, peeks: AtomicBool::new(true) }
    }

    #[cfg(all(feature = "tokio", unix))]
    pub(crate) fn into_parts(self) -> (Socket, Family, Addr, Addr) {
        (self.socket, self.family, self.local, self.peer)
    }

    /// Sends `msg` as one message (`send(2)` with `MSG_NOSIGNAL`): whole, or an error —
    /// `EMSGSIZE`, explained, for one longer than the connection carries at once.
    ///
    /// An empty message is refused on vsock (`ErrorKind::InvalidInput`): Linux sends
    /// nothing for one there, and the peer would never see it.
    pub fn send(&self, msg: &[u8]) -> io::Result<()> {
        message::sendable(msg.len(), self.family)?;
        sent(sys::send(&self.socket, msg), msg.len())
    }

    /// Receives one message into `buf` (`recvmsg(2)` with `MSG_TRUNC`): `Some(len)` for a
    /// message of `len` bytes (0 for an empty one), `None` once the peer has shut down
    /// or closed. A message longer than `buf` is taken off the socket and discarded,
    /// and the error (`ErrorKind::InvalidData`, a [`MessageTooLong`] inside) says so.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let capacity = buf.len();
        // SAFETY: `u8` and `MaybeUninit<u8>` have the same layout, and recvmsg only
        // writes initialised bytes into the slice.
        let uninit = unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) };
        message::received(sys::recv(&self.socket, uninit, false)?, self.family, capacity)
    }

    /// Receives one message into `buf`, replacing what it held and growing it to fit:
    /// `Some(len)` (`buf.len() == len`), or `None` at the end. The length comes first
    /// from [`Seqpacket::next_message_len`]; where vsock cannot peek (Linux before
    /// `MSG_PEEK` came to its `SOCK_SEQPACKET`), `buf` is grown to the largest message
    /// a peer can send (`SO_VM_SOCKETS_BUFFER_SIZE`).
    pub fn recv_vec(&self, buf: &mut Vec<u8>) -> io::Result<Option<usize>> {
        let peeked =
            if self.peeks.load(Ordering::Relaxed) { self.next_message_len() } else { Err(no_peek()) };
        let room = match peeked {
            Ok(Some(len)) => len,
            Ok(None) => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Unsupported => {
                self.peeks.store(false, Ordering::Relaxed);
                sys::largest_message(&self.socket)?
            }
            Err(e) => return Err(e),
        };
        recv_into_vec(buf, room, |spare| sys::recv(&self.socket, spare, false), self.family)
    }

    /// The length of the next message, waiting for one (`recvmsg(2)` with
    /// `MSG_PEEK | MSG_TRUNC`): `Some(len)`, or `None` at the end. The message stays
    /// on the socket. Fails with `ErrorKind::Unsupported` on vsock where the kernel
    /// cannot peek at a message (Linux 6.1, for one).
    pub fn next_message_len(&self) -> io::Result<Option<usize>> {
        let raw = sys::recv(&self.socket, &mut [], true).map_err(|e| sys::explain_peek(e, self.family))?;
        Ok(message::peeked(raw, self.family))
    }

    /// `shutdown(2)`: `Shutdown::Write` ends the messages this end sends (the peer's
    /// `recv` returns `None` after the last), and the peer can still answer.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.socket.shutdown(how).map_err(|e| context_uri(e, "shutdown", uri(&self.peer)))
    }

    /// Whether the peer has closed the connection both ways, so that nothing sent can
    /// reach it (a peer that only shut down its sending side still receives). Asked
    /// without waiting, sending or receiving: `poll(2)` for `POLLHUP` on Unix sockets;
    /// on vsock an empty `send(2)` with `MSG_DONTWAIT`, which fails with `EPIPE` once
    /// the peer is gone and otherwise sends nothing.
    pub fn peer_gone(&self) -> bool {
        sys::peer_gone(&self.socket, self.family)
    }

    /// The address this end is bound to ([`Addr::Unnamed`] for a Unix client).
    pub fn local_addr(&self) -> &Addr {
        &self.local
    }

    /// The address of the other end (as connected to; for an accepted connection, as
    /// the system names it, [`Addr::Unnamed`] for most Unix clients).
    pub fn peer_addr(&self) -> &Addr {
        &self.peer
    }

    /// The process at the other end of a Unix connection (`SO_PEERCRED`).
    pub fn peer_credentials(&self) -> io::Result<crate::PeerCredentials> {
        crate::peer::credentials(&self.socket)
    }

    /// `dup(2)` (`F_DUPFD_CLOEXEC`): another handle on the same connection, for a
    /// sender and a receiver on two threads.
    pub fn try_clone(&self) -> io::Result<Seqpacket> {
        let clone = Seqpacket::from_parts(
            self.socket.try_clone()?,
            self.family,
            self.local.clone(),
            self.peer.clone(),
        );
        clone.peeks.store(self.peeks.load(Ordering::Relaxed), Ordering::Relaxed);
        Ok(clone)
    }

    /// The underlying socket.
    pub fn as_socket(&self) -> &Socket {
        &self.socket
    }
}

/// The stand-in for a peek not tried again: the kernel refused one before.
pub(crate) fn no_peek() -> io::Error {
    io::Error::from(io::ErrorKind::Unsupported)
}

/// `addr` as a message-mode URI (`vsock+seqpacket://...`), for messages.
pub(crate) fn uri(addr: &Addr) -> Endpoint {
    Endpoint::new(addr.clone(), SocketKind::Seqpacket)
}

/// What a `send(2)` of a `len`-byte message came to: the message sent whole, or why not.
pub(crate) fn sent(result: io::Result<usize>, len: usize) -> io::Result<()> {
    message::sent_whole(result.map_err(|e| message::explain_send(e, len))?, len)
}

/// Receives one message with `recv` into `buf`'s spare room, grown to at least `room`
/// bytes; `buf` then holds the message alone.
pub(crate) fn recv_into_vec(
    buf: &mut Vec<u8>,
    room: usize,
    recv: impl FnOnce(&mut [MaybeUninit<u8>]) -> io::Result<message::Raw>,
    family: Family,
) -> io::Result<Option<usize>> {
    buf.clear();
    buf.reserve(room.max(1));
    let capacity = buf.capacity();
    let got = message::received(recv(buf.spare_capacity_mut())?, family, capacity)?;
    if let Some(len) = got {
        // SAFETY: recvmsg initialised the first `len` bytes of the spare room (`len` is
        // at most its length: a longer message is an error above).
        unsafe { buf.set_len(len) };
    }
    Ok(got)
}

/// `connect(2)` by `deadline`, as streams connect.
#[cfg(unix)]
fn connect(socket: &Socket, target: &socket2::SockAddr, deadline: Option<Instant>) -> io::Result<()> {
    crate::transport::deadline::connect(socket, target, deadline)
}

#[cfg(not(unix))]
fn connect(_: &Socket, _: &socket2::SockAddr, _: Option<Instant>) -> io::Result<()> {
    Err(crate::error::unsupported("message mode (SOCK_SEQPACKET)"))
}

socket_options!(Seqpacket);
crate::handle::impl_os_handle!(Seqpacket);
