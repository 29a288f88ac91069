//! Message mode where there is none: every system but Linux (macOS has no Unix
//! `SOCK_SEQPACKET`, Windows no vsock). Each call fails with `ErrorKind::Unsupported`.

use std::io;
use std::mem::MaybeUninit;

use socket2::{SockAddr, Socket};

use super::message::{Family, Raw};
use crate::transport::Bound;
use crate::{Addr, ConnectOptions, ListenOptions};

fn unsupported() -> io::Error {
    crate::error::unsupported("message mode (SOCK_SEQPACKET: Linux vsock and Unix sockets)")
}

pub(crate) fn dial(addr: &Addr, _: &ConnectOptions) -> io::Result<(Socket, Family, SockAddr)> {
    Family::of(addr)?;
    Err(unsupported())
}

pub(crate) fn explain_connect(err: io::Error, _: &Addr) -> io::Error {
    err
}

pub(crate) fn local_addr(_: &Socket, _: Family) -> io::Result<Addr> {
    Err(unsupported())
}

pub(crate) fn bind(addr: &Addr, _: &ListenOptions) -> io::Result<(Bound, Family)> {
    Family::of(addr)?;
    Err(unsupported())
}

pub(crate) fn accepted(_: &Socket, _: Family) -> io::Result<()> {
    Err(unsupported())
}

pub(crate) fn recv(_: &Socket, _: &mut [MaybeUninit<u8>], _: bool) -> io::Result<Raw> {
    Err(unsupported())
}

pub(crate) fn explain_peek(err: io::Error, _: Family) -> io::Error {
    err
}

pub(crate) fn send(_: &Socket, _: &[u8]) -> io::Result<usize> {
    Err(unsupported())
}

pub(crate) fn largest_message(_: &Socket) -> io::Result<usize> {
    Err(unsupported())
}

pub(crate) fn peer_gone(_: &Socket, _: Family) -> bool {
    false
}
