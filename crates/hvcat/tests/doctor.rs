//! `hvcat --doctor` against fakes: a machine root of files (`HVCAT_DOCTOR_ROOT`), socket
//! files in temporary directories, hybrid devices that answer, refuse, stay silent or
//! talk nonsense. This machine's own vsock is never touched: the vsock URI runs with
//! `socket(2)` made to fail (strace).
#![cfg(target_os = "linux")]

mod kit;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;

use kit::hvcat;

/// `hvcat --doctor ARGS` with the machine's files under `root`: exit code and stdout.
fn doctor(root: &Path, args: &[&str]) -> (Option<i32>, String) {
    let output = hvcat(&[&["--doctor"][..], args].concat())
        .env("HVCAT_DOCTOR_ROOT", root)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The one line that starts with `level` and contains `needle`.
fn line<'a>(report: &'a str, level: &str, needle: &str) -> &'a str {
    let found: Vec<&str> =
        report.lines().filter(|l| l.starts_with(&format!("{level}: ")) && l.contains(needle)).collect();
    assert_eq!(found.len(), 1, "one `{level}: ...{needle}...` line in:\n{report}");
    found[0]
}

/// A machine root with `/proc/modules` listing `modules`.
fn machine(modules: &[&str]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    fs::create_dir_all(root.path().join("proc")).unwrap();
    fs::create_dir_all(root.path().join("dev")).unwrap();
    let text: String = modules.iter().map(|m| format!("{m} 16384 0 - Live 0x0000000000000000\n")).collect();
    fs::write(root.path().join("proc/modules"), text).unwrap();
    root
}

/// A Unix socket `name` that listens, in a new temporary directory.
fn listening(name: &str) -> (tempfile::TempDir, std::path::PathBuf, UnixListener) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    let listener = UnixListener::bind(&path).unwrap();
    (dir, path, listener)
}

#[test]
fn a_machine_without_vsock() {
    let root = machine(&["ext4", "virtio_net"]);
    let (code, report) = doctor(root.path(), &[]);
    assert_eq!(code, Some(1), "{report}");
    let none = line(&report, "FAIL", "no vsock transport is loaded (vsock modules: none)");
    assert!(none.contains("next: in a guest: modprobe vmw_vsock_virtio_transport"), "{none}");
    assert!(line(&report, "FAIL", "/dev/vsock does not exist").contains("next: load a vsock transport"));
    line(&report, "note", "neither a vsock guest nor a vhost-vsock host");
}

#[test]
fn unreadable_proc_modules_is_said() {
    let root = tempfile::tempdir().unwrap();
    let (_, report) = doctor(root.path(), &[]);
    assert!(line(&report, "note", "/proc/modules")
        .contains("which vsock modules are loaded is unknown; next: mount /proc"));
    assert!(!report.contains("no vsock transport is loaded"), "no verdict without the list:\n{report}");
}

#[test]
fn a_guest_whose_device_is_not_the_kernels() {
    let root = machine(&["vsock", "vmw_vsock_virtio_transport_common", "vmw_vsock_virtio_transport"]);
    fs::write(root.path().join("dev/vsock"), "").unwrap(); // a regular file
    let (code, report) = doctor(root.path(), &[]);
    assert_eq!(code, Some(1), "{report}");
    line(
        &report,
        "ok",
        "vsock modules: vsock, vmw_vsock_virtio_transport, vmw_vsock_virtio_transport_common",
    );
    line(&report, "FAIL", "/dev/vsock is not a character device");
    let cid = line(&report, "FAIL", "cannot read the local CID");
    assert!(cid.contains("Inappropriate ioctl"), "{cid}");
    line(&report, "ok", "this is a guest (virtio: a KVM/QEMU, Firecracker or Cloud Hypervisor guest)");
}

#[test]
fn a_character_device_that_is_not_vsock() {
    let root = machine(&["hv_sock"]);
    std::os::unix::fs::symlink("/dev/null", root.path().join("dev/vsock")).unwrap();
    let (code, report) = doctor(root.path(), &[]);
    assert_eq!(code, Some(1), "{report}");
    line(&report, "ok", "/dev/vsock: character device");
    line(&report, "FAIL", "cannot read the local CID");
    line(&report, "ok", "this is a guest (a Hyper-V guest)");
}

