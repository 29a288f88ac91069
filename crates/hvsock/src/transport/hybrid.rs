//! Hybrid vsock: the Unix-socket host side of Firecracker, Cloud Hypervisor and
//! vhost-device-vsock.

use std::io::{self, Read};
use std::ops::ControlFlow;
use std::time::Instant;

use socket2::Socket;

use super::{deadline, Bound};
use crate::error::error;
use crate::hybrid_proto::{connect_request, ReplyReader};
use crate::{Addr, ConnectOptions, HybridAddr, ListenOptions};

/// Listens on `<uds>_<port>`, where the device connects when the guest connects to the
/// host's port.
pub(crate) fn bind(addr: &HybridAddr, options: &ListenOptions) -> io::Result<Bound> {
    let (socket, file) = super::socket_file::listen(&addr.listen_path(), options, socket2::Type::STREAM)?;
    Ok(Bound { socket, local: Addr::Hybrid(addr.clone()), file: Some(file) })
}

/// The handshake, starting now, must be over by the handshake timeout and by the
/// connect's `deadline`. `None`: neither sets a limit (`Duration::MAX` is none).
pub(crate) fn handshake_deadline(options: &ConnectOptions, deadline: Option<Instant>) -> Option<Instant> {
    let handshake = Instant::now().checked_add(options.handshake_timeout);
    [deadline, handshake].into_iter().flatten().min()
}

/// The handshake on a connected `socket`, by `deadline` (`None`: no limit): sends
/// `CONNECT <port>\n` and reads the reply one byte at a time, so that nothing is sent
/// or consumed past the `OK` line.
pub(crate) fn handshake(socket: &Socket, port: u32, deadline: Option<Instant>) -> io::Result<()> {
    let mut reader = ReplyReader::new();
    exchange(socket, port, deadline, &mut reader).map_err(|e| handshake_error(e, port, &reader))
}

fn exchange(
    socket: &Socket,
    port: u32,
    deadline: Option<Instant>,
    reader: &mut ReplyReader,
) -> io::Result<()> {
    let request = connect_request(port);
    let mut sent = 0;
    while sent < request.len() {
        sent += super::send(socket, &request.as_bytes()[sent..])?;
    }
    loop {
        let left = deadline::remaining(deadline)?;
        socket.set_read_timeout(left)?;
        let mut byte = [0u8; 1];
        let read = (&mut &*socket).read(&mut byte);
        if let ControlFlow::Break(done) = step(reader, read, byte[0], port) {
            socket.set_read_timeout(None)?;
            return done;
        }
    }
}

/// One read of the reply: `Continue` for more, or `Break` with the outcome.
pub(crate) fn step(
    reader: &mut ReplyReader,
    read: io::Result<usize>,
    byte: u8,
    port: u32,
) -> ControlFlow<io::Result<()>> {
    let outcome = match read {
        Ok(0) if reader.is_empty() => Err(refused(port)),
        Ok(0) => Err(error(
            io::ErrorKind::UnexpectedEof,
            format!("the device closed the connection in the middle of its reply {:?}", reader.partial()),
        )),
        Ok(_) => match reader.push(byte) {
            None => return ControlFlow::Continue(()),
            Some(reply) => reply
                .map(|_| ())
                .map_err(|e| error(io::ErrorKind::InvalidData, format!("hybrid vsock handshake: {e}"))),
        },
        Err(e) if e.kind() == io::ErrorKind::Interrupted => return ControlFlow::Continue(()),
        Err(e) => Err(e),
    };
    ControlFlow::Break(outcome)
}

/// Explains a failed handshake: a reset or a close before any reply is how a device
/// says nothing listens on the guest port; running out of time is "no reply".
pub(crate) fn handshake_error(err: io::Error, port: u32, reader: &ReplyReader) -> io::Error {
    use io::ErrorKind::*;
    match err.kind() {
        ConnectionReset | BrokenPipe if reader.is_empty() => refused(port),
        WouldBlock | TimedOut => {
            let got = if reader.is_empty() {
                String::new()
            } else {
                format!(" (got {:?} so far)", reader.partial())
            };
            error(TimedOut, format!("no reply to CONNECT {port} in time{got}; is the guest up?"))
        }
        _ => err,
    }
}

fn refused(port: u32) -> io::Error {
    error(
        io::ErrorKind::ConnectionRefused,
        format!("connection refused: no listener on guest port {port}, or the VM is not running"),
    )
}
