//! Message mode over Unix `SOCK_SEQPACKET` sockets: boundaries, sizes, the end, errors.
#![cfg(target_os = "linux")]

use std::io;
use std::net::Shutdown;
use std::thread;
use std::time::{Duration, Instant};

use hvsock::{Addr, MessageTooLong, Seqpacket, SeqpacketListener};

/// The messages of one direction: sizes 0 to 64 KiB and contents from `seed`, the same
/// sequence every time; every [`EMPTY_EVERY`]th one empty, so that empty messages are
/// sure to be among them.
struct Messages(u64, usize);

/// One message in this many is empty.
const EMPTY_EVERY: usize = 997;

impl Messages {
    fn next_u64(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The next message into `buf`.
    fn next(&mut self, buf: &mut Vec<u8>) {
        let len = (self.next_u64() % (64 * 1024 + 1)) as usize;
        let len = if self.1.is_multiple_of(EMPTY_EVERY) { 0 } else { len };
        self.1 += 1;
        buf.clear();
        let mut word = self.next_u64();
        buf.extend((0..len).map(|i| {
            if i % 8 == 0 {
                word = word.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            }
            (word >> ((i % 8) * 8)) as u8
        }));
    }
}

const COUNT: usize = 10_000;

fn pair(dir: &tempfile::TempDir) -> (Seqpacket, Seqpacket, SeqpacketListener) {
    let addr = Addr::Unix(dir.path().join("s"));
    let listener = SeqpacketListener::bind(&addr).unwrap();
    let client = Seqpacket::connect(&addr).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server, listener)
}

/// Sends [`COUNT`] messages from `seed`, then shuts down for writing.
fn send_all(conn: Seqpacket, seed: u64) {
    let (mut messages, mut buf) = (Messages(seed, 0), Vec::new());
    for _ in 0..COUNT {
        messages.next(&mut buf);
        conn.send(&buf).unwrap();
    }
    conn.shutdown(Shutdown::Write).unwrap();
}

/// Receives until the end, checking each message against the sequence from `seed`;
/// returns how many came and how many were empty.
fn receive_all(conn: &Seqpacket, seed: u64) -> (usize, usize) {
    let (mut messages, mut expected, mut got) = (Messages(seed, 0), Vec::new(), vec![0u8; 64 * 1024]);
    let (mut count, mut empty) = (0, 0);
    while let Some(len) = conn.recv(&mut got).unwrap() {
        messages.next(&mut expected);
        assert_eq!(len, expected.len(), "message {count}: a boundary moved");
        assert!(got[..len] == expected[..], "message {count}: {len} bytes, contents differ");
        count += 1;
        empty += usize::from(len == 0);
    }
    (count, empty)
}

#[test]
fn ten_thousand_messages_of_random_size_keep_their_boundaries_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let (client, server, _listener) = pair(&dir);
    let (client_out, server_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let senders =
        [thread::spawn(move || send_all(client_out, 1)), thread::spawn(move || send_all(server_out, 2))];
    let to_client = thread::spawn(move || receive_all(&client, 2));
    let (to_server, empty_to_server) = receive_all(&server, 1);
    let (to_client, empty_to_client) = to_client.join().unwrap();
    senders.into_iter().for_each(|s| s.join().unwrap());
    assert_eq!((to_server, to_client), (COUNT, COUNT));
    // Empty messages among them arrived as such, not as the end.
    let empties = COUNT.div_ceil(EMPTY_EVERY);
    assert!(empty_to_server >= empties && empty_to_client >= empties, "{empty_to_server}, {empty_to_client}");
}

#[test]
fn empty_messages_are_told_from_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let (client, server, _listener) = pair(&dir);
    for msg in [&b""[..], b"", b"x", b""] {
        client.send(msg).unwrap();
    }
    client.shutdown(Shutdown::Write).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(server.next_message_len().unwrap(), Some(0));
    let got: Vec<_> = (0..6).map(|_| server.recv(&mut buf).unwrap()).collect();
    assert_eq!(got, [Some(0), Some(0), Some(1), Some(0), None, None]);
    assert_eq!(server.next_message_len().unwrap(), None);
    // The other way is still open; a close ends it too.
    server.send(b"reply").unwrap();
    drop(server);
    let mut reply = Vec::new();
    assert_eq!(client.recv_vec(&mut reply).unwrap(), Some(5));
    assert_eq!(reply, b"reply");
    assert_eq!(client.recv_vec(&mut reply).unwrap(), None);
}