#[test]
fn a_device_that_cannot_be_looked_at() {
    let root = machine(&["vhost_vsock"]);
    fs::remove_dir(root.path().join("dev")).unwrap();
    fs::write(root.path().join("dev"), "").unwrap(); // dev/vsock: ENOTDIR
    let (code, report) = doctor(root.path(), &[]);
    assert_eq!(code, Some(1), "{report}");
    line(&report, "FAIL", "cannot look at");
    let host = line(&report, "ok", "this is a vhost-vsock host");
    assert!(host.contains("/dev/vhost-vsock is missing"), "{host}");
}

#[test]
fn a_host_with_vhost_vsock() {
    let root = machine(&["vhost_vsock", "vsock"]);
    fs::write(root.path().join("dev/vhost-vsock"), "").unwrap();
    let (_, report) = doctor(root.path(), &[]);
    line(&report, "ok", "vsock modules: vsock, vhost_vsock");
    let host = line(&report, "ok", "this is a vhost-vsock host");
    assert!(!host.contains("missing"), "{host}");
}

#[test]
fn socket_files_that_are_missing_wrong_or_stale() {
    let root = machine(&[]);
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("v.sock");
    let (code, report) = doctor(root.path(), &[&format!("hybrid://:5{}", missing.display())]);
    assert_eq!(code, Some(1), "{report}");
    assert!(line(&report, "FAIL", "no socket at").contains("next: is the VM running?"));
    assert!(!report.contains("vsock modules"), "no vsock checks for a hybrid URI:\n{report}");

    let file = dir.path().join("file");
    fs::write(&file, "").unwrap();
    let (code, report) = doctor(root.path(), &[&format!("unix://{}", file.display())]);
    assert_eq!(code, Some(1), "{report}");
    line(&report, "FAIL", "is not a socket");

    let (_, report) = doctor(root.path(), &[&format!("unix://{}/x", file.display())]);
    line(&report, "FAIL", "cannot look at"); // ENOTDIR

    let stale = dir.path().join("stale.sock");
    drop(UnixListener::bind(&stale).unwrap()); // the file stays, nothing listens
    let (code, report) = doctor(root.path(), &[&format!("hybrid://:5{}", stale.display())]);
    assert_eq!(code, Some(1), "{report}");
    line(&report, "ok", "a socket, owner uid");
    assert!(line(&report, "FAIL", "nothing listens on").contains("next: start the VM"));

    let hyperkit = tempfile::tempdir().unwrap();
    let (_, report) = doctor(root.path(), &[&format!("hyperkit://:80{}", hyperkit.path().display())]);
    line(&report, "FAIL", &format!("no socket at {}/connect", hyperkit.path().display()));
}

/// A socket this user may not write to: as root, hvcat runs as nobody (setpriv).
#[test]
fn a_socket_this_user_may_not_connect_to() {
    let root = machine(&[]);
    let (dir, path, _listener) = listening("v.sock");
    fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    // SAFETY: geteuid has no preconditions.
    let as_root = unsafe { libc::geteuid() } == 0;
    if !as_root {
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    }
    let uri = format!("unix://{}", path.display());
    let mut command = if as_root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_hvcat")]);
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_hvcat"))
    };
    let output = command.args(["--doctor", &uri]).env("HVCAT_DOCTOR_ROOT", root.path()).output().unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{report}{}", String::from_utf8_lossy(&output.stderr));
    assert!(line(&report, "FAIL", "may not connect to").contains("next: run as uid"), "{report}");
}

/// A fake hybrid device: answers the first connection's `CONNECT` line with `reply`
/// (`None`: closes at once; `Some("")`: says nothing until the client goes).
fn device(path: &Path, reply: Option<&'static str>) -> thread::JoinHandle<()> {
    let listener = UnixListener::bind(path).unwrap();
    thread::spawn(move || {
        // The doctor connects twice: once to see that something listens, once to ask.
        for _ in 0..2 {
            let (mut conn, _) = listener.accept().unwrap();
            let mut line = Vec::new();
            let mut byte = [0u8; 1];
            while conn.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
                line.push(byte[0]);
            }
            if line.is_empty() {
                continue; // the listening check: connected and closed
            }
            assert_eq!(line, b"CONNECT 5");
            match reply {
                None => {}
                Some("") => while conn.read(&mut byte).unwrap_or(0) == 1 {},
                Some(text) => conn.write_all(text.as_bytes()).unwrap(),
            }
            return;
        }
    })
}

