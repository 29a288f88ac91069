//! The blocking driver: carries out a connect [`Plan`] with blocking system calls, the
//! whole attempt bounded by one deadline.

use std::io;
use std::time::Instant;

use super::plan::{Dial, Greeting, Plan};
use super::Connected;
use crate::error::context;
use crate::{Addr, ConnectOptions};

/// Connects to `addr` once; errors name the address.
pub(crate) fn connect(addr: &Addr, options: &ConnectOptions) -> io::Result<Connected> {
    attempt(addr, options).map_err(|e| context(e, "connect", addr))
}

fn attempt(addr: &Addr, options: &ConnectOptions) -> io::Result<Connected> {
    let plan = Plan::of(addr, options)?;
    let deadline = super::deadline(options);
    let (socket, local) = dial(&plan.dial, options, deadline)?;
    greet(&socket, &plan.greeting, options, deadline)?;
    Ok(Connected { socket, local })
}

/// The connected socket and its local address.
#[cfg(unix)]
fn dial(
    dial: &Dial,
    options: &ConnectOptions,
    deadline: Option<Instant>,
) -> io::Result<(socket2::Socket, Addr)> {
    let socket = if let Dial::Tcp { host, port } = dial {
        super::tcp::connect(host, *port, deadline)?
    } else {
        let (socket, target) = dial.single(options)?;
        super::deadline::connect(&socket, &target, deadline).map_err(|e| dial.explain(e))?;
        socket
    };
    let local = dial.local_addr(&socket)?;
    Ok((socket, local))
}

/// The connected socket and its local address.
#[cfg(windows)]
fn dial(
    dial: &Dial,
    options: &ConnectOptions,
    deadline: Option<Instant>,
) -> io::Result<(socket2::Socket, Addr)> {
    match dial {
        Dial::Tcp { host, port } => {
            let socket = super::tcp::connect(host, *port, deadline)?;
            let local = super::tcp::local_addr(&socket)?;
            Ok((socket, local))
        }
        Dial::HyperV(a) => super::hyperv::connect(a, options).map(|c| (c.socket, c.local)),
    }
}

/// Says what `greeting` says and waits for its answer, by `deadline`.
fn greet(
    socket: &socket2::Socket,
    greeting: &Greeting,
    options: &ConnectOptions,
    deadline: Option<Instant>,
) -> io::Result<()> {
    #[cfg(not(unix))]
    let _ = (socket, options, deadline);
    match *greeting {
        Greeting::None => Ok(()),
        #[cfg(unix)]
        Greeting::Hyperkit { header, port, confirm } => {
            super::plan::header_sent(super::send(socket, &header)?)?;
            match confirm {
                Some(wait) => super::hyperkit::confirm(socket, port, wait),
                None => Ok(()),
            }
        }
        #[cfg(unix)]
        Greeting::Hybrid { port } => {
            super::hybrid::handshake(socket, port, super::hybrid::handshake_deadline(options, deadline))
        }
    }
}
