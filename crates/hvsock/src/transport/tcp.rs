//! TCP, for relays between hypervisor sockets and the network.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use socket2::{Domain, SockAddr, Socket, Type};

use super::Bound;
use crate::error::error;
use crate::{Addr, ListenOptions, TcpAddr};

/// Resolves `host` and connects to each of its addresses in turn until one answers,
/// all by the one `deadline`.
pub(crate) fn connect(host: &str, port: u16, deadline: Option<Instant>) -> io::Result<Socket> {
    let mut last = None;
    for target in resolve_by(&TcpAddr { host: host.to_owned(), port }, deadline)? {
        let socket = super::socket(Domain::for_address(target), Type::STREAM)?;
        match connect_by(&socket, &target.into(), deadline) {
            Ok(()) => return Ok(socket),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(resolved_to_nothing))
}

/// The error of a host name that resolved to no address.
pub(crate) fn resolved_to_nothing() -> io::Error {
    error(io::ErrorKind::NotFound, "the host name resolved to no address")
}

/// `connect(2)` by `deadline`.
#[cfg(unix)]
fn connect_by(socket: &Socket, target: &SockAddr, deadline: Option<Instant>) -> io::Result<()> {
    super::deadline::connect(socket, target, deadline)
}

/// `connect` by `deadline` (socket2's `connect_timeout`: non-blocking, `WSAPoll`).
#[cfg(windows)]
fn connect_by(socket: &Socket, target: &SockAddr, deadline: Option<Instant>) -> io::Result<()> {
    let attempt = match deadline {
        Some(d) => match d.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => socket.connect_timeout(target, left),
            _ => Err(error(io::ErrorKind::TimedOut, "timed out")),
        },
        None => socket.connect(target),
    };
    // Trust the socket over the wait's verdict: Wine's `WSAPoll` may report `POLLHUP`
    // with no error on a connect that succeeded (socket2 then says "no error set after
    // POLLHUP"); a socket with a peer is connected.
    attempt.or_else(|e| socket.peer_addr().map(drop).map_err(|_| e))
}

/// `getsockname(2)`, as a TCP address.
/// `TCP_NODELAY` (`setsockopt(2)`) if `peer` is a TCP address; nothing otherwise (no
/// other transport holds small writes back).
pub(crate) fn set_nodelay(socket: &Socket, peer: &Addr, nodelay: bool) -> io::Result<()> {
    match peer {
        Addr::Tcp(_) => socket
            .set_tcp_nodelay(nodelay)
            .map_err(|e| crate::error::context(e, "setting TCP_NODELAY on", peer)),
        _ => Ok(()),
    }
}

pub(crate) fn local_addr(socket: &Socket) -> io::Result<Addr> {
    Ok(socket.local_addr()?.as_socket().map_or(Addr::Unnamed, |s| Addr::Tcp(addr_of(&s))))
}

/// Binds (with `SO_REUSEADDR`, as `std` does) and listens on the first address the host
/// resolves to.
pub(crate) fn bind(addr: &TcpAddr, options: &ListenOptions) -> io::Result<Bound> {
    let target = resolve(addr)?.next().ok_or_else(resolved_to_nothing)?;
    let socket = super::socket(Domain::for_address(target), Type::STREAM)?;
    socket.set_reuse_address(true)?;
    socket.bind(&SockAddr::from(target))?;
    socket.listen(options.listen_backlog())?;
    let local = local_addr(&socket)?;
    Ok(Bound { socket, local, file: None })
}

/// `getaddrinfo(3)` (through `ToSocketAddrs`).
fn resolve(addr: &TcpAddr) -> io::Result<std::vec::IntoIter<SocketAddr>> {
    (addr.host.as_str(), addr.port).to_socket_addrs()
}

/// Resolves the host by `deadline`: an IP address at once, a name with `getaddrinfo(3)`
/// on a helper thread, so that a resolver that does not answer cannot hold the connect
/// past its time limit (`getaddrinfo` cannot be interrupted; a thread given up on ends
/// when it returns).
fn resolve_by(addr: &TcpAddr, deadline: Option<Instant>) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = addr.host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, addr.port)]);
    }
    let addr = addr.clone();
    within(deadline, move || resolve(&addr).map(Vec::from_iter))
}

/// The result of `work`, run on a thread of its own, if it comes by `deadline` (`None`:
/// no limit, and no thread); `TimedOut` if not.
fn within<T: Send + 'static>(
    deadline: Option<Instant>,
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let Some(deadline) = deadline else { return work() };
    let (tx, rx) = mpsc::sync_channel(1);
    thread::Builder::new().name("hvsock-resolve".into()).spawn(move || {
        let _ = tx.send(work());
    })?;
    match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            Err(error(io::ErrorKind::TimedOut, "timed out resolving the host name"))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(error(io::ErrorKind::Other, "the thread resolving the host name failed"))
        }
    }
}

/// The URI form of a socket address.
pub(crate) fn addr_of(socket: &SocketAddr) -> TcpAddr {
    TcpAddr { host: socket.ip().to_string(), port: socket.port() }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_resolver_that_does_not_answer_cannot_outlast_the_deadline() {
        let started = Instant::now();
        let slow = || {
            thread::sleep(Duration::from_secs(3));
            Ok(vec![SocketAddr::from(([127, 0, 0, 1], 1))])
        };
        let err = within(Some(started + Duration::from_millis(200)), slow).unwrap_err();
        let took = started.elapsed();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert_eq!(err.to_string(), "timed out resolving the host name");
        assert!(took >= Duration::from_millis(200) && took < Duration::from_secs(1), "{took:?}");
        assert_eq!(within(Some(started + Duration::from_secs(5)), || Ok(7)).unwrap(), 7);
        assert_eq!(within(None, || Ok(8)).unwrap(), 8);
    }

    #[test]
    fn an_address_needs_no_lookup_and_a_name_is_resolved_in_time() {
        let soon = Some(Instant::now() + Duration::from_secs(5));
        let v6 = TcpAddr { host: "::1".into(), port: 22 };
        assert_eq!(resolve_by(&v6, soon).unwrap(), [SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], 22))]);
        let name = TcpAddr { host: "localhost".into(), port: 80 };
        let found = resolve_by(&name, soon).unwrap();
        assert!(
            !found.is_empty() && found.iter().all(|a| a.ip().is_loopback() && a.port() == 80),
            "{found:?}"
        );
    }
}
