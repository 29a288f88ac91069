//! Moving bytes between a file descriptor and a connection with as few copies as the
//! kernel allows: `sendfile(2)` from a regular file, `splice(2)` to and from a pipe,
//! `read(2)`/`write(2)` otherwise (and on systems without them).

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd};

use hvsock::Stream;

#[cfg(target_os = "linux")]
use hvtools::{named, CHUNK};

use hvsock::idle::Activity;

/// Copies everything `from` has into `to` until end-of-file: `sendfile(2)` when `from`
/// is a regular file, `splice(2)` when it is a pipe, `read(2)`/`send(2)` otherwise, and
/// always to an `AF_VSOCK` socket. Errors name `what` (the source) and the peer. Every
/// transfer is recorded in `activity`.
///
/// `AF_VSOCK` has no `sendpage`: Linux 6.1 feeds a `sendfile` or `splice` into it one
/// page at a time, and every 4 KiB becomes a virtio-vsock packet of its own. In the
/// lab's guest (Linux 6.1 under TCG) that made hvcat 39 MB/s over vsock_loopback; with
/// 256 KiB writes it is 105-112 MB/s (docs/performance.md).
pub fn to_socket(from: BorrowedFd<'_>, what: &str, to: &Stream, activity: &Activity) -> io::Result<u64> {
    let peer = hvtools::serve::peer_name(to);
    #[cfg(target_os = "linux")]
    if !matches!(to.local_addr(), hvsock::Addr::Vsock(_)) {
        let out = to.as_socket().as_raw_fd();
        let fast = match kind(from)? {
            Kind::File => Some(move_loop(activity, || {
                // SAFETY: both descriptors are open; a null offset uses the file position.
                unsafe { libc::sendfile(out, from.as_raw_fd(), std::ptr::null_mut(), CHUNK) }
            })),
            Kind::Pipe => Some(move_loop(activity, || splice(from.as_raw_fd(), out))),
            Kind::Other => None,
        };
        match fast {
            Some(Ok(n)) => return Ok(n),
            Some(Err((0, e))) if unsupported(&e) => {} // nothing moved: fall back below
            Some(Err((_, e))) => return Err(named(e, &format!("sending {what} to"), &peer)),
            None => {}
        }
    }
    hvtools::pipe(Fd(from), what, activity.count(to), &peer)
}

/// Copies `from` into `to` until end-of-file with `recv(2)`/`write(2)`. Errors name the
/// peer and `what` (the destination). Every receive is recorded in `activity`.
///
/// No `splice(2)` on this side: a guest hvcat sending through vhost-device-vsock to a
/// host hvcat whose output was spliced into a pipe left the last 128 KiB of 16 MiB
/// undelivered until the connection closed (3 of 3 lab runs), while the same transfer
/// into a file, which takes this path, never stalled. Until the cause is known the
/// receiving side takes the path that was never seen to stall.
pub fn from_socket(from: &Stream, to: BorrowedFd<'_>, what: &str, activity: &Activity) -> io::Result<u64> {
    hvtools::pipe(activity.count(from), &hvtools::serve::peer_name(from), Fd(to), what)
}

#[cfg(target_os = "linux")]
#[derive(PartialEq, Eq)]
enum Kind {
    File,
    Pipe,
    Other,
}

/// `fstat(2)`: what kind of file `fd` is.
#[cfg(target_os = "linux")]
fn kind(fd: BorrowedFd<'_>) -> io::Result<Kind> {
    // SAFETY: an all-zero stat is a valid value for fstat to overwrite.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open and `stat` is valid for writes.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut stat) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(match stat.st_mode & libc::S_IFMT {
        libc::S_IFREG => Kind::File,
        libc::S_IFIFO => Kind::Pipe,
        _ => Kind::Other,
    })
}

/// `splice(2)` of up to one chunk from `input` to `output`.
#[cfg(target_os = "linux")]
fn splice(input: i32, output: i32) -> isize {
    // SAFETY: both descriptors are open; null offsets use the current positions.
    unsafe {
        libc::splice(input, std::ptr::null_mut(), output, std::ptr::null_mut(), CHUNK, libc::SPLICE_F_MOVE)
    }
}

/// Calls `step` (a system call returning a byte count, 0 at end-of-file, -1 on error)
/// until end-of-file, recording each move in `activity`; on error returns what had
/// moved and the error.
#[cfg(target_os = "linux")]
fn move_loop(activity: &Activity, mut step: impl FnMut() -> isize) -> Result<u64, (u64, io::Error)> {
    let mut total = 0u64;
    loop {
        match step() {
            0 => return Ok(total),
            n if n > 0 => {
                total += n as u64;
                activity.moved();
            }
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err((total, e));
                }
            }
        }
    }
}

/// Errors that mean "this pair of files cannot do that", not "the transfer failed".
#[cfg(target_os = "linux")]
fn unsupported(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP))
}

/// A borrowed descriptor as a reader and writer, for the plain copy.
struct Fd<'a>(BorrowedFd<'a>);

impl Read for Fd<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for writes of its length; the descriptor is open.
        let n = unsafe { libc::read(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

impl Write for Fd<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for reads of its length; the descriptor is open.
        let n = unsafe { libc::write(self.0.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
