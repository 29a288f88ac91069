//! A relay under load: a burst of clients, and an upstream that keeps them waiting.
#![cfg(unix)]

mod kit;

use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

use kit::*;
use socket2::{Domain, SockAddr, Socket, Type};

/// Clients that connect without blocking, `n` of them, kept open.
fn burst(path: &std::path::Path, n: usize) -> Vec<Socket> {
    (0..n)
        .map(|i| {
            let socket = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
            socket.set_nonblocking(true).unwrap();
            socket
                .connect(&SockAddr::unix(path).unwrap())
                .unwrap_or_else(|e| panic!("client {i} of {n}: {e}"));
            socket
        })
        .collect()
}

/// Defect 3: clients waiting for an upstream whose queue is full cost little CPU, and
/// once they have gone, the relay's descriptors and CPU return to where they were.
#[test]
fn clients_that_leave_a_jammed_upstream_are_given_up_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, front) = (dir.path().join("upstream"), dir.path().join("front"));
    let _jam = jammed_listener(&upstream);
    let front_uri = format!("unix://{}", front.display());
    let relay = hvcat(&["-l", "-k", &front_uri, "--relay", &format!("unix://{}", upstream.display())])
        .spawn()
        .unwrap();
    wait_for(&front);
    thread::sleep(Duration::from_millis(200));
    let (pid, baseline) = (relay.id(), open_fds(relay.id()));
    let clients = burst(&front, 300);
    thread::sleep(Duration::from_millis(500));
    let (ticks, started) = (cpu_ticks(pid), Instant::now());
    thread::sleep(Duration::from_secs(1));
    let busy = (cpu_ticks(pid) - ticks) as f64 / 100.0 / started.elapsed().as_secs_f64();
    assert!(open_fds(pid) >= baseline + 300, "the clients are held while they wait");
    drop(clients);
    let left = Instant::now();
    while open_fds(pid) > baseline {
        assert!(
            left.elapsed() < Duration::from_millis(1500),
            "{} fds still open, {baseline} before",
            open_fds(pid)
        );
        thread::sleep(Duration::from_millis(5));
    }
    let given_up = left.elapsed();
    let (ticks, idle_from) = (cpu_ticks(pid), Instant::now());
    thread::sleep(Duration::from_secs(1));
    let idle = (cpu_ticks(pid) - ticks) as f64 / 100.0 / idle_from.elapsed().as_secs_f64();
    let stderr = stop(relay);
    eprintln!(
        "300 waiting clients: {:.0}% of a core; after they left: {:.0}%, fds back to {baseline} in {:?}",
        busy * 100.0,
        idle * 100.0,
        given_up
    );
    assert!(busy < 0.25, "300 waiting clients cost {:.0}% of a core", busy * 100.0);
    assert!(idle < 0.02, "after the clients left: {:.0}% of a core", idle * 100.0);
    assert!(stderr.contains("closed before unix://") && stderr.contains("gave up connecting"), "{stderr}");
}

/// By default the listen backlog is the system's maximum: a burst of 2000 clients that
/// connect without blocking all get in, and every one is relayed.
#[test]
fn a_burst_of_2000_non_blocking_clients_all_get_through_the_relay() {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, front) = (dir.path().join("upstream"), dir.path().join("front"));
    let echo = hvcat(&["-l", "--echo", &format!("unix://{}", upstream.display())]).spawn().unwrap();
    wait_for(&upstream);
    let front_uri = format!("unix://{}", front.display());
    let relay = hvcat(&["-l", "-k", &front_uri, "--relay", &format!("unix://{}", upstream.display())])
        .spawn()
        .unwrap();
    wait_for(&front);
    let clients = burst(&front, 2000);
    for (i, client) in clients.iter().enumerate() {
        client.set_nonblocking(false).unwrap();
        client.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let byte = [i as u8];
        assert_eq!(client.send(&byte).unwrap(), 1);
        let mut back = [std::mem::MaybeUninit::new(0u8); 1];
        let n =
            client.recv(&mut back).unwrap_or_else(|e| panic!("client {i}: {e} (fd {})", client.as_raw_fd()));
        // SAFETY: recv initialised the first n bytes.
        assert_eq!((n, unsafe { back[0].assume_init() }), (1, i as u8), "client {i}");
    }
    drop(clients);
    stop(relay);
    stop(echo);
}
