//! The attacker's view of [`listen`]: a symlink swapped in at every step it can reach,
//! and two listeners racing for one path.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};

use super::*;

const STEPS: [Step; 7] = [
    Step::Locked,
    Step::Checked,
    Step::PrivateDir,
    Step::Bound,
    Step::ModeSet,
    Step::Listening,
    Step::Linked,
];

#[derive(Clone, Copy, Debug)]
enum Attack {
    /// Move whatever is at the target path away and put a symlink to a victim there.
    Target,
    /// Move our private directory away and put a symlink to the victims' directory there.
    PrivateDir,
}

/// A directory of files that must come through untouched: `victim`, and `socket` (the
/// name our socket has inside the private directory).
struct Victims {
    dir: PathBuf,
}

impl Victims {
    fn new(root: &Path) -> Victims {
        let dir = root.join("victims");
        fs::create_dir(&dir).unwrap();
        for name in ["victim", SOCKET] {
            fs::write(dir.join(name), b"precious").unwrap();
            fs::set_permissions(dir.join(name), fs::Permissions::from_mode(0o644)).unwrap();
        }
        Victims { dir }
    }

    fn assert_untouched(&self, context: &str) {
        let mut names: Vec<_> = fs::read_dir(&self.dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names, [OsString::from(SOCKET), OsString::from("victim")], "{context}: files added");
        for name in ["victim", SOCKET] {
            let meta = fs::symlink_metadata(self.dir.join(name)).unwrap();
            assert!(meta.is_file(), "{context}: {name} is no longer a regular file");
            assert_eq!(meta.permissions().mode() & 0o7777, 0o644, "{context}: the mode of {name} changed");
            assert_eq!(fs::read(self.dir.join(name)).unwrap(), b"precious", "{context}: {name} changed");
        }
    }
}

fn attack(root: &Path, target: &Path, victims: &Victims, how: Attack, private: Option<&OsStr>) {
    match how {
        Attack::Target => {
            if fs::symlink_metadata(target).is_ok() {
                fs::rename(target, root.join("moved")).unwrap();
            }
            symlink(victims.dir.join("victim"), target).unwrap();
        }
        Attack::PrivateDir => {
            let private = root.join(private.expect("a private directory at this step"));
            fs::rename(&private, root.join("moved-dir")).unwrap();
            symlink(&victims.dir, &private).unwrap();
        }
    }
}

#[test]
fn a_symlink_swapped_in_at_any_step_never_reaches_another_file() {
    let mut attacks = 0;
    for step in STEPS {
        for how in [Attack::Target, Attack::PrivateDir] {
            if matches!(how, Attack::PrivateDir) && matches!(step, Step::Locked | Step::Checked) {
                continue; // there is no private directory yet
            }
            let root = tempfile::tempdir().unwrap();
            let victims = Victims::new(root.path());
            let target = root.path().join("s");
            let (root_path, target_path) = (root.path().to_path_buf(), target.clone());
            let mut done = false;
            hook::set(Some(Box::new(move |at, private| {
                if at == step && !done {
                    done = true;
                    let victims = Victims { dir: root_path.join("victims") };
                    attack(&root_path, &target_path, &victims, how, private);
                }
            })));
            let result = listen(&target, &ListenOptions::new().mode(0o666), socket2::Type::STREAM);
            hook::set(None);
            let context =
                format!("{how:?} at {step:?} ({})", if result.is_ok() { "bound" } else { "failed" });
            victims.assert_untouched(&context);
            drop(result); // a listener's drop must not reach the victim either
            victims.assert_untouched(&format!("{context}, then dropped"));
            attacks += 1;
        }
    }
    assert_eq!(attacks, 12);
}

#[test]
fn without_an_attacker_the_socket_gets_its_mode_and_the_private_directory_goes() {
    let root = tempfile::tempdir().unwrap();
    let target = root.path().join("s");
    let (socket, file) = listen(&target, &ListenOptions::new().mode(0o660), socket2::Type::STREAM).unwrap();
    let meta = fs::symlink_metadata(&target).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o660);
    let names: Vec<_> = fs::read_dir(root.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, [OsString::from("s")], "only the socket is left in the directory");
    std::os::unix::net::UnixStream::connect(&target).unwrap();
    drop((socket, file));
    assert!(fs::symlink_metadata(&target).is_err(), "the socket file is removed with its listener");
}

#[test]
fn two_listeners_started_at_once_exactly_one_wins() {
    for round in 0..200 {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("s");
        if round % 2 == 1 {
            // A stale socket file, which both will want to replace.
            drop(std::os::unix::net::UnixListener::bind(&target).unwrap());
        }
        let start = Arc::new(Barrier::new(2));
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let (start, target) = (Arc::clone(&start), target.clone());
                std::thread::spawn(move || {
                    start.wait();
                    listen(&target, &ListenOptions::new(), socket2::Type::STREAM)
                })
            })
            .collect();
        let results: Vec<_> = racers.into_iter().map(|r| r.join().unwrap()).collect();
        let (won, lost): (Vec<_>, Vec<_>) = results.into_iter().partition(|r| r.is_ok());
        assert_eq!((won.len(), lost.len()), (1, 1), "round {round}: exactly one must win");
        let err = lost.into_iter().next().unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "round {round}: {err}");
        assert!(err.to_string().contains("another process is listening"), "round {round}: {err}");
        let (socket, _file) = won.into_iter().next().unwrap().unwrap();
        std::os::unix::net::UnixStream::connect(&target)
            .unwrap_or_else(|e| panic!("round {round}: the winner is unreachable: {e}"));
        socket.accept().unwrap();
    }
}
