//! Is a Unix socket file listened on? Asked of the kernel (`NETLINK_SOCK_DIAG`, the
//! interface of `ss -xl`) by the file's device and inode, so the listener never sees a
//! thing — unlike a test connection, which it would accept as a client — and a socket
//! bound under another name and linked into place is found as well as any other.
//!
//! Byte layouts from `<linux/netlink.h>`, `<linux/sock_diag.h>` and `<linux/unix_diag.h>`;
//! all fields in host byte order.

use std::io;

use socket2::{Domain, Protocol, Socket, Type};

use super::dir::FileId;
use crate::error::error;

const NETLINK_SOCK_DIAG: i32 = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// `TCP_LISTEN`, the state of a listening Unix socket too.
const LISTEN: u32 = 10;
const UDIAG_SHOW_VFS: u32 = 0x2;
const UNIX_DIAG_VFS: u16 = 1;
const NLMSG_HDR: usize = 16;
const UNIX_DIAG_MSG: usize = 16;

/// Whether a listening Unix socket in this network namespace is bound to the file `id`.
/// Fails where the kernel has no `unix_diag` (the caller then decides another way).
pub(crate) fn is_listening(id: FileId) -> io::Result<bool> {
    let netlink =
        Socket::new(Domain::from(libc::AF_NETLINK), Type::DGRAM, Some(Protocol::from(NETLINK_SOCK_DIAG)))?;
    netlink.send(&request())?;
    let want = (kernel_dev(id.dev), id.ino);
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = recv(&netlink, &mut buf)?;
        match scan(&buf[..n], want)? {
            Scan::Found => return Ok(true),
            Scan::Done => return Ok(false),
            Scan::More => {}
        }
    }
}

/// `recv(2)` into `buf`, retried on `EINTR`.
fn recv(socket: &Socket, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `u8` and `MaybeUninit<u8>` have the same layout, and recv only writes.
        let uninit = unsafe { &mut *(buf as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) };
        match socket.recv(uninit) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            result => return result,
        }
    }
}

/// A dump request for every listening Unix socket, with its file's device and inode:
/// `nlmsghdr` then `unix_diag_req`.
fn request() -> [u8; NLMSG_HDR + 24] {
    let mut msg = [0u8; NLMSG_HDR + 24];
    msg[0..4].copy_from_slice(&((NLMSG_HDR + 24) as u32).to_ne_bytes());
    msg[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    msg[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    // seq and pid stay 0. unix_diag_req: family, protocol, pad, states, ino, show, cookie.
    msg[16] = libc::AF_UNIX as u8;
    msg[20..24].copy_from_slice(&(1u32 << LISTEN).to_ne_bytes());
    msg[28..32].copy_from_slice(&UDIAG_SHOW_VFS.to_ne_bytes());
    msg[32..40].copy_from_slice(&[0xff; 8]); // no cookie
    msg
}

/// What one datagram of the reply says.
#[derive(Debug, PartialEq, Eq)]
enum Scan {
    Found,
    Done,
    More,
}

/// Looks through one datagram of `unix_diag_msg` replies for a socket whose file is
/// `want` (device as the kernel encodes it, inode).
fn scan(mut buf: &[u8], want: (u32, u64)) -> io::Result<Scan> {
    let bad = || error(io::ErrorKind::InvalidData, "malformed sock_diag reply");
    while buf.len() >= NLMSG_HDR {
        let len = u32_at(buf, 0) as usize;
        let kind = u16::from_ne_bytes([buf[4], buf[5]]);
        if len < NLMSG_HDR || len > buf.len() {
            return Err(bad());
        }
        let body = &buf[NLMSG_HDR..len];
        match kind {
            NLMSG_DONE => return Ok(Scan::Done),
            NLMSG_ERROR => {
                let errno =
                    body.get(..4).map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]])).ok_or_else(bad)?;
                return Err(io::Error::from_raw_os_error(-errno));
            }
            SOCK_DIAG_BY_FAMILY if vfs(body).ok_or_else(bad)? == Some(want) => return Ok(Scan::Found),
            _ => {}
        }
        buf = &buf[align(len).min(buf.len())..];
    }
    Ok(Scan::More)
}

