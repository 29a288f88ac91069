//! Windows Hyper-V sockets: `AF_HYPERV` (34), `SOCK_STREAM`, `HV_PROTOCOL_RAW` (1).
//!
//! Blocking sockets only: Hyper-V sockets on older Windows builds do not report
//! readiness, so nothing here relies on it except the wait for a `connect`, which works.

use std::io;
use std::os::windows::io::AsRawSocket;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, SockAddrStorage, Socket, Type};
use uuid::Uuid;
use windows_sys::Win32::Networking::WinSock::{
    select, WSAGetLastError, FD_SET, SOCKET, SOCKET_ERROR, TIMEVAL, WSAEADDRINUSE, WSAEAFNOSUPPORT,
    WSAECONNREFUSED, WSAEHOSTUNREACH, WSAENETDOWN, WSAENETUNREACH, WSAEPROTONOSUPPORT, WSAESOCKTNOSUPPORT,
    WSAETIMEDOUT,
};
use windows_sys::Win32::System::Hypervisor::{HV_PROTOCOL_RAW, SOCKADDR_HV};

use super::{Bound, Connected};
use crate::error::error;
use crate::sockaddr::{from_sockaddr_hv, to_sockaddr_hv, AF_HYPERV, SOCKADDR_HV_LEN};
use crate::windows::{resolve_vm, DEFAULT_CONNECT_TIMEOUT};
use crate::{Addr, ConnectOptions, HvAddr, ListenOptions, VmId};

const _: () = assert!(std::mem::size_of::<SOCKADDR_HV>() == SOCKADDR_HV_LEN);

/// Resolves the VM (a name only now), then `socket(AF_HYPERV, SOCK_STREAM,
/// HV_PROTOCOL_RAW)` and a `connect` bounded by `options.timeout`, or
/// [`DEFAULT_CONNECT_TIMEOUT`] without one (see [`connect_within`]).
///
/// The time limit starts after the VM name is resolved. An unanswered connection fails
/// with `TimedOut` and a refused one with `ConnectionRefused`; the socket is closed on
/// every failure, so a retry starts on a fresh one.
pub(crate) fn connect(addr: &HvAddr, options: &ConnectOptions) -> io::Result<Connected> {
    let vm = resolve(&addr.vm)?;
    let timeout = options.timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let socket = new_socket()?;
    connect_within(&socket, &sockaddr(&vm, &addr.service), timeout)
        .map_err(|e| explain_connect(e, addr, timeout))?;
    let local = local_addr(&socket)?;
    Ok(Connected { socket, local })
}

/// Resolves the VM, then `socket(AF_HYPERV, SOCK_STREAM, HV_PROTOCOL_RAW)`, `bind` and
/// `listen`. The local address is `getsockname`'s, or the address asked for (with the
/// VM's GUID) should `getsockname` not give a `SOCKADDR_HV`.
pub(crate) fn bind(addr: &HvAddr, options: &ListenOptions) -> io::Result<Bound> {
    let vm = resolve(&addr.vm)?;
    let socket = new_socket()?;
    socket.bind(&sockaddr(&vm, &addr.service)).map_err(|e| match e.raw_os_error() {
        Some(WSAEADDRINUSE) => error(
            io::ErrorKind::AddrInUse,
            format!("another listener already has service {} of VM {}", addr.service.hyphenated(), addr.vm),
        ),
        _ => e,
    })?;
    socket.listen(options.listen_backlog())?;
    let local = local_addr(&socket).unwrap_or(Addr::HyperV(HvAddr::new(VmId::Guid(vm), addr.service)));
    Ok(Bound { socket, local, file: None })
}

/// The peer of an accepted connection, decoded from the `SOCKADDR_HV` that `accept`
/// filled in: the peer's VM id and service id.
pub(crate) fn peer_addr(raw: &SockAddr) -> Option<HvAddr> {
    from_sockaddr_hv(bytes_of(raw)).map(|(vm, service)| HvAddr::new(VmId::Guid(vm), service))
}

/// The VM's GUID, resolving a name (see [`crate::windows::resolve_vm`]) with an error
/// that names it.
fn resolve(vm: &VmId) -> io::Result<Uuid> {
    resolve_vm(vm).map_err(|e| match vm {
        VmId::Name(name) => error(e.kind(), format!("cannot resolve VM name {name:?}: {e}")),
        VmId::Guid(_) => e,
    })
}

/// `WSASocketW(AF_HYPERV, SOCK_STREAM, HV_PROTOCOL_RAW)` (socket2 makes it
/// non-inheritable). A Windows without Hyper-V sockets gives `Unsupported`.
fn new_socket() -> io::Result<Socket> {
    let domain = Domain::from(i32::from(AF_HYPERV));
    Socket::new(domain, Type::STREAM, Some(Protocol::from(HV_PROTOCOL_RAW as i32))).map_err(|e| {
        match e.raw_os_error() {
            Some(WSAEAFNOSUPPORT | WSAEPROTONOSUPPORT | WSAESOCKTNOSUPPORT) => error(
                io::ErrorKind::Unsupported,
                format!(
                    "Hyper-V sockets (AF_HYPERV) are not available on this system ({e}): they need \
                     Windows 10 1607 / Server 2016 or later, as a Hyper-V host or guest"
                ),
            ),
            _ => e,
        }
    })
}

