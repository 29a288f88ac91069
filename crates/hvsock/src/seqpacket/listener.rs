//! A listening sequenced-packet socket.

use std::io;

use socket2::Socket;

use super::{sys, Family, Seqpacket};
use crate::error::context_uri;
use crate::transport::{self, SocketFile};
use crate::{Addr, ListenOptions};

/// A socket listening for sequenced-packet connections, on a `vsock` or `unix`
/// address. A Unix one makes and removes its socket file as a stream
/// [`crate::Listener`] does (mode 0600 by default, a stale file replaced, nothing else).
///
/// ```no_run
/// // An echo server that keeps message boundaries.
/// let listener = hvsock::SeqpacketListener::bind(&"vsock://:5000".parse()?)?;
/// let (conn, peer) = listener.accept()?;
/// let mut msg = Vec::new();
/// while conn.recv_vec(&mut msg)?.is_some() {
///     conn.send(&msg)?;
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SeqpacketListener {
    socket: Socket,
    family: Family,
    local: Addr,
    _file: Option<SocketFile>,
}

impl SeqpacketListener {
    /// Binds and listens on `addr` with default options.
    pub fn bind(addr: &Addr) -> io::Result<SeqpacketListener> {
        Self::bind_with(addr, &ListenOptions::new())
    }

    /// Binds and listens on `addr`: `socket(AF_VSOCK, SOCK_SEQPACKET)`, `bind(2)`,
    /// `listen(2)`; or a Unix `SOCK_SEQPACKET` socket file. Other transports fail with
    /// `ErrorKind::Unsupported`.
    pub fn bind_with(addr: &Addr, options: &ListenOptions) -> io::Result<SeqpacketListener> {
        let (bound, family) =
            sys::bind(addr, options).map_err(|e| context_uri(e, "listen on", super::uri(addr)))?;
        Ok(SeqpacketListener { socket: bound.socket, family, local: bound.local, _file: bound.file })
    }

    /// `accept(2)`, retried on `EINTR`; the connection and its peer's address
    /// ([`Addr::Unnamed`] for most Unix clients).
    pub fn accept(&self) -> io::Result<(Seqpacket, Addr)> {
        let (socket, raw) = loop {
            match self.socket.accept() {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                result => break result.map_err(|e| context_uri(e, "accept on", super::uri(&self.local)))?,
            }
        };
        self.ready(socket, &raw)
    }

    /// An accepted `socket` from `raw` as a connection.
    pub(crate) fn ready(&self, socket: Socket, raw: &socket2::SockAddr) -> io::Result<(Seqpacket, Addr)> {
        sys::accepted(&socket, self.family)
            .map_err(|e| context_uri(e, "accept on", super::uri(&self.local)))?;
        let peer = transport::peer_addr(&self.local, raw);
        Ok((Seqpacket::from_parts(socket, self.family, self.local.clone(), peer.clone()), peer))
    }

    /// The address this listener listens on (with the port the system chose, if any).
    pub fn local_addr(&self) -> &Addr {
        &self.local
    }

    /// `O_NONBLOCK`.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.socket.set_nonblocking(nonblocking)
    }

    /// The underlying socket.
    pub fn as_socket(&self) -> &Socket {
        &self.socket
    }
}

crate::handle::impl_os_handle!(SeqpacketListener);
