//! A connected byte stream on any transport, shaped like `std::net::TcpStream`.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::thread;
use std::time::Duration;

use socket2::Socket;

use crate::error::context;
use crate::transport;
use crate::{Addr, ConnectOptions, Retry};

/// A connected hypervisor socket.
///
/// ```no_run
/// use std::io::{Read, Write};
/// use std::net::Shutdown;
///
/// let addr: hvsock::Addr = "hybrid://:1234/run/vm/v.sock".parse()?;
/// let mut stream = hvsock::Stream::connect(&addr)?;
/// stream.write_all(b"ping\n")?;
/// stream.shutdown(Shutdown::Write)?; // the peer sees end-of-file
/// let mut reply = String::new();
/// stream.read_to_string(&mut reply)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Stream {
    socket: Socket,
    local: Addr,
    peer: Addr,
}

impl Stream {
    /// Connects to `addr`, as [`Stream::connect_with`] with default options: no retry,
    /// and no waiting past [`ConnectOptions::DEFAULT_TIMEOUT`] (5 s; vsock and Hyper-V
    /// sockets give up after 2 s of their own).
    pub fn connect(addr: &Addr) -> io::Result<Stream> {
        Self::connect_with(addr, &ConnectOptions::new())
    }

    /// Connects to `addr`, giving up with `ErrorKind::TimedOut` after `timeout` (name
    /// resolution and handshake included) instead of the default limit.
    pub fn connect_timeout(addr: &Addr, timeout: Duration) -> io::Result<Stream> {
        Self::connect_with(addr, &ConnectOptions::new().timeout(timeout))
    }

    /// Connects to `addr` on its transport:
    ///
    /// - `vsock`: `socket(AF_VSOCK)` + `connect(2)`;
    /// - `hvsock`: `socket(AF_HYPERV)` + `connect` (Windows);
    /// - `hyperkit`: `connect(2)` to `<dir>/connect`, then the 18-byte header. hyperkit
    ///   never answers, so a refused connection shows up as end-of-file on the first read;
    /// - `hybrid`: `connect(2)` to the device's socket, `CONNECT <port>\n`, and the `OK`
    ///   reply awaited before anything else is sent;
    /// - `unix`, `tcp`: `connect(2)`.
    ///
    /// Errors name the address: `connect hybrid://:52/run/v.sock: connection refused: ...`.
    ///
    /// No attempt waits forever unless told to: each gives up with `ErrorKind::TimedOut`
    /// after [`ConnectOptions::timeout`], by default [`ConnectOptions::DEFAULT_TIMEOUT`]
    /// (5 s), TCP name resolution and the hybrid handshake included. Without a timeout
    /// of your own a vsock connect ends at the kernel's 2 s and a Hyper-V one at 2 s.
    ///
    /// With [`ConnectOptions::retry`], failures that may pass are retried with backoff;
    /// each retry is logged at `info` level through `tracing`.
    pub fn connect_with(addr: &Addr, options: &ConnectOptions) -> io::Result<Stream> {
        let connected = with_retries(options, || transport::connect(addr, options))?;
        Ok(Stream { socket: connected.socket, local: connected.local, peer: addr.clone() })
    }

    pub(crate) fn from_accepted(socket: Socket, local: Addr, peer: Addr) -> Stream {
        Stream { socket, local, peer }
    }

    /// The address this end is bound to ([`Addr::Unnamed`] for a client on a Unix-socket
    /// transport; the listener's address for an accepted connection).
    pub fn local_addr(&self) -> &Addr {
        &self.local
    }

    /// The address of the other end.
    pub fn peer_addr(&self) -> &Addr {
        &self.peer
    }

    /// The process at the other end of a Unix-socket connection (unix, hybrid and
    /// hyperkit; on the last two, the VMM): `SO_PEERCRED` on Linux, `getpeereid(3)` on
    /// macOS. Fails on other transports.
    pub fn peer_credentials(&self) -> io::Result<crate::PeerCredentials> {
        crate::peer::credentials(&self.socket)
    }