#[test]
fn whether_a_guest_port_answers() {
    let root = machine(&[]);
    for (reply, level, needle, next) in [
        (Some("OK 1073741824\n"), "ok", "guest port 5 answers through", ""),
        (
            None,
            "FAIL",
            "connection refused",
            "next: start a listener on port 5 in the guest (hvcat -l vsock://:5)",
        ),
        (Some(""), "FAIL", "no reply to CONNECT 5", "next: the VM may be paused or still booting"),
        (Some("NO\n"), "FAIL", "", "next: it answered, but not as a hybrid vsock device"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.sock");
        let fake = device(&path, reply);
        let (code, report) =
            doctor(root.path(), &["--handshake-timeout", "0.3", &format!("hybrid://:5{}", path.display())]);
        assert_eq!(code, Some(if level == "ok" { 0 } else { 1 }), "{reply:?}: {report}");
        line(&report, "ok", "something listens on");
        assert!(line(&report, level, needle).contains(next), "{reply:?}: {report}");
        fake.join().unwrap();
    }
}

/// A fake hyperkit: reads the 18-byte port request and closes, as hyperkit does when
/// nothing listens on the guest port.
#[test]
fn a_hyperkit_guest_port_that_refuses() {
    let root = machine(&[]);
    let dir = tempfile::tempdir().unwrap();
    let listener = UnixListener::bind(dir.path().join("connect")).unwrap();
    let fake = thread::spawn(move || {
        for _ in 0..2 {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let _ = (&mut conn).take(18).read_to_end(&mut request);
            if !request.is_empty() {
                assert_eq!(request, b"00000003.00000050\n");
                return;
            }
        }
    });
    let (code, report) = doctor(root.path(), &[&format!("hyperkit://:80{}", dir.path().display())]);
    assert_eq!(code, Some(1), "{report}");
    assert!(
        line(&report, "FAIL", "hyperkit closed the connection").contains("next: start a listener on port 80")
    );
    fake.join().unwrap();
}

#[test]
fn hyper_v_sockets_elsewhere_than_windows() {
    let root = machine(&[]);
    let (code, report) = doctor(root.path(), &["hvsock://parent/5000"]);
    assert_eq!(code, Some(1), "{report}");
    assert!(line(&report, "FAIL", "Hyper-V sockets exist only on Windows").contains("vsock://2:PORT"));
    assert_eq!(report.lines().count(), 1, "no connect tried:\n{report}");
}

/// Failures that need the system to fail: `socket(2)` (a vsock connect) and `connect(2)`
/// (a Unix socket that listens), made to fail by strace.
#[test]
fn sockets_the_system_refuses() {
    let root = machine(&["vsock", "vmw_vsock_virtio_transport"]);
    let run = |inject: &str, uri: &str| {
        let output = Command::new("strace")
            .args([
                "-f",
                "-qq",
                "-o",
                "/dev/null",
                "-e",
                inject,
                env!("CARGO_BIN_EXE_hvcat"),
                "--doctor",
                uri,
            ])
            .env("HVCAT_DOCTOR_ROOT", root.path())
            .stdin(Stdio::null())
            .output()
            .expect("strace (apt-get install strace) runs hvcat with a system call failing");
        assert_eq!(output.status.code(), Some(1));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let report = run("inject=socket:error=EACCES", "vsock://3:5000");
    line(&report, "ok", "vsock modules: vsock, vmw_vsock_virtio_transport");
    let vsock = line(&report, "FAIL", "vsock://3:5000");
    assert!(vsock.contains("ermission denied") && vsock.contains("next: run as a user allowed"), "{vsock}");

    let (_dir, path, _listener) = listening("s");
    let report = run("inject=connect:error=EPERM", &format!("unix://{}", path.display()));
    line(&report, "FAIL", "cannot connect to");
}

#[test]
fn a_unix_socket_that_answers() {
    let root = machine(&[]);
    let (_dir, path, listener) = listening("s");
    let accept = thread::spawn(move || (listener.accept().unwrap(), listener.accept().unwrap()));
    let (code, report) = doctor(root.path(), &[&format!("unix://{}", path.display())]);
    assert_eq!(code, Some(0), "{report}");
    line(&report, "ok", "accepts connections");
    drop(accept.join().unwrap());
}
