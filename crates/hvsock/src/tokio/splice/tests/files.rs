//! What is the whole process's, each test alone in a child process: a limit on open
//! files that leaves no room for a pipe, or little, and the pipes open after a burst of
//! bridges.

use std::net::Shutdown;
use std::thread;
use std::time::Duration;

use hvsock_testkit::payload;

use super::super::{pool, POOL_MAX, SHORT_HOLD};
use super::ends::{Ends, Kind};
use super::{counts, ends_on, exchange, runtime, within, LIMIT};
use crate::tokio::{bridge, Crossed};

/// Runs the test `name` (in this module) alone in a child process and asserts that it
/// passed; `true` in the child, which then runs the test's body. For what is the whole
/// process's: its open files and their limit.
fn in_child(name: &str) -> bool {
    const CHILD: &str = "HVSOCK_SPLICE_TEST_CHILD";
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let module = module_path!().split_once("::").unwrap().1;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([&format!("{module}::{name}"), "--exact", "--test-threads=1", "--nocapture"])
        .env(CHILD, "1")
        .spawn()
        .unwrap();
    // A child that hangs (a deadlock, say) fails the test.
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("{name} in a child process: still running after 120 s");
        }
        thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{name} in a child process: {status}");
    false
}

/// The open file descriptors of this process (`/proc/self/fd`, less the one reading it).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count() - 1
}

#[test]
fn without_a_pipe_a_burst_is_copied_and_arrives_intact() {
    if !in_child("without_a_pipe_a_burst_is_copied_and_arrives_intact") {
        return;
    }
    let rt = runtime();
    let ends = ends_on(&rt, Kind::Unix, Kind::Tcp);
    assert_eq!(pool().len(), 0, "a new process has no pipe kept");
    let short_then_long = ends_on(&rt, Kind::Tcp, Kind::Unix);
    // No new descriptor can be opened: `pipe2` fails with EMFILE.
    let was = limit_open_files(0);
    let (x, y) = ((3 << 20) + 7, (2 << 20) + 1);
    let crossed = exchange(&ends, &rt, x, y);
    assert_eq!(crossed, Crossed { a_to_b: x as u64, b_to_a: y as u64 });
    let (spliced, copied, fallbacks) = counts();
    assert_eq!((spliced, copied), (0, (x + y) as u64), "copied, not spliced");
    assert!(fallbacks >= 2, "each direction looked for a pipe first: {fallbacks}");
    // A short message, then a long one on the same burst's buffer, which grows.
    let ends = short_then_long;
    let long = payload(10, (2 << 20) + 3);
    thread::scope(|s| {
        s.spawn(|| {
            std::io::Write::write_all(&mut &ends.client, b"short").unwrap();
            thread::sleep(Duration::from_millis(2));
            ends.client.send_all(&long).unwrap();
        });
        s.spawn(|| ends.server.shutdown(Shutdown::Write).unwrap());
        let at_server = s.spawn(|| ends.server.read_all());
        let crossed = within(&rt, LIMIT, bridge(&ends.a, &ends.b)).unwrap().unwrap();
        assert_eq!(crossed.a_to_b, 5 + long.len() as u64);
        let got = at_server.join().unwrap();
        assert!(got[..5] == *b"short" && got[5..] == long[..], "{} bytes arrived, or differ", got.len());
    });
    limit_open_files(was);
    // With descriptors again (and a moment after they were short), the next connection
    // splices.
    thread::sleep(SHORT_HOLD + Duration::from_millis(100));
    let ends = ends_on(&rt, Kind::Unix, Kind::Tcp);
    exchange(&ends, &rt, 1 << 20, 0);
    assert_eq!(counts().0, 1 << 20);
}

/// Sets the soft limit of open files (`setrlimit(RLIMIT_NOFILE)`); returns the old one.
fn limit_open_files(to: u64) -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read and write one valid rlimit struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        let new = libc::rlimit { rlim_cur: to, rlim_max: limit.rlim_max };
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &new), 0);
    }
    limit.rlim_cur
}

