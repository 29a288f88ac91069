//! How to connect to each kind of address, as data: which socket to open, where to
//! connect it, what to say first, what to wait for, and how to explain a failure.
//!
//! Nothing here does I/O. Two drivers carry a [`Plan`] out: the blocking one in
//! [`super::connect`] and the async one in `crate::tokio` (Unix). A new transport adds
//! its case to [`Plan::of`] and the helpers its steps name; neither driver changes
//! unless it brings a new kind of step.

use std::io;
#[cfg(unix)]
use std::path::PathBuf;
#[cfg(unix)]
use std::time::Duration;

#[cfg(unix)]
use socket2::{Domain, SockAddr, Socket, Type};

use crate::error::error;
#[cfg(unix)]
use crate::HyperkitAddr;
use crate::{Addr, ConnectOptions};

/// The steps of one connection attempt.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Where to connect.
    pub dial: Dial,
    /// What to send first, and what answer to wait for.
    pub greeting: Greeting,
}

/// Where a connection goes.
#[derive(Debug)]
pub(crate) enum Dial {
    /// A vsock address: `socket(AF_VSOCK)` (with the kernel's connect timeout raised to
    /// the caller's) and `connect(2)`.
    #[cfg(target_os = "linux")]
    Vsock(crate::VsockAddr),
    /// The Unix socket at this path.
    #[cfg(unix)]
    Unix(PathBuf),
    /// A TCP host (a name is resolved first) and port: each address in turn until one
    /// answers.
    Tcp { host: String, port: u16 },
    /// A Hyper-V socket (Windows; the VM name is resolved first).
    #[cfg(windows)]
    HyperV(crate::HvAddr),
}

/// What is said once the socket is connected.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Greeting {
    /// Nothing: the connection is ready.
    None,
    #[cfg(unix)]
    /// hyperkit's 18-byte header, which it reads with a single `read(2)`, so it must go
    /// in one `send(2)`. hyperkit never answers; with `confirm`, the driver waits that
    /// long for the close by which it says nothing listens (see [`hyperkit_verdict`]).
    Hyperkit { header: [u8; HyperkitAddr::HEADER_LEN], port: u32, confirm: Option<Duration> },
    #[cfg(unix)]
    /// The hybrid-vsock handshake: `CONNECT <port>\n`, then the device's `OK <n>\n`, read
    /// one byte at a time (see [`super::hybrid::step`]).
    Hybrid { port: u32 },
}

impl Plan {
    /// The plan for `addr`, or why this platform cannot connect to it.
    pub(crate) fn of(addr: &Addr, options: &ConnectOptions) -> io::Result<Plan> {
        let plan = |dial, greeting| Ok(Plan { dial, greeting });
        #[cfg(not(unix))]
        let _ = options;
        match addr {
            #[cfg(target_os = "linux")]
            Addr::Vsock(a) => plan(Dial::Vsock(*a), Greeting::None),
            #[cfg(not(target_os = "linux"))]
            Addr::Vsock(_) => Err(crate::error::unsupported("AF_VSOCK (Linux only)")),
            #[cfg(unix)]
            Addr::Unix(path) => plan(Dial::Unix(path.clone()), Greeting::None),
            #[cfg(unix)]
            Addr::Hyperkit(a) => plan(
                Dial::Unix(a.connect_path()),
                Greeting::Hyperkit { header: a.connect_header(), port: a.port, confirm: options.confirm },
            ),
            #[cfg(unix)]
            Addr::Hybrid(a) => plan(Dial::Unix(a.uds.clone()), Greeting::Hybrid { port: a.port }),
            #[cfg(not(unix))]
            Addr::Unix(_) => Err(crate::error::unsupported("Unix sockets")),
            #[cfg(not(unix))]
            Addr::Hyperkit(_) => Err(crate::error::unsupported("hyperkit (Unix sockets)")),
            #[cfg(not(unix))]
            Addr::Hybrid(_) => Err(crate::error::unsupported("hybrid vsock (Unix sockets)")),
            Addr::Tcp(a) => plan(Dial::Tcp { host: a.host.clone(), port: a.port }, Greeting::None),
            #[cfg(windows)]
            Addr::HyperV(a) => plan(Dial::HyperV(a.clone()), Greeting::None),
            #[cfg(not(windows))]
            Addr::HyperV(_) => Err(crate::error::unsupported("Hyper-V sockets (AF_HYPERV, Windows only)")),
            Addr::Unnamed => {
                Err(error(io::ErrorKind::InvalidInput, "an unnamed address cannot be connected to"))
            }
        }
    }
}

#[cfg(unix)]
impl Dial {
    /// For a dial to one socket address (vsock, Unix): the socket to connect and where,
    /// with `options` applied. (A TCP host is resolved first, and each of its addresses
    /// tried in turn: see the drivers.)
    pub(crate) fn single(&self, options: &ConnectOptions) -> io::Result<(Socket, SockAddr)> {
        #[cfg(not(target_os = "linux"))]
        let _ = options;
        match self {
            #[cfg(target_os = "linux")]
            Dial::Vsock(a) => Ok((super::vsock::socket(options)?, super::vsock::sockaddr(a))),
            Dial::Unix(path) => Ok((super::socket(Domain::UNIX, Type::STREAM)?, SockAddr::unix(path)?)),
            Dial::Tcp { .. } => Err(error(io::ErrorKind::InvalidInput, "a TCP host has no single address")),
        }
    }

    /// What a failed `connect(2)` of this dial means, in words (see the transports'
    /// `explain`).
    pub(crate) fn explain(&self, err: io::Error) -> io::Error {
        match self {
            #[cfg(target_os = "linux")]
            Dial::Vsock(a) => super::vsock::explain(err, a),
            Dial::Unix(path) => super::unix::explain(err, path),
            Dial::Tcp { .. } => err,
        }
    }

