//! The async driver: carries out a connect [`Plan`] without blocking a thread, the
//! steps the blocking driver (`transport::connect`) takes, as futures.

use std::io::{self, Read};
use std::mem::MaybeUninit;
use std::ops::ControlFlow;
use std::time::Instant;

use socket2::{Domain, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::error::{context, error};
use crate::hybrid_proto::{connect_request, ReplyReader};
use crate::tokio::retry::with_retries;
use crate::transport::deadline::Backoff;
use crate::transport::plan::{header_sent, hyperkit_verdict, Dial, Greeting, Plan};
use crate::transport::{self, hybrid, tcp};
use crate::{Addr, ConnectOptions};

/// Connects to `addr`, honouring the retries of `options` and, for each attempt, its
/// timeout or [`ConnectOptions::DEFAULT_TIMEOUT`] (name resolution and handshake
/// included).
pub(super) async fn connect(addr: &Addr, options: &ConnectOptions) -> io::Result<(AsyncFd<Socket>, Addr)> {
    with_retries(options, || async {
        let deadline = transport::deadline(options);
        let once = attempt(addr, options, deadline);
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
async fn attempt(
    addr: &Addr,
    options: &ConnectOptions,
    deadline: Option<Instant>,
) -> io::Result<(AsyncFd<Socket>, Addr)> {
    let plan = Plan::of(addr, options)?;
    let io = match &plan.dial {
        Dial::Tcp { host, port } => connect_tcp(host, *port).await?,
        dial => {
            let (socket, target) = dial.single(options)?;
            connect_socket(socket, &target).await.map_err(|e| dial.explain(e))?
        }
    };
    let local = plan.dial.local_addr(io.get_ref())?;
    match plan.greeting {
        Greeting::None => {}
        Greeting::Hyperkit { header, port, confirm } => {
            let sent = io.async_io(Interest::WRITABLE, |socket| transport::send(socket, &header)).await?;
            header_sent(sent)?;
            if let Some(wait) = confirm {
                let peek =
                    io.async_io(Interest::READABLE, |socket| socket.peek(&mut [MaybeUninit::uninit()]));
                hyperkit_verdict(tokio::time::timeout(wait, peek).await.ok(), port, wait)?;
            }
        }
        Greeting::Hybrid { port } => {
            handshake(&io, port, hybrid::handshake_deadline(options, deadline)).await?
        }
    }
    Ok((io, local))
}

/// `connect(2)` on a non-blocking socket, then waits for it to become writable and
/// checks `SO_ERROR`. A Unix listener whose backlog is full answers `EAGAIN`, with
/// nothing to wait on: the `connect(2)` is tried again after 1 ms, 2 ms, ... at most
/// 64 ms apart, until the caller's deadline.
pub(super) async fn connect_socket(socket: Socket, target: &SockAddr) -> io::Result<AsyncFd<Socket>> {
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

/// Resolves `host` (tokio's resolver) and connects to each address in turn until one
/// answers.
async fn connect_tcp(host: &str, port: u16) -> io::Result<AsyncFd<Socket>> {
    let mut last = None;
    for target in tokio::net::lookup_host((host, port)).await? {
        let socket = transport::socket(Domain::for_address(target), Type::STREAM)?;
        match connect_socket(socket, &target.into()).await {
            Ok(io) => return Ok(io),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(tcp::resolved_to_nothing))
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
