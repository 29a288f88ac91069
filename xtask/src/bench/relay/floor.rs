//! The least a relay can do, as a yardstick for hvcat's: `cargo xtask bench relay-floor
//! FRONT BACK` accepts on the Unix socket FRONT, connects each connection onwards to
//! BACK, and moves each direction on a thread of its own with blocking `splice(2)` calls
//! through a 256 KiB pipe: no event loop, no readiness, no pool, no idle clock, no
//! limits. What it costs beyond a direct transfer is what the second socket hop costs
//! the kernel; what hvcat costs beyond it is hvcat's.
//!
//! A thread per direction holds 2 stacks and a pipe per connection, so the bench does
//! not measure its memory.

use std::net::Shutdown;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::thread;

use crate::util::{Context, Result};
use crate::{bail, ensure};

/// Bytes per `splice(2)` and the pipe's size (`F_SETPIPE_SZ`), as hvcat's relay has.
const PIPE_SIZE: usize = 256 * 1024;

/// Serves FRONT until killed.
pub fn main(args: &[String]) -> Result<()> {
    let [front, back] = args else { bail!("usage: cargo xtask bench relay-floor FRONT BACK") };
    let back = Path::new(back).to_path_buf();
    let listener = UnixListener::bind(front).with_context(|| format!("bind {front}"))?;
    for conn in listener.incoming() {
        let a = conn?;
        let b = UnixStream::connect(&back).with_context(|| format!("connect {}", back.display()))?;
        for (from, to) in [(a.try_clone()?, b.try_clone()?), (b, a)] {
            // A direction that fails ends the connection both ways, so that no end of
            // the bench waits on it.
            thread::spawn(move || {
                if pump(&from, &to).is_err() {
                    let _ = (from.shutdown(Shutdown::Both), to.shutdown(Shutdown::Both));
                }
            });
        }
    }
    Ok(())
}

/// Moves bytes from `from` to `to` until end-of-file (then `shutdown(2)` of `to` for
/// writing) or an error.
fn pump(from: &UnixStream, to: &UnixStream) -> Result<()> {
    let (read, write) = pipe()?;
    loop {
        let mut held = splice(from.as_raw_fd(), write.as_raw_fd(), PIPE_SIZE)?;
        if held == 0 {
            to.shutdown(Shutdown::Write)?;
            return Ok(());
        }
        while held > 0 {
            let n = splice(read.as_raw_fd(), to.as_raw_fd(), held)?;
            ensure!(n > 0, "the destination took nothing");
            held -= n;
        }
    }
}

/// A blocking pipe of [`PIPE_SIZE`] (`pipe2(2)`, `fcntl(F_SETPIPE_SZ)`).
fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1; 2];
    // SAFETY: `pipe2` writes two descriptors into the two-element array.
    ensure!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == 0, "pipe2 failed");
    // SAFETY: both descriptors were just made, and nothing else owns them.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: `fcntl(F_SETPIPE_SZ)` on an open pipe takes an int.
    unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE as libc::c_int) };
    Ok((read, write))
}

/// One blocking `splice(2)` of at most `len` bytes from `from` to `to`.
fn splice(from: RawFd, to: RawFd, len: usize) -> Result<usize> {
    loop {
        // SAFETY: both descriptors are open; a pipe and a socket take null offsets.
        let n = unsafe {
            libc::splice(from, std::ptr::null_mut(), to, std::ptr::null_mut(), len, libc::SPLICE_F_MOVE)
        };
        match usize::try_from(n) {
            Ok(n) => return Ok(n),
            Err(_) if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(std::io::Error::last_os_error().into()),
        }
    }
}
