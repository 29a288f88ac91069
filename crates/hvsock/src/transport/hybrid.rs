//! Hybrid vsock: the Unix-socket host side of Firecracker, Cloud Hypervisor and
//! vhost-device-vsock.

use std::io::{self, Read};
use std::time::Instant;

use socket2::Socket;

use super::{deadline, unix, Bound, Connected};
use crate::error::error;
use crate::hybrid_proto::{connect_request, ReplyReader};
use crate::{Addr, ConnectOptions, HybridAddr, ListenOptions};

/// Connects to the device's socket, sends `CONNECT <port>\n` and reads the reply one
/// byte at a time, so that nothing is sent or consumed past the `OK` line.
pub(crate) fn connect(addr: &HybridAddr, options: &ConnectOptions) -> io::Result<Connected> {
    let deadline = super::deadline(options);
    let socket = unix::connect_path(&addr.uds, deadline)?;
    let handshake_deadline = Instant::now() + options.handshake_timeout;
    let deadline = deadline.map_or(handshake_deadline, |d| d.min(handshake_deadline));
    handshake(&socket, addr.port, deadline)?;
    Ok(Connected { socket, local: Addr::Unnamed })
}

/// Listens on `<uds>_<port>`, where the device connects when the guest connects to the
/// host's port.
pub(crate) fn bind(addr: &HybridAddr, options: &ListenOptions) -> io::Result<Bound> {
    let (socket, file) = unix::listen_path(&addr.listen_path(), options)?;
    Ok(Bound { socket, local: Addr::Hybrid(addr.clone()), file: Some(file) })
}

fn handshake(socket: &Socket, port: u32, deadline: Instant) -> io::Result<()> {
    let mut reader = ReplyReader::new();
    exchange(socket, port, deadline, &mut reader).map_err(|e| match e.kind() {
        // The device dropped us before answering: it does so when nothing listens.
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe if reader.is_empty() => refused(port),
        _ => e,
    })
}

fn refused(port: u32) -> io::Error {
    error(
        io::ErrorKind::ConnectionRefused,
        format!("connection refused: no listener on guest port {port}, or the VM is not running"),
    )
}

/// Sends the request and reads the reply into `reader`.
fn exchange(socket: &Socket, port: u32, deadline: Instant, reader: &mut ReplyReader) -> io::Result<()> {
    let request = connect_request(port);
    let mut sent = 0;
    while sent < request.len() {
        sent += socket.send(&request.as_bytes()[sent..])?;
    }
    let reply = loop {
        let left = deadline::remaining(Some(deadline)).map_err(|_| no_reply(port, reader))?;
        socket.set_read_timeout(left)?;
        let mut byte = [0u8; 1];
        match (&mut &*socket).read(&mut byte) {
            Ok(0) if reader.is_empty() => return Err(refused(port)),
            Ok(0) => {
                return Err(error(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the device closed the connection in the middle of its reply {:?}",
                        reader.partial()
                    ),
                ))
            }
            Ok(_) => {
                if let Some(reply) = reader.push(byte[0]) {
                    break reply;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return Err(no_reply(port, reader))
            }
            Err(e) => return Err(e),
        }
    };
    socket.set_read_timeout(None)?;
    reply.map(|_| ()).map_err(|e| error(io::ErrorKind::InvalidData, format!("hybrid vsock handshake: {e}")))
}

fn no_reply(port: u32, reader: &ReplyReader) -> io::Error {
    let got = if reader.is_empty() { String::new() } else { format!(" (got {:?} so far)", reader.partial()) };
    error(io::ErrorKind::TimedOut, format!("no reply to CONNECT {port} in time{got}; is the guest up?"))
}
