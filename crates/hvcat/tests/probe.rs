//! `hvcat -z` against fake hypervisor devices: the probe decides from the handshake alone
//! and sends nothing.
#![cfg(unix)]

mod kit;

use std::io::Read;
use std::os::unix::net::UnixListener;
use std::thread;
use std::time::{Duration, Instant};

use kit::{hvcat, output_stderr, FakeDevice};

/// `-z` against a fake hybrid device: the handshake alone decides, and nothing is sent.
#[test]
fn probe_reports_whether_a_hybrid_port_is_listening() {
    let dir = tempfile::tempdir().unwrap();
    let device = FakeDevice::new(dir.path());
    let uds = device.uds.clone();
    let device = thread::spawn(move || {
        let mut conn = device.accept_ok(22);
        let mut after = Vec::new();
        conn.read_to_end(&mut after).unwrap();
        let (refused, line) = device.accept_request();
        assert_eq!(line, "CONNECT 22\n");
        drop(refused); // refused: closed without a reply
        after
    });
    let uri = format!("hybrid://:22{}", uds.display());
    let up = hvcat(&["-z", "-v", &uri]).output().unwrap();
    assert!(up.status.success(), "{}", output_stderr(&up));
    assert!(
        output_stderr(&up).contains(&format!("hvcat: {uri} accepts connections")),
        "{}",
        output_stderr(&up)
    );
    assert!(up.stdout.is_empty());
    let down = hvcat(&["-z", &uri]).output().unwrap();
    assert_eq!(down.status.code(), Some(1));
    assert_eq!(
        output_stderr(&down),
        format!(
            "hvcat: connect {uri}: connection refused: no listener on guest port 22, or the VM is not running\n"
        )
    );
    assert!(device.join().unwrap().is_empty(), "the probe sent nothing after CONNECT");
}

/// `-z` through hyperkit, which never answers: a close soon after the header is a refusal,
/// a connection left open is a listener. Plain Unix sockets: there or not.
#[test]
fn probe_through_hyperkit_and_unix_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let hyperkit = UnixListener::bind(dir.path().join("connect")).unwrap();
    let device = thread::spawn(move || {
        let mut headers = Vec::new();
        for refuse in [true, false] {
            let (mut conn, _) = hyperkit.accept().unwrap();
            let mut header = vec![0u8; 18];
            conn.read_exact(&mut header).unwrap();
            headers.push(String::from_utf8(header).unwrap());
            if !refuse {
                let mut rest = Vec::new();
                conn.read_to_end(&mut rest).unwrap(); // held open until the probe closes
                assert!(rest.is_empty());
            }
        }
        headers
    });
    let uri = format!("hyperkit://:80{}", dir.path().display());
    let refused = hvcat(&["-z", &uri]).output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(output_stderr(&refused).starts_with(&format!("hvcat: connect {uri}: connection refused: hyperkit closed the connection (no listener on guest port 80")), "{}", output_stderr(&refused));
    let started = Instant::now();
    let open = hvcat(&["-z", "-v", &uri]).output().unwrap();
    assert!(open.status.success(), "{}", output_stderr(&open));
    assert!(
        output_stderr(&open).contains("not closed within 250 ms: taken as listening"),
        "{}",
        output_stderr(&open)
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(device.join().unwrap(), ["00000003.00000050\n"; 2]);

    let path = dir.path().join("plain");
    let unix = format!("unix://{}", path.display());
    let missing = hvcat(&["-z", &unix]).output().unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        output_stderr(&missing).starts_with(&format!("hvcat: connect {unix}: ")),
        "{}",
        output_stderr(&missing)
    );
    let _listener = UnixListener::bind(&path).unwrap();
    let there = hvcat(&["-z", &unix]).output().unwrap();
    assert!(there.status.success() && there.stderr.is_empty(), "{}", output_stderr(&there));
}
