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

/// The bridge splices between Unix sockets only where `SIGPIPE` is ignored: a
/// `splice(2)` into a socket whose peer has gone raises it (there is no `MSG_NOSIGNAL`
/// for it). Here, at the default action, the bridge copies, and a vanished destination
/// is an `EPIPE` error, not the death of the process.
#[cfg(feature = "tokio")]
#[test]
fn a_bridge_to_a_closed_peer_fails_with_epipe_not_sigpipe() {
    use std::io::Read;

    default_sigpipe();
    let dir = tempfile::tempdir().unwrap();
    let (front_path, back_path) = (dir.path().join("front"), dir.path().join("back"));
    let front = hvsock::Listener::bind(&Addr::Unix(front_path.clone())).unwrap();
    let back = UnixListener::bind(&back_path).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut client = std::os::unix::net::UnixStream::connect(&front_path).unwrap();
        let a = hvsock::tokio::Stream::from_std(front.accept().unwrap().0).unwrap();
        let b = hvsock::tokio::Stream::connect(&Addr::Unix(back_path.clone())).await.unwrap();
        drop(back.accept().unwrap()); // the destination is gone
        client.write_all(&[7u8; 100_000]).unwrap();
        let err = hvsock::tokio::bridge(&a, &b).await.unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
            "the bridge failed with {err}"
        );
        drop(a);
        // End-of-file, or a reset for the bytes it sent that were never read.
        let end = client.read_to_end(&mut Vec::new());
        assert!(
            matches!(&end, Ok(0)) || end.as_ref().is_err_and(|e| e.kind() == ErrorKind::ConnectionReset),
            "{end:?}"
        );
    });
}
