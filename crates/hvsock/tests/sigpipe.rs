//! Writing to a peer that has closed fails with `EPIPE` even in a process that keeps
//! `SIGPIPE` at its default action (a C or Python host, say), which the signal would
//! kill. Rust programs ignore `SIGPIPE` from the start, so these tests restore the
//! default first; they are a test binary of their own, since the signal's action is the
//! whole process's.
#![cfg(unix)]

use std::io::{ErrorKind, IoSlice, Write};
use std::os::unix::net::UnixListener;

use hvsock::{Addr, Stream};

/// Gives `SIGPIPE` its default action: the process dies of it.
fn default_sigpipe() {
    // SAFETY: `signal` with `SIG_DFL` installs no handler; it only changes the action.
    let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    assert_ne!(previous, libc::SIG_ERR);
}

/// A listener in a new temporary directory (kept while the first value lives).
fn listener() -> (tempfile::TempDir, UnixListener, Addr) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let listener = UnixListener::bind(&path).unwrap();
    (dir, listener, Addr::Unix(path))
}

fn assert_broken_pipe(result: std::io::Result<usize>, what: &str) {
    match result {
        Err(e) => assert_eq!(e.kind(), ErrorKind::BrokenPipe, "{what}: {e}"),
        Ok(n) => panic!("{what}: wrote {n} bytes to a closed peer"),
    }
}

#[test]
fn blocking_writes_to_a_closed_peer_fail_with_epipe_not_sigpipe() {
    default_sigpipe();
    let (_dir, listener, addr) = listener();
    let stream = Stream::connect(&addr).unwrap();
    drop(listener.accept().unwrap());
    assert_broken_pipe((&stream).write(b"to nobody"), "write");
    assert_broken_pipe((&stream).write_vectored(&[IoSlice::new(b"to "), IoSlice::new(b"nobody")]), "writev");
}

#[cfg(feature = "tokio")]
#[test]
fn async_writes_to_a_closed_peer_fail_with_epipe_not_sigpipe() {
    use tokio::io::AsyncWriteExt;

    default_sigpipe();
    let (_dir, listener, addr) = listener();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut stream = hvsock::tokio::Stream::connect(&addr).await.unwrap();
        drop(listener.accept().unwrap());
        assert_broken_pipe(stream.write(b"to nobody").await, "write");
        let bufs = [IoSlice::new(b"to "), IoSlice::new(b"nobody")];
        assert_broken_pipe(stream.write_vectored(&bufs).await, "writev");
        assert_broken_pipe(stream.try_write(b"to nobody"), "try_write");
    });
}