    /// The address a connected socket of this dial is known by: `getsockname(2)` for
    /// vsock and TCP; Unix clients are unnamed.
    pub(crate) fn local_addr(&self, socket: &Socket) -> io::Result<Addr> {
        match self {
            #[cfg(target_os = "linux")]
            Dial::Vsock(_) => super::vsock::local_addr(socket),
            Dial::Unix(_) => Ok(Addr::Unnamed),
            Dial::Tcp { .. } => super::tcp::local_addr(socket),
        }
    }
}

#[cfg(unix)]
/// Checks that hyperkit's header went out whole, in the one `send(2)` it must take.
pub(crate) fn header_sent(sent: usize) -> io::Result<()> {
    if sent == HyperkitAddr::HEADER_LEN {
        Ok(())
    } else {
        Err(error(
            io::ErrorKind::WriteZero,
            format!(
                "hyperkit took {sent} of the {} header bytes; it needs all in one write",
                HyperkitAddr::HEADER_LEN
            ),
        ))
    }
}

#[cfg(unix)]
/// hyperkit's answer to a connection, from a peek at the socket after the header went
/// out: `None` if nothing came within the wait, else what `recv(MSG_PEEK)` returned.
///
/// hyperkit accepts every connection and, if nothing listens on the guest port (or the
/// VM is not running), closes it within milliseconds: end-of-file (or a reset) before
/// any byte is that refusal. Data, or silence for the whole wait, is taken as a
/// listener (logged at `info` level, as it is a guess).
pub(crate) fn hyperkit_verdict(
    peeked: Option<io::Result<usize>>,
    port: u32,
    wait: Duration,
) -> io::Result<()> {
    let refused = || {
        error(
            io::ErrorKind::ConnectionRefused,
            format!(
                "connection refused: hyperkit closed the connection (no listener on guest port {port}, or \
                 the VM is not running)"
            ),
        )
    };
    let silent = || {
        tracing::info!(
            "guest port {port}: not closed within {} ms: taken as listening (hyperkit never confirms a \
             connection)",
            wait.as_millis()
        );
        Ok(())
    };
    match peeked {
        None => silent(),
        Some(Ok(1..)) => Ok(()),
        Some(Ok(0)) => Err(refused()),
        Some(Err(e)) if e.kind() == io::ErrorKind::ConnectionReset => Err(refused()),
        Some(Err(e)) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => silent(),
        Some(Err(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_has_one_plan() {
        let options = ConnectOptions::new();
        let tcp = Plan::of(&"tcp://localhost:80".parse().unwrap(), &options).unwrap();
        assert!(matches!(&tcp.dial, Dial::Tcp { host, port: 80 } if host == "localhost"));
        assert_eq!(tcp.greeting, Greeting::None);
        let unnamed = Plan::of(&Addr::Unnamed, &options).unwrap_err();
        assert_eq!(unnamed.kind(), io::ErrorKind::InvalidInput);
        #[cfg(unix)]
        {
            let hybrid = Plan::of(&"hybrid://:52/run/v.sock".parse().unwrap(), &options).unwrap();
            assert!(matches!(&hybrid.dial, Dial::Unix(p) if p == std::path::Path::new("/run/v.sock")));
            assert_eq!(hybrid.greeting, Greeting::Hybrid { port: 52 });
            let confirm = options.clone().confirm(Duration::from_millis(250));
            let hyperkit = Plan::of(&"hyperkit://:80/vm".parse().unwrap(), &confirm).unwrap();
            assert!(matches!(&hyperkit.dial, Dial::Unix(p) if p == std::path::Path::new("/vm/connect")));
            assert_eq!(
                hyperkit.greeting,
                Greeting::Hyperkit {
                    header: *b"00000003.00000050\n",
                    port: 80,
                    confirm: Some(Duration::from_millis(250))
                }
            );
            let hyperv = Plan::of(&"hvsock://parent/80".parse().unwrap(), &options).unwrap_err();
            assert_eq!(hyperv.kind(), io::ErrorKind::Unsupported);
        }
    }

    #[test]
    #[cfg(unix)]
    fn hyperkit_says_refused_by_closing_at_once() {
        let refused = hyperkit_verdict(Some(Ok(0)), 80, Duration::ZERO).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        assert!(refused.to_string().contains("no listener on guest port 80"), "{refused}");
        let reset = hyperkit_verdict(Some(Err(io::ErrorKind::ConnectionReset.into())), 80, Duration::ZERO)
            .unwrap_err();
        assert_eq!(reset.kind(), io::ErrorKind::ConnectionRefused);
        assert!(hyperkit_verdict(None, 80, Duration::ZERO).is_ok());
        assert!(hyperkit_verdict(Some(Ok(1)), 80, Duration::ZERO).is_ok());
        assert!(hyperkit_verdict(Some(Err(io::ErrorKind::WouldBlock.into())), 80, Duration::ZERO).is_ok());
        let other = hyperkit_verdict(Some(Err(io::ErrorKind::PermissionDenied.into())), 80, Duration::ZERO)
            .unwrap_err();
        assert_eq!(other.kind(), io::ErrorKind::PermissionDenied);
    }

    #[test]
    #[cfg(unix)]
    fn a_header_goes_whole_or_the_connect_fails() {
        assert!(header_sent(HyperkitAddr::HEADER_LEN).is_ok());
        let short = header_sent(5).unwrap_err();
        assert_eq!(short.kind(), io::ErrorKind::WriteZero);
        assert_eq!(short.to_string(), "hyperkit took 5 of the 18 header bytes; it needs all in one write");
    }
}