/// A `SOCKADDR_HV` for `vm` and `service`, laid out by [`to_sockaddr_hv`].
fn sockaddr(vm: &Uuid, service: &Uuid) -> SockAddr {
    let raw = to_sockaddr_hv(vm, service);
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: SOCKADDR_STORAGE (128 bytes) holds the 36 bytes of a SOCKADDR_HV, both are
    // plain bytes, and the length passed on is exactly the bytes written.
    unsafe {
        std::ptr::copy_nonoverlapping(
            raw.as_ptr(),
            (&mut storage as *mut SockAddrStorage).cast::<u8>(),
            raw.len(),
        );
        SockAddr::new(storage, raw.len() as _)
    }
}

/// The bytes of an address that Windows filled in.
fn bytes_of(raw: &SockAddr) -> &[u8] {
    // SAFETY: `as_ptr` points at the address storage, whose first `len()` bytes are initialised.
    unsafe { std::slice::from_raw_parts(raw.as_ptr().cast::<u8>(), raw.len() as usize) }
}

/// `getsockname`, decoded.
fn local_addr(socket: &Socket) -> io::Result<Addr> {
    let raw = socket.local_addr()?;
    peer_addr(&raw)
        .map(Addr::HyperV)
        .ok_or_else(|| error(io::ErrorKind::InvalidData, "getsockname returned a non-Hyper-V address"))
}

/// Connects `socket` to `addr`, giving up with `TimedOut` after `timeout`.
///
/// A blocking Hyper-V `connect` can wait forever when the listener appears after it
/// started, so this is always bounded: `ioctlsocket(FIONBIO)` makes the socket
/// non-blocking, `connect` starts the connection, `select` waits for it to become
/// writable (connected) or to be in the exception set (failed, which is how Windows
/// reports a refused non-blocking connect), `getsockopt(SO_ERROR)` fetches the outcome,
/// and `ioctlsocket(FIONBIO)` makes the socket blocking again on every path. A socket
/// whose connect failed or timed out is still connecting: the caller closes it.
fn connect_within(socket: &Socket, addr: &SockAddr, timeout: Duration) -> io::Result<()> {
    // A timeout no `Instant` can hold (`Duration::MAX`) is no deadline at all.
    let deadline = Instant::now().checked_add(timeout);
    socket.set_nonblocking(true)?;
    let result = match socket.connect(addr) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_connected(socket, deadline),
        Err(e) => Err(e),
    };
    let restored = socket.set_nonblocking(false);
    result.and(restored)
}

/// `select` on `socket` for writability and exceptions until `deadline` (`None`: an
/// hour at a time, for ever), then `getsockopt(SO_ERROR)`.
fn wait_connected(socket: &Socket, deadline: Option<Instant>) -> io::Result<()> {
    loop {
        let left = match deadline {
            Some(deadline) => deadline.saturating_duration_since(Instant::now()),
            None => Duration::from_secs(3600),
        };
        if left.is_zero() {
            return Err(error(io::ErrorKind::TimedOut, "timed out"));
        }
        let mut writable = fd_set(socket);
        let mut failed = fd_set(socket);
        let timeval = TIMEVAL {
            tv_sec: i32::try_from(left.as_secs()).unwrap_or(i32::MAX),
            // Rounded up, so that the wait never ends just before the deadline.
            tv_usec: left.subsec_nanos().div_ceil(1000) as i32,
        };
        // SAFETY: both sets hold one valid socket; there is no read set; `timeval`
        // outlives the call. The first argument is ignored on Windows.
        let ready = unsafe { select(0, std::ptr::null_mut(), &mut writable, &mut failed, &timeval) };
        match ready {
            // SAFETY: WSAGetLastError only reads this thread's last Winsock error.
            SOCKET_ERROR => return Err(io::Error::from_raw_os_error(unsafe { WSAGetLastError() })),
            0 => continue,
            _ => {
                return match socket.take_error()? {
                    Some(e) => Err(e),
                    None if failed.fd_count > 0 => Err(error(
                        io::ErrorKind::ConnectionRefused,
                        "the connection failed with no error code",
                    )),
                    None => Ok(()),
                };
            }
        }
    }
}

/// An `FD_SET` holding `socket` alone.
fn fd_set(socket: &Socket) -> FD_SET {
    let mut set = FD_SET { fd_count: 1, fd_array: [0; 64] };
    set.fd_array[0] = socket.as_raw_socket() as SOCKET;
    set
}