#[test]
fn a_message_longer_than_the_buffer_is_an_error_that_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (client, server, _listener) = pair(&dir);
    let long: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
    client.send(&long).unwrap();
    client.send(b"next").unwrap();
    client.send(&long).unwrap();
    assert_eq!(
        server.next_message_len().unwrap(),
        Some(70_000),
        "a peek says the size and keeps the message"
    );
    let mut small = vec![0u8; 65_536];
    let err = server.recv(&mut small).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<MessageTooLong>()).expect("a MessageTooLong");
    assert_eq!(*inner, MessageTooLong { len: Some(70_000), capacity: 65_536 });
    assert!(err.to_string().contains("70000 bytes is larger than the 65536-byte buffer"), "{err}");
    // The long message is gone, whole; the next one is intact.
    assert_eq!(server.recv(&mut small).unwrap(), Some(4));
    assert_eq!(&small[..4], b"next");
    // A growing buffer takes the long one.
    let mut grown = Vec::new();
    assert_eq!(server.recv_vec(&mut grown).unwrap(), Some(70_000));
    assert_eq!(grown, long);
}

#[test]
fn a_message_longer_than_the_connection_carries_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (client, server, _listener) = pair(&dir);
    let huge = vec![7u8; 16 << 20];
    let err = client.send(&huge).unwrap_err();
    assert!(
        err.to_string().starts_with("a message of 16777216 bytes is larger than this connection carries"),
        "{err}"
    );
    client.send(b"after").unwrap();
    let mut buf = Vec::new();
    assert_eq!(server.recv_vec(&mut buf).unwrap(), Some(5), "nothing of the refused message arrived");
}

#[test]
fn timeouts_addresses_and_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let (client, server, listener) = pair(&dir);
    assert_eq!(listener.local_addr(), &Addr::Unix(path.clone()));
    assert_eq!(client.peer_addr(), &Addr::Unix(path.clone()));
    assert_eq!(server.local_addr(), &Addr::Unix(path.clone()));
    assert_eq!(server.peer_credentials().unwrap().pid, Some(std::process::id()));
    server.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    assert_eq!(server.read_timeout().unwrap(), Some(Duration::from_millis(100)));
    assert!(server.set_read_timeout(Some(Duration::ZERO)).is_err(), "a zero timeout is refused");
    let started = Instant::now();
    let err = server.recv(&mut [0u8; 4]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    assert!(started.elapsed() >= Duration::from_millis(90), "{:?}", started.elapsed());
    server.shutdown(Shutdown::Write).unwrap();
    assert_eq!(client.recv(&mut [0u8; 4]).unwrap(), None);
    let err = server.send(b"late").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
    drop(listener);
    assert!(!path.exists(), "the listener removes its socket file");
}

#[test]
fn transports_without_messages_are_refused_naming_the_address() {
    for uri in ["hybrid://:5/tmp/none.sock", "tcp://127.0.0.1:9", "hyperkit://:5/tmp/none"] {
        let addr: Addr = uri.parse().unwrap();
        let err = Seqpacket::connect(&addr).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported, "{uri}");
        let text = err.to_string();
        let shown = uri.replacen("://", "+seqpacket://", 1);
        let want =
            format!("connect {shown}: message mode (SOCK_SEQPACKET) is not supported by this transport");
        assert!(text.starts_with(&want), "{text}");
        let err = SeqpacketListener::bind(&addr).unwrap_err();
        assert!(err.to_string().starts_with(&format!("listen on {shown}: message mode")), "{err}");
    }
}

#[test]
fn a_stream_listener_is_not_a_message_one() {
    let dir = tempfile::tempdir().unwrap();
    let addr = Addr::Unix(dir.path().join("stream"));
    let _stream_listener = hvsock::Listener::bind(&addr).unwrap();
    let err = Seqpacket::connect(&addr).unwrap_err();
    assert!(err.to_string().contains("is not a message-mode socket (SOCK_SEQPACKET)"), "{err}");
    let err = Seqpacket::connect(&Addr::Unix(dir.path().join("none"))).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(err.to_string().contains("no socket at"), "{err}");
}