    /// `shutdown(2)`: `Shutdown::Write` sends end-of-file to the peer, which can still
    /// answer (half-close).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.socket.shutdown(how).map_err(|e| context(e, "shutdown", &self.peer))
    }

    /// `dup(2)` (`F_DUPFD_CLOEXEC`): another handle on the same connection.
    pub fn try_clone(&self) -> io::Result<Stream> {
        Ok(Stream { socket: self.socket.try_clone()?, local: self.local.clone(), peer: self.peer.clone() })
    }

    /// The credit window of a vsock connection (`SO_VM_SOCKETS_BUFFER_SIZE`, raising
    /// `SO_VM_SOCKETS_BUFFER_MAX_SIZE` first where the kernel would clamp it): how many
    /// bytes this end lets its peer send ahead of what it has read; 256 KiB unless set.
    /// vsock has no send buffer and ignores `SO_RCVBUF` and `SO_SNDBUF`: this is the
    /// setting that bounds a vsock connection's throughput. Set it on the listener
    /// ([`ListenOptions::vsock_buffer_size`](crate::ListenOptions::vsock_buffer_size)) or
    /// before connecting
    /// ([`ConnectOptions::vsock_buffer_size`](crate::ConnectOptions::vsock_buffer_size))
    /// to have it from the first byte. Fails with `ErrorKind::Unsupported` on other
    /// transports.
    ///
    /// ```no_run
    /// let stream = hvsock::Stream::connect(&"vsock://2:5000".parse()?)?;
    /// stream.set_vsock_buffer_size(1 << 20)?;
    /// assert_eq!(stream.vsock_buffer_size()?, 1 << 20);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(target_os = "linux")]
    #[cfg_attr(docsrs, doc(cfg(target_os = "linux")))]
    pub fn set_vsock_buffer_size(&self, size: u64) -> io::Result<()> {
        crate::transport::vsock_window::set_window_of(&self.socket, (&self.local, &self.peer), size)
    }

    /// The credit window of a vsock connection (`SO_VM_SOCKETS_BUFFER_SIZE`); see
    /// [`Stream::set_vsock_buffer_size`].
    #[cfg(target_os = "linux")]
    #[cfg_attr(docsrs, doc(cfg(target_os = "linux")))]
    pub fn vsock_buffer_size(&self) -> io::Result<u64> {
        crate::transport::vsock_window::window_of(&self.socket, (&self.local, &self.peer))
    }

    /// `SO_SNDBUF`. (vsock sockets ignore it; see [`Stream::set_vsock_buffer_size`].)
    pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
        self.socket.set_send_buffer_size(size)
    }

    /// `SO_RCVBUF`. (vsock sockets ignore it; see [`Stream::set_vsock_buffer_size`].)
    pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
        self.socket.set_recv_buffer_size(size)
    }

    /// `SO_SNDBUF`.
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        self.socket.send_buffer_size()
    }

    /// `SO_RCVBUF`.
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        self.socket.recv_buffer_size()
    }

    /// `TCP_NODELAY` on a TCP connection (`setsockopt(2)`): small writes go out at once
    /// instead of waiting for the peer's acknowledgement of the last (Nagle's
    /// algorithm), which request/response protocols such as HTTP/2 and gRPC want. The
    /// other transports never hold small writes back; for them this does nothing.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        crate::transport::tcp::set_nodelay(&self.socket, &self.peer, nodelay)
    }

    /// The underlying socket.
    pub fn as_socket(&self) -> &Socket {
        &self.socket
    }

    /// The underlying socket, consuming the stream.
    pub fn into_socket(self) -> Socket {
        self.socket
    }

    #[cfg(all(feature = "tokio", unix))]
    pub(crate) fn into_parts(self) -> (Socket, Addr, Addr) {
        (self.socket, self.local, self.peer)
    }
}

