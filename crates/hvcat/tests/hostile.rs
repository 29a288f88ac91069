//! A catalogue of malformed addresses and option combinations: each exits 2 with a
//! message that names the problem, never panics, and creates nothing on disk.
#![cfg(unix)]

use std::process::{Command, Stdio};

/// (arguments, text the message must contain)
const CATALOGUE: &[(&[&str], &str)] = &[
    (&[""], "empty address"),
    (&["vsock"], "missing address: write vsock://:PORT to listen or vsock://CID:PORT"),
    (&["vsock:80"], "missing scheme"),
    (&["://80"], "missing scheme"),
    (&["/tmp/sock"], "missing scheme"),
    (&["vsocks://:80"], "unknown scheme `vsocks`"),
    (&["http://example.org:80"], "unknown scheme `http`"),
    (&["VSOCK+X://:1"], "unknown scheme"),
    (&["vsock://"], "missing port"),
    (&["vsock://2"], "missing port: write vsock://2:PORT"),
    (&["vsock://2:"], "missing port"),
    (&["vsock://:4294967296"], "port `4294967296`"),
    (&["vsock://:-1"], "port `-1`"),
    (&["vsock://:0x50"], "port `0x50`"),
    (&["vsock://:８０"], "port `８０`"),
    (&["vsock://guest:80"], "CID `guest`"),
    (&["vsock://-2:80"], "CID `-2`"),
    (&["vsock://99999999999:80"], "CID `99999999999`"),
    (&["vsock://2:80/extra"], "unexpected `/extra`"),
    (&["vsock://2:80?q=1"], "`?` is not allowed"),
    (&["vsock://2:80#frag"], "`#` is not allowed"),
    (&["hvsock://parent"], "missing service: write hvsock://parent/SERVICE"),
    (&["hvsock:///"], "missing service"),
    (&["hvsock://2:80/"], "for a Linux CID, write vsock://CID:PORT"),
    (&["hvsock://vm:1/2"], "takes no port"),
    (&["hvsock://parent/not-a-guid"], "service `not-a-guid`"),
    (&["hvsock://parent/4294967296"], "service `4294967296`"),
    (&["hvsock://parent/3049197C-9A4E-4FBF-9367-97F792F1699"], "is not a GUID"),
    (&["hvsock://3049197G-9A4E-4FBF-9367-97F792F16994/1"], "is not a GUID"),
    (&["hvsock://a%0Ab/1"], "control character"),
    (&["hvsock://a%zz/1"], "bad percent-escape"),
    (&["hvsock://a%C3/1"], "bad percent-escape"),
    (&["hvsock://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/1"], "at most 100 characters"),
    (&["hvsock:///run/kata.hvsock:99999999999"], "port `99999999999`"),
    (&["hyperkit://:80"], "missing path"),
    (&["hyperkit://:80/"], "missing path"),
    (&["hyperkit:///dir"], "missing port"),
    (&["hyperkit://x:80/dir"], "CID `x`"),
    (&["hybrid://:52"], "missing path"),
    (&["hybrid:///tmp/v.sock"], "missing port"),
    (&["hybrid://3:52/tmp/v.sock"], "unexpected host `3`"),
    (&["hybrid://:5x/tmp/v.sock"], "port `5x`"),
    (&["unix://"], "missing path"),
    (&["unix://host/tmp/x"], "unexpected host `host`"),
    (&["tcp://:80"], "missing host"),
    (&["tcp://localhost"], "missing port"),
    (&["tcp://localhost:65536"], "port `65536`"),
    (&["tcp://[zz]:80"], "unexpected host `[zz]`"),
    (&["tcp://a%3Ab:80"], "unexpected host"),
    (&["unix:///tmp/a%00b"], "NUL (%00) in `/tmp/a%00b`"),
    (&["unix://./a%00b"], "NUL (%00) in `./a%00b`"),
    (&["hybrid://:52/tmp/v%00.sock"], "NUL (%00) in `/tmp/v%00.sock`"),
    (&["hyperkit://:80/tmp/vm%00"], "NUL (%00) in `/tmp/vm%00`"),
    (&["hvsock:///run/kata%00.hvsock:1024"], "NUL (%00) in `/run/kata%00.hvsock`"),
    (&["hvsock://vm%00/1"], "NUL (%00) in `vm%00`"),
    (&["tcp://host%00x:80"], "NUL (%00) in `host%00x`"),
    (&["-l", "unix://./x", "--relay", "unix://./y%00"], "NUL (%00) in `./y%00`"),
    (&["-l", "unix://./x", "--relay", "bogus"], "invalid address `bogus`"),
    (&[], "<URI>"),
    (&["-k", "unix://./x"], "--listen"),
    (&["--echo", "unix://./x"], "--listen"),
    (&["-l", "--echo", "-e", "cat", "unix://./x"], "cannot be used with"),
    (&["-l", "--relay", "unix://./a", "--echo", "unix://./b"], "cannot be used with"),
    (&["-e", "cat", "-c", "cat", "unix://./x"], "cannot be used with"),
    (&["-l", "-e", "   ", "unix://./x"], "--exec needs a command"),
    (&["-w", "soon", "unix://./x"], "`soon` is not a number of seconds"),
    (&["-w", "-1", "unix://./x"], "unexpected argument"),
    (&["-w", "inf", "unix://./x"], "`inf` is not a number of seconds"),
    (&["--retry=many", "unix://./x"], "`many` is not a whole number"),
    (&["--retry", "5", "unix://./x"], "unexpected argument"),
    (&["--handshake-timeout", "x", "unix://./x"], "`x` is not a number of seconds"),
    (&["--mode", "999", "-l", "unix://./x"], "`999` is not an octal mode"),
    (&["--mode", "rw", "-l", "unix://./x"], "`rw` is not an octal mode"),
    (&["--mode", "+600", "-l", "unix://./x"], "`+600` is not an octal mode"),
    (&["--mode", "", "-l", "unix://./x"], "`` is not an octal mode"),
    (&["--mode", "6_0", "-l", "unix://./x"], "`6_0` is not an octal mode"),
    (&["--register", "unix://./x"], "--register works only on Windows"),
    (&["--local-cid", "vsock://:1"], "cannot be used with"),
    (&["-i", "0", "unix://./x"], "the idle timeout must be more than 0"),
    (&["-i", "soon", "unix://./x"], "`soon` is not a number of seconds"),
    (&["-l", "-i", "1", "-e", "cat", "unix://./x"], "cannot be used with"),
    (&["--expect-bytes", "1T", "unix://./x"], "`1T` is not a size"),
    (&["--expect-bytes", "-5", "unix://./x"], "unexpected argument"),
    (&["-l", "--echo", "--expect-bytes", "5", "unix://./x"], "cannot be used with"),
    (&["-l", "unix://./a", "--relay", "unix://./b", "--expect-bytes", "5"], "cannot be used with"),
    (&["-z", "-l", "unix://./x"], "cannot be used with"),
    (&["-z", "-i", "1", "unix://./x"], "cannot be used with"),
    (&["-l", "-m", "0", "--echo", "unix://./x"], "0 is not in 1.."),
    (&["-l", "-m", "2", "unix://./x"], "--max-conns needs -k or --echo"),
    (&["-m", "2", "unix://./x"], "--listen"),
    (&["-l", "--allow", "3", "unix://./x"], "allow them by user id"),
    (&["-l", "--allow", "3", "hybrid://:5/./v.sock"], "carries no peer identity beyond the VM"),
    (&["-l", "--allow", "3", "hyperkit://:5/./d"], "carries no peer identity beyond the VM"),
    (&["-l", "--allow-uid", "0", "tcp://127.0.0.1:1"], "is not a Unix socket"),
    (&["-l", "--allow", "10.0.0.300", "tcp://127.0.0.1:1"], "is not an IP address"),
    (&["-l", "--allow-uid", "x", "unix://./x"], "invalid value 'x'"),
    (&["--allow", "3", "unix://./x"], "--listen"),
    (&["--bogus", "unix://./x"], "unexpected argument '--bogus'"),
    (&["--vsock-buffer", "1M", "unix://./x"], "--vsock-buffer applies to vsock:// addresses only, and unix://./x"),
    (&["-l", "--vsock-buffer", "1M", "tcp://127.0.0.1:0"], "applies to vsock:// addresses only"),
    (&["-l", "--vsock-buffer", "1M", "unix://./x", "--relay", "tcp://127.0.0.1:1"], "applies to vsock://"),
    (&["--vsock-buffer", "lots", "unix://./x"], "invalid value 'lots'"),
    (&["unix://./x", "unix://./y"], "unexpected argument"),
];