#[test]
fn near_the_limit_of_open_files_pipes_leave_the_descriptors_to_sockets() {
    if !in_child("near_the_limit_of_open_files_pipes_leave_the_descriptors_to_sockets") {
        return;
    }
    let rt = runtime();
    let new_ends = || ends_on(&rt, Kind::Unix, Kind::Unix);
    let first = new_ends();
    exchange(&first, &rt, 1 << 20, 1 << 20);
    assert!(!pool().is_empty(), "pipes kept after a spliced exchange");
    // Past half the limit (but far from it), pipes are made but not kept.
    pool().clear();
    let filler: Vec<_> = (0..100).map(|_| std::fs::File::open("/dev/null").unwrap()).collect();
    let half = new_ends();
    let fds = open_fds();
    let newest = {
        use std::os::fd::AsRawFd;
        half.a.as_raw_fd().max(half.b.as_raw_fd()) as u64
    };
    let was = limit_open_files(newest * 2 - 2);
    let before = counts();
    exchange(&half, &rt, 1 << 20, 1 << 20);
    limit_open_files(was);
    assert_eq!(counts().0 - before.0, 2 << 20, "spliced past half the limit");
    assert_eq!((pool().len(), open_fds()), (0, fds), "no pipe kept past half the limit");
    // Pipes kept again (under half the limit), for the next step to close.
    let refill = new_ends();
    exchange(&refill, &rt, 1 << 20, 1 << 20);
    let kept = pool().len();
    assert!(kept > 0, "pipes kept under half the limit");
    // A connection that comes with 12 descriptors left: within the reserve (16).
    let ends = new_ends();
    let fds = open_fds();
    let was = limit_open_files(fds as u64 + 12);
    let before = counts();
    exchange(&ends, &rt, (1 << 20) + 1, 1);
    let after = counts();
    assert_eq!((after.0 - before.0, after.1 - before.1), (0, (1 << 20) + 2), "copied, not spliced");
    assert_eq!(pool().len(), 0, "no pipe kept near the limit");
    assert_eq!(open_fds(), fds - 2 * kept, "the kept pipes closed");
    // The descriptors went to sockets: one more connection (four of them) fits.
    let more = new_ends();
    drop(more);
    limit_open_files(was);
    // Far from the limit again, and a moment after: the next connection splices.
    thread::sleep(SHORT_HOLD + Duration::from_millis(100));
    exchange(&new_ends(), &rt, 1 << 20, 0);
    assert_eq!(counts().0 - after.0, 1 << 20, "spliced again");
    drop((first, half, filler, refill));
}

#[test]
fn a_pipe_too_near_the_limit_or_past_it_is_not_made_and_the_burst_copied() {
    if !in_child("a_pipe_too_near_the_limit_or_past_it_is_not_made_and_the_burst_copied") {
        return;
    }
    use std::os::fd::AsRawFd;
    let rt = runtime();
    let ends = [(); 3].map(|()| ends_on(&rt, Kind::Unix, Kind::Tcp));
    let newest = ends.iter().map(|e| e.a.as_raw_fd().max(e.b.as_raw_fd())).max().unwrap() as u64;
    // Forty more descriptors after the sockets: a new pipe is numbered past them, while
    // the sockets stay clear of the reserve (16).
    let filler: Vec<_> = (0..40).map(|_| std::fs::File::open("/dev/null").unwrap()).collect();
    let fds = open_fds();
    // 1. The pipe can be made, but within the reserve: closed again. 2. Past the limit:
    // `pipe2` fails (EMFILE). Either way the burst is copied, and nothing hangs.
    for (ends, limit) in ends[..2].iter().zip([newest + 50, newest + 20]) {
        let was = limit_open_files(limit);
        let before = counts();
        exchange(ends, &rt, (1 << 20) + 3, 5);
        limit_open_files(was);
        let after = counts();
        assert_eq!((after.0 - before.0, after.1 - before.1), (0, (1 << 20) + 8), "copied at {limit}");
        assert!(after.2 > before.2, "a pipe was asked for");
        assert_eq!((open_fds(), pool().len()), (fds, 0), "no pipe left open");
    }
    drop(filler);
    thread::sleep(SHORT_HOLD + Duration::from_millis(100));
    exchange(&ends[2], &rt, 1 << 20, 0);
    assert_eq!(pool().len(), 1, "far from the limit again, a pipe is made and kept");
}

