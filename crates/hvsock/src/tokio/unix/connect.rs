//! Connecting without blocking a thread, on every Unix transport.

use std::io::{self, Read};
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use socket2::{Domain, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::error::{context, error};
use crate::hybrid_proto::{connect_request, ReplyReader};
use crate::tokio::retry::with_retries;
use crate::transport::deadline::Backoff;
use crate::transport::{self, hybrid, tcp, unix};
use crate::{Addr, ConnectOptions};

/// Connects to `addr`, honouring the retries of `options` and, for each attempt, its
/// timeout or [`ConnectOptions::DEFAULT_TIMEOUT`] (name resolution and handshake
/// included).
pub(super) async fn connect(addr: &Addr, options: &ConnectOptions) -> io::Result<(AsyncFd<Socket>, Addr)> {
    with_retries(options, || async {
        let deadline = transport::deadline(options);
        let once = connect_once(addr, options, deadline);
        let result = match deadline {
            Some(deadline) => {
                tokio::time::timeout_at(deadline.into(), once).await.unwrap_or_else(|_| Err(timed_out()))
            }
            None => once.await,
        };
        result.map_err(|e| context(e, "connect", addr))
    })
    .await
}

fn timed_out() -> io::Error {
    error(io::ErrorKind::TimedOut, "timed out")
}

/// One attempt; `deadline` (the caller enforces it) bounds the hybrid handshake too.
async fn connect_once(
    addr: &Addr,
    options: &ConnectOptions,
    deadline: Option<Instant>,
) -> io::Result<(AsyncFd<Socket>, Addr)> {
    match addr {
        #[cfg(target_os = "linux")]
        Addr::Vsock(a) => {
            use crate::transport::vsock;
            let io = connect_socket(vsock::socket(options)?, &vsock::sockaddr(a))
                .await
                .map_err(|e| vsock::explain(e, a))?;
            let local = vsock::local_addr(io.get_ref())?;
            Ok((io, local))
        }
        #[cfg(not(target_os = "linux"))]
        Addr::Vsock(_) => Err(crate::error::unsupported("AF_VSOCK (Linux only)")),
        Addr::HyperV(_) => Err(crate::error::unsupported("Hyper-V sockets (AF_HYPERV, Windows only)")),
        Addr::Unix(path) => Ok((connect_unix(path).await?, Addr::Unnamed)),
        Addr::Hyperkit(a) => {
            let io = connect_unix(&a.connect_path()).await?;
            send_in_one_write(&io, &a.connect_header()).await?;
            Ok((io, Addr::Unnamed))
        }
        Addr::Hybrid(a) => {
            let io = connect_unix(&a.uds).await?;
            handshake(&io, a.port, hybrid::handshake_deadline(options, deadline)).await?;
            Ok((io, Addr::Unnamed))
        }
        Addr::Tcp(a) => connect_tcp(&a.host, a.port).await,
        Addr::Unnamed => Err(error(io::ErrorKind::InvalidInput, "an unnamed address cannot be connected to")),
    }
}

/// `connect(2)` on a non-blocking socket, then waits for it to become writable and
/// checks `SO_ERROR`. A Unix listener whose backlog is full answers `EAGAIN`, with
/// nothing to wait on: the `connect(2)` is tried again after 1 ms, 2 ms, ... at most
/// 64 ms apart, until the caller's deadline.
async fn connect_socket(socket: Socket, target: &SockAddr) -> io::Result<AsyncFd<Socket>> {
    socket.set_nonblocking(true)?;
    let mut backoff = Backoff::new();
    loop {
        match socket.connect(target) {
            Ok(()) => return super::register(socket),
            Err(e)
                if e.raw_os_error() == Some(libc::EINPROGRESS) || e.kind() == io::ErrorKind::Interrupted =>
            {
                let io = super::register(socket)?;
                drop(io.writable().await?);
                return match io.get_ref().take_error()? {
                    Some(err) => Err(err),
                    None => Ok(io),
                };
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => tokio::time::sleep(backoff.next()).await,
            Err(e) => return Err(e),
        }
    }
}

async fn connect_unix(path: &Path) -> io::Result<AsyncFd<Socket>> {
    let socket = transport::socket(Domain::UNIX, Type::STREAM)?;
    connect_socket(socket, &SockAddr::unix(path)?).await.map_err(|e| unix::explain(e, path))
}

async fn connect_tcp(host: &str, port: u16) -> io::Result<(AsyncFd<Socket>, Addr)> {
    let mut last = None;
    for target in tokio::net::lookup_host((host, port)).await? {
        let socket = transport::socket(Domain::for_address(target), Type::STREAM)?;
        match connect_socket(socket, &target.into()).await {
            Ok(io) => {
                let local = io
                    .get_ref()
                    .local_addr()?
                    .as_socket()
                    .map_or(Addr::Unnamed, |s| Addr::Tcp(tcp::addr_of(&s)));
                return Ok((io, local));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| error(io::ErrorKind::NotFound, "the host name resolved to no address")))
}

/// hyperkit reads its header with a single `read(2)`, so it must go in one `send(2)`.
async fn send_in_one_write(io: &AsyncFd<Socket>, header: &[u8]) -> io::Result<()> {
    let sent = io.async_io(Interest::WRITABLE, |socket| transport::send(socket, header)).await?;
    if sent == header.len() {
        Ok(())
    } else {
        Err(error(
            io::ErrorKind::WriteZero,
            format!("hyperkit took {sent} of the {} header bytes", header.len()),
        ))
    }
}

/// The hybrid-vsock handshake, by `deadline` (`None`: no limit): the same steps as the
/// blocking one.
async fn handshake(io: &AsyncFd<Socket>, port: u32, deadline: Option<Instant>) -> io::Result<()> {
    let mut reader = ReplyReader::new();
    let exchange = async {
        let request = connect_request(port);
        let mut sent = 0;
        while sent < request.len() {
            let rest = &request.as_bytes()[sent..];
            sent += io.async_io(Interest::WRITABLE, |socket| transport::send(socket, rest)).await?;
        }
        loop {
            let mut byte = [0u8; 1];
            let read = io.async_io(Interest::READABLE, |socket| (&mut &*socket).read(&mut byte)).await;
            if let ControlFlow::Break(done) = hybrid::step(&mut reader, read, byte[0], port) {
                return done;
            }
        }
    };
    let outcome = match deadline {
        Some(deadline) => {
            tokio::time::timeout_at(deadline.into(), exchange).await.unwrap_or_else(|_| Err(timed_out()))
        }
        None => exchange.await,
    };
    outcome.map_err(|e| hybrid::handshake_error(e, port, &reader))
}
