//! Message mode for tokio over Unix `SOCK_SEQPACKET`: cancellation leaves no descriptor
//! and no message behind. Alone in its test binary, so that counting open descriptors
//! sees only its own, and its tests take turns.
#![cfg(target_os = "linux")]

use std::net::Shutdown;
use std::time::Duration;

use hvsock::tokio::{Seqpacket, SeqpacketListener};
use hvsock::Addr;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Taken by every test here: counting this process's descriptors needs the others'
/// sockets out of the way.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

const PATIENCE: Duration = Duration::from_millis(3);

/// A connection to `listener` at `addr` and its accepted end.
async fn connected(listener: &SeqpacketListener, addr: &Addr) -> (Seqpacket, Seqpacket) {
    let (client, accepted) = tokio::join!(Seqpacket::connect(addr), listener.accept());
    (client.unwrap(), accepted.unwrap().0)
}

#[test]
fn cancelled_accept_connect_and_receive_leave_nothing_behind() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let addr = Addr::Unix(dir.path().join("s"));
    runtime().block_on(async {
        let listener = SeqpacketListener::bind(&addr).unwrap();
        let before = open_fds();
        for i in 0..50u32 {
            assert!(tokio::time::timeout(PATIENCE, listener.accept()).await.is_err(), "nothing to accept");
            let (client, server) = connected(&listener, &addr).await;
            let mut buf = [0u8; 64];
            let mut grown = Vec::new();
            assert!(tokio::time::timeout(PATIENCE, client.recv(&mut buf)).await.is_err());
            assert!(tokio::time::timeout(PATIENCE, client.recv_vec(&mut grown)).await.is_err());
            assert!(tokio::time::timeout(PATIENCE, client.next_message_len()).await.is_err());
            // The cancelled receives took nothing: both messages arrive, whole, in order.
            let first = format!("message {i}");
            server.send(first.as_bytes()).await.unwrap();
            server.send(b"").await.unwrap();
            server.shutdown(Shutdown::Write).unwrap();
            assert_eq!(client.recv(&mut buf).await.unwrap(), Some(first.len()));
            assert_eq!(&buf[..first.len()], first.as_bytes());
            assert_eq!(client.recv_vec(&mut grown).await.unwrap(), Some(0));
            assert_eq!(client.recv(&mut buf).await.unwrap(), None);
        }
        assert_eq!(open_fds(), before, "no descriptor leaked");
    });
}

#[test]
fn a_cancelled_connect_closes_its_socket() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jammed");
    let _jam = hvsock_testkit::jammed_listener_of(socket2::Type::SEQPACKET, &path);
    let addr = Addr::Unix(path);
    runtime().block_on(async {
        let before = open_fds();
        for _ in 0..20 {
            let pending = tokio::time::timeout(Duration::from_millis(20), Seqpacket::connect(&addr)).await;
            assert!(pending.is_err(), "the connect waits on a full backlog");
        }
        assert_eq!(open_fds(), before, "no descriptor leaked");
        // Bounded by its own timeout, a connect fails naming the address.
        let options = hvsock::ConnectOptions::new().timeout(Duration::from_millis(50));
        let err = Seqpacket::connect_with(&addr, &options).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        let shown = hvsock::Endpoint::new(addr.clone(), hvsock::SocketKind::Seqpacket);
        assert!(err.to_string().starts_with(&format!("connect {shown}: timed out")), "{err}");
    });
}

#[test]
fn async_messages_keep_boundaries_and_say_when_too_long() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let addr = Addr::Unix(dir.path().join("s"));
    runtime().block_on(async {
        let listener = SeqpacketListener::bind(&addr).unwrap();
        let (client, server) = connected(&listener, &addr).await;
        let sender = tokio::spawn(async move {
            for len in 0..2000usize {
                client.send(&vec![len as u8; len * 13 % 70_001]).await.unwrap();
            }
            client.shutdown(Shutdown::Write).unwrap();
            client
        });
        let mut buf = Vec::new();
        for len in 0..2000usize {
            assert_eq!(server.recv_vec(&mut buf).await.unwrap(), Some(len * 13 % 70_001));
            assert!(buf.iter().all(|&b| b == len as u8), "message {len}");
        }
        assert_eq!(server.recv_vec(&mut buf).await.unwrap(), None);
        let client = sender.await.unwrap();
        server.send(&[1u8; 100]).await.unwrap();
        let err = client.recv(&mut [0u8; 10]).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert!(
            err.to_string().starts_with("a message of 100 bytes is larger than the 10-byte buffer"),
            "{err}"
        );
    });
}