/// Implements, for a type whose `socket` field is a `socket2::Socket`, the socket
/// options every connection has: read and write timeouts, `O_NONBLOCK`, `SO_ERROR`.
macro_rules! socket_options {
    ($type:ty) => {
        impl $type {
            /// `SO_RCVTIMEO`: reads fail with `WouldBlock`/`TimedOut` after `timeout`
            /// (`None`: never). As with `TcpStream`, a zero timeout is an `InvalidInput`
            /// error, and one too short for the system (under 1 µs; 1 ms on Windows) is
            /// rounded up, never down to the 0 that would mean "wait forever".
            pub fn set_read_timeout(&self, timeout: Option<std::time::Duration>) -> std::io::Result<()> {
                self.socket.set_read_timeout($crate::stream::socket_timeout(timeout)?)
            }

            /// `SO_SNDTIMEO`: writes fail with `WouldBlock`/`TimedOut` after `timeout`;
            /// zero and tiny timeouts as for the read timeout.
            pub fn set_write_timeout(&self, timeout: Option<std::time::Duration>) -> std::io::Result<()> {
                self.socket.set_write_timeout($crate::stream::socket_timeout(timeout)?)
            }

            /// The current `SO_RCVTIMEO`.
            pub fn read_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                self.socket.read_timeout()
            }

            /// The current `SO_SNDTIMEO`.
            pub fn write_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                self.socket.write_timeout()
            }

            /// `O_NONBLOCK` (`FIONBIO` on Windows).
            pub fn set_nonblocking(&self, nonblocking: bool) -> std::io::Result<()> {
                self.socket.set_nonblocking(nonblocking)
            }

            /// `SO_ERROR`: the pending error, if any.
            pub fn take_error(&self) -> std::io::Result<Option<std::io::Error>> {
                self.socket.take_error()
            }
        }
    };
}
pub(crate) use socket_options;

/// The shortest socket timeout the system can hold: `SO_RCVTIMEO` takes a `timeval`
/// (microseconds) on Unix and milliseconds on Windows; a shorter one would become 0.
#[cfg(not(windows))]
const SHORTEST_TIMEOUT: Duration = Duration::from_micros(1);
#[cfg(windows)]
const SHORTEST_TIMEOUT: Duration = Duration::from_millis(1);

/// A read or write timeout as the socket option takes it: zero refused, as `std` does
/// (for the socket it would mean "forever"), anything shorter than the system can hold
/// rounded up to [`SHORTEST_TIMEOUT`].
pub(crate) fn socket_timeout(timeout: Option<Duration>) -> io::Result<Option<Duration>> {
    match timeout {
        Some(timeout) if timeout.is_zero() => {
            Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot set a 0 duration timeout"))
        }
        timeout => Ok(timeout.map(|t| t.max(SHORTEST_TIMEOUT))),
    }
}

/// Runs `attempt` until it succeeds, fails in a way that cannot pass, or `options`'
/// retries are used up, waiting [`Retry::backoff`] between attempts (each retry logged
/// at `info` level).
pub(crate) fn with_retries<T>(
    options: &ConnectOptions,
    mut attempt: impl FnMut() -> io::Result<T>,
) -> io::Result<T> {
    let mut tries = 1;
    loop {
        match attempt() {
            Err(e) if may_pass(&e) && options.retry.allows(tries) => {
                let wait = Retry::backoff(tries);
                tracing::info!("{e}; trying again in {wait:?} (attempt {})", tries + 1);
                thread::sleep(wait);
                tries += 1;
            }
            result => return result,
        }
    }
}

/// Whether a failed connect may succeed if tried again (the peer is not up yet).
pub(crate) fn may_pass(err: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        err.kind(),
        ConnectionRefused
            | NotFound
            | TimedOut
            | ConnectionReset
            | ConnectionAborted
            | UnexpectedEof
            | WouldBlock
    )
}

impl Read for &Stream {
    /// `recv(2)`; 0 at end-of-file.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.socket).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&self.socket).read_vectored(bufs)
    }
}

impl Write for &Stream {
    /// `send(2)` with `MSG_NOSIGNAL` where there is one (Apple systems: `SO_NOSIGPIPE`
    /// on the socket): a closed peer gives `EPIPE`, never `SIGPIPE`.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        transport::send(&self.socket, buf)
    }

    /// `sendmsg(2)`, with `MSG_NOSIGNAL` as `write`.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        transport::send_vectored(&self.socket, bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

socket_options!(Stream);
crate::handle::impl_os_handle!(Stream);

#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
impl From<Stream> for std::os::fd::OwnedFd {
    fn from(stream: Stream) -> std::os::fd::OwnedFd {
        stream.socket.into()
    }
}

#[cfg(windows)]
#[cfg_attr(docsrs, doc(cfg(windows)))]
impl From<Stream> for std::os::windows::io::OwnedSocket {
    fn from(stream: Stream) -> std::os::windows::io::OwnedSocket {
        stream.socket.into()
    }
}
