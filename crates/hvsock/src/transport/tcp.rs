//! TCP, for relays between hypervisor sockets and the network.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use socket2::{Domain, SockAddr, Type};

use super::{Bound, Connected};
use crate::error::error;
use crate::{Addr, ConnectOptions, ListenOptions, TcpAddr};

/// Resolves the host and connects to each address in turn until one answers.
pub(crate) fn connect(addr: &TcpAddr, options: &ConnectOptions) -> io::Result<Connected> {
    let deadline = super::deadline(options);
    let mut last = None;
    for target in resolve(addr)? {
        let socket = super::socket(Domain::for_address(target), Type::STREAM)?;
        let attempt = match deadline {
            Some(d) => match d.checked_duration_since(std::time::Instant::now()) {
                Some(left) if !left.is_zero() => socket.connect_timeout(&target.into(), left),
                _ => Err(error(io::ErrorKind::TimedOut, "timed out")),
            },
            None => socket.connect(&target.into()),
        };
        match attempt {
            Ok(()) => {
                let local =
                    socket.local_addr()?.as_socket().map_or(Addr::Unnamed, |s| Addr::Tcp(addr_of(&s)));
                return Ok(Connected { socket, local });
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| error(io::ErrorKind::NotFound, "the host name resolved to no address")))
}

/// Binds (with `SO_REUSEADDR`, as `std` does) and listens on the first address the host
/// resolves to.
pub(crate) fn bind(addr: &TcpAddr, options: &ListenOptions) -> io::Result<Bound> {
    let target = resolve(addr)?
        .next()
        .ok_or_else(|| error(io::ErrorKind::NotFound, "the host name resolved to no address"))?;
    let socket = super::socket(Domain::for_address(target), Type::STREAM)?;
    socket.set_reuse_address(true)?;
    socket.bind(&SockAddr::from(target))?;
    socket.listen(options.backlog)?;
    let local = socket.local_addr()?.as_socket().map_or(Addr::Unnamed, |s| Addr::Tcp(addr_of(&s)));
    Ok(Bound { socket, local, file: None })
}

fn resolve(addr: &TcpAddr) -> io::Result<std::vec::IntoIter<SocketAddr>> {
    (addr.host.as_str(), addr.port).to_socket_addrs()
}

/// The URI form of a socket address.
pub(crate) fn addr_of(socket: &SocketAddr) -> TcpAddr {
    TcpAddr { host: socket.ip().to_string(), port: socket.port() }
}
