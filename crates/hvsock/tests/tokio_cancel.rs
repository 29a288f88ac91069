//! Cancellation of async operations leaves no descriptor and no connection behind.
//! Alone in its test binary, so that counting open descriptors sees only its own.
#![cfg(unix)]

use std::io::Read;
use std::time::Duration;

use hvsock::tokio::{Listener, Stream};
use hvsock::Addr;
use hvsock_testkit::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn cancelled_accept_connect_and_read_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let device = FakeDevice::new(dir.path());
    let rt = runtime();
    rt.block_on(async {
        let addr = Addr::Unix(dir.path().join("s"));
        let listener = Listener::bind(&addr).unwrap();
        let before = open_fds();
        for _ in 0..50 {
            // A pending accept, dropped.
            assert!(tokio::time::timeout(Duration::from_millis(2), listener.accept()).await.is_err());
            // A pending read, dropped; the stream still works afterwards.
            let (client, accepted) = tokio::join!(Stream::connect(&addr), listener.accept());
            let (mut client, mut server) = (client.unwrap(), accepted.unwrap().0);
            let mut buf = [0u8; 16];
            assert!(tokio::time::timeout(Duration::from_millis(2), client.read(&mut buf)).await.is_err());
            server.write_all(b"still there").await.unwrap();
            let n = client.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"still there");
        }
        assert_eq!(open_fds(), before, "no descriptor leaked");
    });

    // A connect dropped while the device has not answered closes its socket.
    let pending = rt.spawn({
        let addr = device.uri(9);
        async move { Stream::connect(&addr).await }
    });
    let (mut conn, _) = device.accept_request();
    pending.abort();
    assert!(rt.block_on(pending).unwrap_err().is_cancelled());
    let mut rest = Vec::new();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    conn.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "the abandoned connection is closed, not left open");
}