/// The `UNIX_DIAG_VFS` attribute of one `unix_diag_msg`: (device, inode); `None` for a
/// socket with no file. `None` outside when the message is malformed.
fn vfs(body: &[u8]) -> Option<Option<(u32, u64)>> {
    let mut attrs = body.get(UNIX_DIAG_MSG..)?;
    while attrs.len() >= 4 {
        let len = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
        let kind = u16::from_ne_bytes([attrs[2], attrs[3]]);
        if len < 4 || len > attrs.len() {
            return None;
        }
        if kind == UNIX_DIAG_VFS && len >= 12 {
            return Some(Some((u32_at(attrs, 8), u64::from(u32_at(attrs, 4)))));
        }
        attrs = &attrs[align(len).min(attrs.len())..];
    }
    Some(None)
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// A `st_dev` as user space sees it (glibc's encoding) in the kernel's own encoding,
/// which `unix_diag` reports: major in the top 12 bits, minor in the low 20.
fn kernel_dev(st_dev: u64) -> u32 {
    let major = ((st_dev >> 8) & 0xfff) | ((st_dev >> 32) & !0xfff);
    let minor = (st_dev & 0xff) | ((st_dev >> 12) & !0xff);
    ((major << 20) | (minor & 0xf_ffff)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u16, body: &[u8]) -> Vec<u8> {
        let mut msg = Vec::new();
        msg.extend(((NLMSG_HDR + body.len()) as u32).to_ne_bytes());
        msg.extend(kind.to_ne_bytes());
        msg.extend([0u8; 10]);
        msg.extend(body);
        while msg.len() % 4 != 0 {
            msg.push(0);
        }
        msg
    }

    fn socket_with_file(dev: u32, ino: u32) -> Vec<u8> {
        let mut body = vec![0u8; UNIX_DIAG_MSG];
        body.extend(12u16.to_ne_bytes());
        body.extend(UNIX_DIAG_VFS.to_ne_bytes());
        body.extend(ino.to_ne_bytes());
        body.extend(dev.to_ne_bytes());
        message(SOCK_DIAG_BY_FAMILY, &body)
    }

    #[test]
    fn finds_the_file_among_the_listeners() {
        let mut reply = socket_with_file(7, 1);
        reply.extend(message(SOCK_DIAG_BY_FAMILY, &[0u8; UNIX_DIAG_MSG])); // abstract: no file
        reply.extend(socket_with_file(7, 99));
        assert_eq!(scan(&reply, (7, 99)).unwrap(), Scan::Found);
        assert_eq!(scan(&reply, (8, 99)).unwrap(), Scan::More);
        reply.extend(message(NLMSG_DONE, &[0; 4]));
        assert_eq!(scan(&reply, (7, 2)).unwrap(), Scan::Done);
    }

    #[test]
    fn malformed_and_error_replies_are_errors() {
        let mut short = socket_with_file(7, 1);
        short[0] = 200; // longer than the datagram
        assert_eq!(scan(&short, (7, 1)).unwrap_err().kind(), io::ErrorKind::InvalidData);
        let refused = message(NLMSG_ERROR, &(-libc::ENOENT).to_ne_bytes());
        assert_eq!(scan(&refused, (7, 1)).unwrap_err().raw_os_error(), Some(libc::ENOENT));
        assert!(vfs(&[0u8; 3]).is_none());
    }

    #[test]
    fn device_numbers_in_the_kernel_encoding() {
        assert_eq!(kernel_dev(0xfe00), 254 << 20); // 254:0
        assert_eq!(kernel_dev(0x803), (8 << 20) | 3); // 8:3
        assert_eq!(kernel_dev(0x101_0a05), (0x10a << 20) | 0x1005); // 266:4101
    }

    #[test]
    fn a_real_listener_is_found_by_its_file_and_a_closed_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        use std::os::unix::fs::MetadataExt;
        let id = FileId { dev: meta.dev(), ino: meta.ino() };
        assert!(is_listening(id).unwrap(), "the kernel does not list a live listener");
        drop(listener);
        assert!(!is_listening(id).unwrap(), "a closed listener is still listed");
    }
}