#[test]
fn pipes_go_back_to_a_bounded_pool_or_are_closed() {
    if !in_child("pipes_go_back_to_a_bounded_pool_or_are_closed") {
        return;
    }
    let rt = runtime();
    let fds = open_fds();
    // Forty connections at once, each splicing 1 MiB both ways.
    let all: Vec<Ends> = {
        let _in = rt.enter();
        (0..40).map(|i| Ends::new(if i % 2 == 0 { Kind::Unix } else { Kind::Tcp }, Kind::Unix)).collect()
    };
    assert_eq!(open_fds(), fds + 4 * 40);
    thread::scope(|s| {
        for ends in &all {
            s.spawn(|| ends.client.send_all(&payload(5, 1 << 20)).unwrap());
            s.spawn(|| ends.server.send_all(&payload(6, 1 << 20)).unwrap());
            s.spawn(|| assert_eq!(ends.server.read_all().len(), 1 << 20));
            s.spawn(|| assert_eq!(ends.client.read_all().len(), 1 << 20));
        }
        let done = within(&rt, LIMIT, join_all(all.iter().map(|e| bridge(&e.a, &e.b))));
        let both = Crossed { a_to_b: 1 << 20, b_to_a: 1 << 20 };
        assert!(done.unwrap().iter().all(|r| matches!(r, Ok(c) if *c == both)));
    });
    assert_eq!(counts().0, 80 << 20, "spliced");
    let kept = pool().len();
    assert!(kept > 0 && kept <= POOL_MAX, "{kept} pipes kept");
    assert_eq!(open_fds(), fds + 4 * 40 + 2 * kept, "every pipe not kept is closed");
    drop(all);
    assert_eq!(open_fds(), fds + 2 * kept);
    pool().clear();
    assert_eq!(open_fds(), fds);

    // A bridge dropped while its destination does not read: the pipe it holds, with
    // bytes in it, is closed, not kept.
    let ends = ends_on(&rt, Kind::Unix, Kind::Unix);
    thread::scope(|s| {
        s.spawn(|| {
            let _ = ends.client.send_all(&payload(9, 16 << 20));
        });
        let result = within(&rt, Duration::from_millis(500), bridge(&ends.a, &ends.b));
        assert!(result.is_err(), "the bridge cannot finish: the server does not read");
        assert_eq!(pool().len(), 0, "a pipe with bytes in it is never kept");
        assert_eq!(open_fds(), fds + 4, "the dropped bridge's pipe is closed");
        // Ends the client's sending (EPIPE).
        ends.a.shutdown_now(Shutdown::Both).unwrap();
    });
    drop(ends);
    assert_eq!(open_fds(), fds);
}

/// Polls every future in turn until all are done.
async fn join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.map(|f| Some(Box::pin(f))).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(&mut outputs) {
            if let Some(f) = future {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(out) => (*future, *output) = (None, Some(out)),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

#[test]
fn a_direction_takes_no_pipe_while_its_destination_cannot_take_bytes() {
    if !in_child("a_direction_takes_no_pipe_while_its_destination_cannot_take_bytes") {
        return;
    }
    let rt = runtime();
    let ends = ends_on(&rt, Kind::Unix, Kind::Unix);
    // The way to the server, which does not read yet, is full before the bridge starts.
    let filled = rt.block_on(async {
        let mut filled = 0;
        loop {
            ends.b.writable().await.unwrap();
            match ends.b.try_write(&[0u8; 65536]) {
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break filled,
                Err(e) => panic!("{e}"),
            }
        }
    });
    let data = payload(11, 1 << 20);
    let (resume, wait) = std::sync::mpsc::channel::<()>();
    let fds = open_fds();
    thread::scope(|s| {
        s.spawn(|| ends.client.send_all(&data).unwrap());
        let server = s.spawn(move || {
            wait.recv().unwrap();
            let got = ends.server.read_all();
            ends.server.shutdown(Shutdown::Write).unwrap();
            got
        });
        let probe = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let held = (open_fds(), pool().len(), counts());
            resume.send(()).unwrap();
            held
        };
        let (crossed, held) =
            rt.block_on(async { tokio::join!(within_async(bridge(&ends.a, &ends.b)), probe) });
        assert_eq!(held, (fds, 0, (0, 0, 0)), "the stalled direction holds no pipe, nothing moved");
        assert_eq!(crossed.unwrap().unwrap(), Crossed { a_to_b: 1 << 20, b_to_a: 0 });
        let got = server.join().unwrap();
        assert!(got.len() == filled + data.len() && got[filled..] == data[..], "{} bytes arrived", got.len());
    });
}

/// `future`, given up after [`LIMIT`].
async fn within_async<F: std::future::Future>(future: F) -> Result<F::Output, tokio::time::error::Elapsed> {
    tokio::time::timeout(LIMIT, future).await
}