#[test]
fn every_malformed_input_exits_2_naming_the_problem() {
    assert!(CATALOGUE.len() >= 50, "{} cases", CATALOGUE.len());
    let dir = tempfile::tempdir().unwrap();
    for (args, needle) in CATALOGUE {
        let output = Command::new(env!("CARGO_BIN_EXE_hvcat"))
            .args(*args)
            .current_dir(dir.path())
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("hvcat: "), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: expected {needle:?} in {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("stack backtrace"), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "nothing created on disk: {left:?}");
}

/// A control character in a path (`%0A`, a newline) is shown escaped in messages, so
/// that a message stays one line and shows what is there.
#[test]
fn control_characters_in_paths_are_escaped_in_messages() {
    let dir = tempfile::tempdir().unwrap();
    for (uri, shown) in [
        ("unix://./a%0Ab", "no socket at ./a\\nb (is the VM or service running?)"),
        ("hybrid://:52/./v%09%1B.sock", "no socket at ./v\\t\\u{1b}.sock"),
        ("hyperkit://:80/./d%0D", "no socket at ./d\\r/connect"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_hvcat"))
            .arg(uri)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{uri}: {stderr}");
        assert_eq!(stderr.matches('\n').count(), 1, "{uri}: one line: {stderr:?}");
        assert!(!stderr.contains(['\r', '\t', '\u{1b}']), "{uri}: {stderr:?}");
        assert!(stderr.starts_with(&format!("hvcat: connect {uri}: ")), "{uri}: {stderr:?}");
        assert!(stderr.contains(shown), "{uri}: expected {shown:?} in {stderr:?}");
    }
}

/// Usage errors on vsock listeners, with `socket(2)` made to fail (strace injects
/// `EACCES`) so that a slip could not reach this machine's own vsock.
#[test]
fn vsock_listener_usage_errors_exit_2_without_a_socket() {
    for (args, needle) in [
        (&["-l", "--allow", "guest", "vsock://:1"][..], "`guest` is not a vsock CID"),
        (&["-l", "--allow-uid", "0", "vsock://:1"], "vsock://:1 is not a Unix socket"),
        (
            &["-l", "-k", "-m", "1", "--allow", "host,2,3", "--allow", "x", "vsock://:1"],
            "`x` is not a vsock CID",
        ),
    ] {
        let output = Command::new("strace")
            .args(["-f", "-qq", "-o", "/dev/null", "-e", "inject=socket:error=EACCES"])
            .arg(env!("CARGO_BIN_EXE_hvcat"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("strace (apt-get install strace) runs hvcat with socket(2) failing");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("hvcat: ") && stderr.contains(needle), "{args:?}: {stderr}");
    }
}