/// A connect error that says what it means for a Hyper-V address.
fn explain_connect(e: io::Error, addr: &HvAddr, timeout: Duration) -> io::Error {
    let service = addr.service.hyphenated();
    match e.raw_os_error() {
        Some(WSAECONNREFUSED) => error(
            io::ErrorKind::ConnectionRefused,
            format!(
                "connection refused: nothing listens on service {service} of VM {} (a VM reaches a \
                 host service only once the host has registered it)",
                addr.vm
            ),
        ),
        Some(WSAETIMEDOUT) => timed_out(addr, timeout),
        Some(WSAENETUNREACH | WSAEHOSTUNREACH | WSAENETDOWN) => {
            error(e.kind(), format!("{e} (is VM {} running, and is Hyper-V available here?)", addr.vm))
        }
        _ if e.kind() == io::ErrorKind::TimedOut => timed_out(addr, timeout),
        _ => e,
    }
}

/// The error for a connect to `addr` that no listener answered within `timeout`.
fn timed_out(addr: &HvAddr, timeout: Duration) -> io::Error {
    error(
        io::ErrorKind::TimedOut,
        format!(
            "timed out after {timeout:?}: no listener answered on service {} of VM {} (Hyper-V \
             keeps a connection to a service nobody listens on waiting instead of refusing it)",
            addr.service.hyphenated(),
            addr.vm
        ),
    )
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr, TcpListener};

    use super::*;

    fn tcp_socket() -> Socket {
        Socket::new(Domain::IPV4, Type::STREAM, None).unwrap()
    }

    #[test]
    fn connect_within_connects_and_leaves_the_socket_blocking() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let socket = tcp_socket();
        connect_within(&socket, &listener.local_addr().unwrap().into(), Duration::from_secs(10)).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        std::io::Write::write_all(&mut peer, b"x").unwrap();
        // A blocking socket waits for the byte instead of failing with WouldBlock.
        let mut buf = [std::mem::MaybeUninit::new(0u8); 1];
        assert_eq!(socket.recv(&mut buf).unwrap(), 1);
    }

    #[test]
    fn connect_within_takes_duration_max_as_no_deadline() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let socket = tcp_socket();
        connect_within(&socket, &listener.local_addr().unwrap().into(), Duration::MAX).unwrap();
        drop(listener.accept().unwrap());
    }

    #[test]
    fn connect_within_reports_refusal_not_timeout() {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port();
        let addr: SockAddr = SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into();
        let err = connect_within(&tcp_socket(), &addr, Duration::from_secs(10)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    }

    #[test]
    fn sockaddr_round_trips_through_socket2() {
        let vm: Uuid = "aabbccdd-eeff-1122-3344-556677889900".parse().unwrap();
        let service = crate::sockaddr::service_from_port(0x50);
        let raw = sockaddr(&vm, &service);
        assert_eq!(raw.family(), AF_HYPERV);
        assert_eq!(bytes_of(&raw), to_sockaddr_hv(&vm, &service));
        assert_eq!(peer_addr(&raw), Some(HvAddr::new(VmId::Guid(vm), service)));
    }

    #[test]
    fn errors_say_what_they_mean_for_hyperv() {
        let addr = HvAddr::new(VmId::PARENT, crate::sockaddr::service_from_port(5000));
        let refused =
            explain_connect(io::Error::from_raw_os_error(WSAECONNREFUSED), &addr, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        assert!(refused.to_string().contains("service 00001388-facb-11e6-bd58-64006a7986d3 of VM parent"));
        let ours =
            explain_connect(error(io::ErrorKind::TimedOut, "timed out"), &addr, Duration::from_millis(1500));
        assert_eq!(ours.kind(), io::ErrorKind::TimedOut);
        assert!(ours.to_string().starts_with("timed out after 1.5s: no listener"), "{ours}");
        let theirs =
            explain_connect(io::Error::from_raw_os_error(WSAETIMEDOUT), &addr, Duration::from_secs(2));
        assert_eq!(theirs.kind(), io::ErrorKind::TimedOut);
    }

    /// Where Hyper-V sockets exist this reaches the loopback partition, where nothing
    /// listens on a random service; elsewhere (Wine, old Windows) it must fail cleanly.
    #[test]
    fn connect_fails_cleanly_without_a_listener() {
        let addr: Addr = "hvsock://loopback/c6d4f0c2-93a4-4a3e-a0a8-1f8c1b0f4e57".parse().unwrap();
        let options = ConnectOptions::new().timeout(Duration::from_millis(300));
        let err = crate::Stream::connect_with(&addr, &options).unwrap_err();
        let kinds = [io::ErrorKind::Unsupported, io::ErrorKind::ConnectionRefused, io::ErrorKind::TimedOut];
        assert!(kinds.contains(&err.kind()), "{err:?}");
        assert!(err.to_string().starts_with(&format!("connect {addr}: ")), "{err}");
    }
}
