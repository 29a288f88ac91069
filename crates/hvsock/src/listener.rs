//! A listening socket on any transport, shaped like `std::net::TcpListener`.

use std::io;

use socket2::Socket;

use crate::error::context;
use crate::transport::{self, SocketFile};
use crate::{Addr, ListenOptions, Stream};

/// A socket listening for connections.
///
/// Listeners on the filesystem (hyperkit, hybrid, Unix) create their socket file with
/// mode 0600, replace a stale socket file left by a listener that has gone away (never a
/// regular file, directory or symlink, nor a socket something still listens on), and
/// remove their socket file when dropped.
///
/// ```no_run
/// use std::io::{Read, Write};
///
/// // The host side of a Firecracker / Cloud Hypervisor / vhost-device-vsock VM: accept the
/// // guest's connections to the host's port 52.
/// let listener = hvsock::Listener::bind(&"hybrid://:52/run/vm/v.sock".parse()?)?;
/// for stream in listener.incoming() {
///     let mut stream = stream?;
///     let mut request = Vec::new();
///     stream.read_to_end(&mut request)?;
///     stream.write_all(&request)?;
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Listener {
    socket: Socket,
    local: Addr,
    _file: Option<SocketFile>,
}

impl Listener {
    /// Binds and listens on `addr` with default options.
    pub fn bind(addr: &Addr) -> io::Result<Listener> {
        Self::bind_with(addr, &ListenOptions::new())
    }

    /// Binds and listens on `addr`:
    ///
    /// - `vsock`: `socket(AF_VSOCK)`, `bind(2)`, `listen(2)`;
    /// - `hvsock`: `socket(AF_HYPERV)`, `bind`, `listen` (Windows);
    /// - `hyperkit`: a Unix socket at `<dir>/00000002.%08x`;
    /// - `hybrid`: a Unix socket at `<uds>_<port>`;
    /// - `unix`, `tcp`: as usual.
    pub fn bind_with(addr: &Addr, options: &ListenOptions) -> io::Result<Listener> {
        let bound = transport::bind(addr, options)?;
        Ok(Listener { socket: bound.socket, local: bound.local, _file: bound.file })
    }

    /// `accept(2)` (`accept4` with `SOCK_CLOEXEC` where there is one), retried on `EINTR`.
    /// The peer is [`Addr::Unnamed`] on transports that do not say who connected
    /// (hyperkit, hybrid, most Unix clients).
    pub fn accept(&self) -> io::Result<(Stream, Addr)> {
        let (socket, raw) = loop {
            match self.socket.accept() {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                result => break result.map_err(|e| context(e, "accept on", &self.local))?,
            }
        };
        let peer = transport::peer_addr(&self.local, &raw);
        Ok((Stream::from_accepted(socket, self.local.clone(), peer.clone()), peer))
    }

    /// An endless iterator over accepted connections.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address this listener listens on (with the port the system chose, if any).
    pub fn local_addr(&self) -> &Addr {
        &self.local
    }

    /// The credit window of the connections this vsock listener accepts from now on
    /// (they inherit it); see [`Stream::set_vsock_buffer_size`] and
    /// [`ListenOptions::vsock_buffer_size`]. Fails with `ErrorKind::Unsupported` on
    /// other transports.
    #[cfg(target_os = "linux")]
    #[cfg_attr(docsrs, doc(cfg(target_os = "linux")))]
    pub fn set_vsock_buffer_size(&self, size: u64) -> io::Result<()> {
        crate::transport::vsock_window::set_window_of(&self.socket, (&self.local, &self.local), size)
    }

    /// The credit window the connections this vsock listener accepts will have.
    #[cfg(target_os = "linux")]
    #[cfg_attr(docsrs, doc(cfg(target_os = "linux")))]
    pub fn vsock_buffer_size(&self) -> io::Result<u64> {
        crate::transport::vsock_window::window_of(&self.socket, (&self.local, &self.local))
    }

    /// `O_NONBLOCK` (`FIONBIO` on Windows).
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.socket.set_nonblocking(nonblocking)
    }

    /// `SO_ERROR`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.socket.take_error()
    }

    /// The underlying socket.
    pub fn as_socket(&self) -> &Socket {
        &self.socket
    }

    #[cfg(all(feature = "tokio", unix))]
    pub(crate) fn into_parts(self) -> (Socket, Addr, Option<SocketFile>) {
        (self.socket, self.local, self._file)
    }

    #[cfg(all(feature = "tokio", unix))]
    pub(crate) fn from_parts(socket: Socket, local: Addr, file: Option<SocketFile>) -> Listener {
        Listener { socket, local, _file: file }
    }
}

/// Connections as [`Listener::incoming`] accepts them.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a Listener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<Stream>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

crate::handle::impl_os_handle!(Listener);
