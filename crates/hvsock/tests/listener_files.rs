//! `hvsock::remove_listener_files`, the cleanup a signal handler runs. In a test binary of
//! its own: it acts on every listener of the process.
#![cfg(unix)]

use std::fs;

#[test]
fn removes_open_listeners_files_but_not_a_replacement() {
    let root = tempfile::tempdir().unwrap();
    let (kept, replaced) = (root.path().join("kept"), root.path().join("replaced"));
    let first = hvsock::Listener::bind(&format!("unix://{}", kept.display()).parse().unwrap()).unwrap();
    let second = hvsock::Listener::bind(&format!("unix://{}", replaced.display()).parse().unwrap()).unwrap();
    fs::remove_file(&replaced).unwrap();
    fs::write(&replaced, b"someone else's").unwrap();
    assert_eq!(hvsock::remove_listener_files(), 2);
    assert!(fs::symlink_metadata(&kept).is_err(), "the listener's file is removed");
    assert_eq!(fs::read(&replaced).unwrap(), b"someone else's", "a replacement is left alone");
    drop((first, second)); // dropping them afterwards removes nothing more
    assert_eq!(fs::read(&replaced).unwrap(), b"someone else's");
    assert_eq!(hvsock::remove_listener_files(), 0);
    // The process is ending: a listener started now (by another thread, racing the
    // signal) must not leave a file behind.
    let late = root.path().join("late");
    let err = hvsock::Listener::bind(&format!("unix://{}", late.display()).parse().unwrap()).unwrap_err();
    assert!(err.to_string().contains("listener files were removed (it is ending)"), "{err}");
    assert!(fs::symlink_metadata(&late).is_err(), "no file is put in place after the removal");
}
