//! The wire format byte for byte (from ocaml-hvsock's `Flow_shutdown`), hostile frames,
//! and the blocking stream over Unix socket pairs.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::{Duration, Instant};

use super::*;

fn pair() -> (Framed<UnixStream>, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    b.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    (Framed::new(a), b)
}

/// Everything `raw` receives until the framed side's `Shutdown::Write`.
fn read_exact_n(raw: &mut UnixStream, n: usize) -> Vec<u8> {
    let mut got = vec![0; n];
    raw.read_exact(&mut got).unwrap();
    got
}

fn frame_error(err: &io::Error) -> FrameError {
    err.get_ref().and_then(|e| e.downcast_ref::<FrameError>()).cloned().unwrap_or_else(|| panic!("{err}"))
}

#[test]
fn golden_bytes_of_each_header() {
    assert_eq!(Header::Data(0).encode(), [0, 0, 0, 0]);
    assert_eq!(Header::Data(4096).encode(), [0x00, 0x10, 0x00, 0x00]);
    assert_eq!(Header::ShutdownRead.encode(), [0xef, 0xbe, 0xad, 0xde]);
    assert_eq!(Header::ShutdownWrite.encode(), [0xad, 0xde, 0xef, 0xbe]);
    assert_eq!(Header::Close.encode(), [0xad, 0xde, 0xad, 0xde]);
    for header in [Header::Data(7), Header::ShutdownRead, Header::ShutdownWrite, Header::Close] {
        assert_eq!(Header::decode(header.encode()), Ok(header));
    }
}

#[test]
fn golden_bytes_on_the_wire() {
    let (framed, mut raw) = pair();
    (&framed).write_all(b"abc").unwrap();
    framed.shutdown(Shutdown::Read).unwrap();
    framed.shutdown(Shutdown::Write).unwrap();
    framed.shutdown(Shutdown::Write).unwrap(); // sent once
    assert_eq!(
        read_exact_n(&mut raw, 15),
        [3, 0, 0, 0, b'a', b'b', b'c', 0xef, 0xbe, 0xad, 0xde, 0xad, 0xde, 0xef, 0xbe]
    );
    // Close, and the peer's Close in answer.
    let closer = thread::spawn(move || framed.close());
    assert_eq!(read_exact_n(&mut raw, 4), [0xad, 0xde, 0xad, 0xde]);
    raw.write_all(&[0xad, 0xde, 0xad, 0xde]).unwrap();
    closer.join().unwrap().unwrap();
}

#[test]
fn a_close_received_is_answered_with_close() {
    let (framed, mut raw) = pair();
    raw.write_all(&[2, 0, 0, 0, b'h', b'i', 0xad, 0xde, 0xad, 0xde]).unwrap();
    let mut got = Vec::new();
    (&framed).read_to_end(&mut got).unwrap();
    assert_eq!(got, b"hi");
    assert!(framed.peer_closed());
    assert_eq!(read_exact_n(&mut raw, 4), Header::Close.encode());
    let err = (&framed).write(b"x").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
    framed.close().unwrap(); // already answered: no wait
}

#[test]
fn large_writes_are_split_into_4096_byte_frames() {
    let (framed, mut raw) = pair();
    let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
    assert_eq!((&framed).write(&data).unwrap(), 5000);
    let got = read_exact_n(&mut raw, 5008);
    assert_eq!(got[..4], [0x00, 0x10, 0, 0]);
    assert_eq!(got[4..4100], data[..4096]);
    assert_eq!(got[4100..4104], [0x88, 0x03, 0, 0]); // 904
    assert_eq!(got[4104..], data[4096..]);
    // One write takes at most a batch: 64 frames that are exactly 256 KiB on the wire,
    // four whole 64 KiB vsock packets (63 of 4096 bytes and one of 3840).
    let reader = thread::spawn(move || read_exact_n(&mut raw, BATCH_WIRE));
    let big = vec![7u8; BATCH + 10];
    assert_eq!((&framed).write(&big).unwrap(), BATCH);
    assert_eq!(BATCH, 261_888);
    let got = reader.join().unwrap();
    let frames: Vec<&[u8]> = got.chunks(HEADER_LEN + MAX_DATA).collect();
    assert_eq!(frames.len(), BATCH_FRAMES);
    assert!(frames[..63].iter().all(|frame| frame[..4] == [0x00, 0x10, 0, 0] && frame.len() == 4100));
    assert_eq!(frames[63][..4], [0x00, 0x0f, 0, 0]); // 3840
    assert_eq!(frames[63].len(), HEADER_LEN + 3840);
}

#[test]
fn decoder_takes_input_in_pieces_of_any_size() {
    let mut wire = Vec::new();
    for (i, len) in [0usize, 1, 4096, 17].into_iter().enumerate() {
        wire.extend_from_slice(&Header::Data(len as u16).encode());
        wire.extend(std::iter::repeat_n(i as u8, len));
    }
    wire.extend_from_slice(&Header::ShutdownWrite.encode());
    for piece in [1, 3, 4, 5, 4099, wire.len()] {
        let mut decoder = Decoder::new();
        let (mut payload, mut controls) = (Vec::new(), Vec::new());
        for chunk in wire.chunks(piece) {
            let mut at = 0;
            loop {
                let (used, item) = decoder.decode_up_to(&chunk[at..], 1000).unwrap();
                at += used;
                match item {
                    Item::Data(d) => payload.extend_from_slice(d),
                    Item::Control(h) => controls.push(h),
                    Item::NeedMore => break,
                }
            }
            assert_eq!(at, chunk.len());
        }
        assert_eq!(payload.len(), 1 + 4096 + 17, "pieces of {piece}");
        assert_eq!(controls, [Header::ShutdownWrite]);
        assert_eq!(decoder.end_of_input(), Ok(()));
    }
}

/// What reading a framed stream whose peer sent `wire` and then ended gives.
fn read_after(wire: &[u8]) -> io::Result<Vec<u8>> {
    let (framed, mut raw) = pair();
    raw.write_all(wire).unwrap();
    drop(raw);
    let mut got = Vec::new();
    let result = (&framed).read_to_end(&mut got).map(|_| got);
    // Errors stay: a second read says the same.
    if let Err(e) = &result {
        assert_eq!((&framed).read(&mut [0; 8]).unwrap_err().to_string(), e.to_string());
    }
    result
}

#[test]
fn hostile_frames_are_each_their_own_error() {
    let cases: [(&[u8], FrameError, io::ErrorKind); 8] = [
        (&[0x01, 0x00, 0x00, 0x80], FrameError::UnknownHeader(0x8000_0001), io::ErrorKind::InvalidData),
        (&[0xff, 0xff, 0xff, 0xff], FrameError::UnknownHeader(u32::MAX), io::ErrorKind::InvalidData),
        (&[0x01, 0x10, 0x00, 0x00], FrameError::TooLong(4097), io::ErrorKind::InvalidData),
        (&[0xff, 0xff, 0xff, 0x7f], FrameError::TooLong(0x7fff_ffff), io::ErrorKind::InvalidData),
        (&[5, 0], FrameError::CutShort { missing: 2, of: "header" }, io::ErrorKind::UnexpectedEof),
        (
            &[5, 0, 0, 0, b'a'],
            FrameError::CutShort { missing: 4, of: "Data payload" },
            io::ErrorKind::UnexpectedEof,
        ),
        (&[0xad, 0xde, 0xad, 0xde, 1, 0, 0, 0, b'x'], FrameError::AfterClose, io::ErrorKind::InvalidData),
        (
            &[0xad, 0xde, 0xef, 0xbe, 1, 0, 0, 0, b'x'],
            FrameError::AfterShutdownWrite,
            io::ErrorKind::InvalidData,
        ),
    ];
    for (wire, expected, kind) in cases {
        let err = read_after(wire).unwrap_err();
        assert_eq!((frame_error(&err), err.kind()), (expected, kind), "{wire:x?}");
    }
}

#[test]
fn a_raw_end_is_an_error_unless_the_peer_finished() {
    let err = read_after(&[2, 0, 0, 0, b'o', b'k']).unwrap_err();
    assert_eq!(frame_error(&err), FrameError::Unfinished);
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert!(err.to_string().contains("went away without finishing"), "{err}");
    assert_eq!(read_after(&[2, 0, 0, 0, b'o', b'k', 0xad, 0xde, 0xef, 0xbe]).unwrap(), b"ok");
    assert_eq!(read_after(&[0, 0, 0, 0, 0xad, 0xde, 0xad, 0xde]).unwrap(), b"");
}

/// As [`read_after`], but the peer leaves bytes of ours unread when it goes, which a
/// Unix socket reports as a reset, not an end of stream.
fn read_after_reset(wire: &[u8]) -> io::Result<Vec<u8>> {
    let (framed, mut raw) = pair();
    raw.write_all(wire).unwrap();
    framed.shutdown(Shutdown::Write).unwrap(); // a ShutdownWrite frame the peer never reads
    drop(raw);
    let mut got = Vec::new();
    (&framed).read_to_end(&mut got).map(|_| got)
}

#[test]
fn a_reset_is_judged_as_a_raw_end() {
    let err = read_after_reset(&[2, 0, 0, 0, b'o', b'k']).unwrap_err();
    assert_eq!(frame_error(&err), FrameError::Unfinished, "{err}");
    assert_eq!(read_after_reset(&[2, 0, 0, 0, b'o', b'k', 0xad, 0xde, 0xef, 0xbe]).unwrap(), b"ok");
}

#[test]
fn data_before_a_bad_header_is_delivered_first() {
    let (framed, mut raw) = pair();
    raw.write_all(&[2, 0, 0, 0, b'o', b'k', 0x01, 0x10, 0x00, 0x00]).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!((&framed).read(&mut buf).unwrap(), 2);
    assert_eq!(frame_error(&(&framed).read(&mut buf).unwrap_err()), FrameError::TooLong(4097));
}

#[test]
fn a_close_never_acknowledged_fails_in_bounded_time() {
    let (framed, mut raw) = pair();
    let framed = framed.with_close_timeout(Duration::from_millis(300));
    let started = Instant::now();
    // Data and a ShutdownWrite meanwhile are not an acknowledgement.
    raw.write_all(&[1, 0, 0, 0, b'x', 0xad, 0xde, 0xef, 0xbe]).unwrap();
    let err = framed.close().unwrap_err();
    assert_eq!(frame_error(&err), FrameError::CloseNotAcknowledged(Duration::from_millis(300)));
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(read_exact_n(&mut raw, 4), Header::Close.encode());
}

#[test]
fn a_close_cut_off_is_an_error() {
    let (framed, raw) = pair();
    drop(raw);
    let err = framed.close().unwrap_err();
    // The Close may not even be sent (EPIPE), or the end comes before any answer.
    assert!(
        err.kind() == io::ErrorKind::BrokenPipe
            || err.get_ref().and_then(|e| e.downcast_ref::<FrameError>()) == Some(&FrameError::CloseCutOff),
        "{err}"
    );
}

#[test]
fn close_does_not_race_a_reader() {
    let (a, b) = UnixStream::pair().unwrap();
    let (a, b) = (std::sync::Arc::new(Framed::new(a)), Framed::new(b));
    let reader = {
        let a = std::sync::Arc::clone(&a);
        thread::spawn(move || {
            let mut got = Vec::new();
            (&*a).read_to_end(&mut got).map(|_| got)
        })
    };
    thread::sleep(Duration::from_millis(50)); // the reader is blocked in recv
    let peer = thread::spawn(move || {
        (&b).write_all(b"last words").unwrap();
        let mut rest = Vec::new();
        let read = (&b).read_to_end(&mut rest); // our Close: end of file, answered
        (read.map(|_| rest), b.close())
    });
    a.close_ref().unwrap();
    assert_eq!(reader.join().unwrap().unwrap(), b"last words");
    let (read, closed) = peer.join().unwrap();
    assert_eq!(read.unwrap(), b"");
    closed.unwrap();
}

#[test]
fn request_reply_and_close_both_ways() {
    let (a, b) = UnixStream::pair().unwrap();
    let (mut a, mut b) = (Framed::new(a), Framed::new(b));
    let request: Vec<u8> = (0..1_000_003u32).map(|i| (i * 7) as u8).collect();
    let expected = request.clone();
    let server = thread::spawn(move || {
        let mut got = Vec::new();
        b.read_to_end(&mut got).unwrap();
        assert_eq!(got, expected);
        b.write_all(b"reply after end of request").unwrap();
        b.shutdown(Shutdown::Write).unwrap();
        b.close()
    });
    a.write_all(&request).unwrap();
    a.shutdown(Shutdown::Write).unwrap();
    let mut reply = String::new();
    a.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "reply after end of request");
    a.close().unwrap();
    server.join().unwrap().unwrap();
}

/// A small deterministic generator for the shapes below.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Frames of every size (full, short, empty) sent raw in pieces of any size, read into
/// buffers of any size: the payload arrives whole and
/// in order, and the end is clean.
#[test]
fn mixed_frames_read_through_every_path() {
    for seed in 1..=12u64 {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let (mut wire, mut expected) = (Vec::new(), Vec::new());
        for _ in 0..400 {
            let len = match xorshift(&mut state) % 4 {
                0 => MAX_DATA,
                1 => 0,
                _ => (xorshift(&mut state) % (MAX_DATA as u64 + 1)) as usize,
            };
            let payload: Vec<u8> = (0..len).map(|_| xorshift(&mut state) as u8).collect();
            wire.extend_from_slice(&Header::Data(len as u16).encode());
            wire.extend_from_slice(&payload);
            expected.extend_from_slice(&payload);
        }
        wire.extend_from_slice(&Header::ShutdownRead.encode());
        wire.extend_from_slice(&Header::ShutdownWrite.encode());
        let (a, mut raw) = UnixStream::pair().unwrap();
        let framed = Framed::new(a);
        let writer = thread::spawn(move || {
            let mut rest = &wire[..];
            while !rest.is_empty() {
                let n = rest.len().min(1 + (xorshift(&mut state) % 70_000) as usize);
                raw.write_all(&rest[..n]).unwrap();
                rest = &rest[n..];
            }
            raw
        });
        let mut got = Vec::new();
        let mut buf = vec![0u8; 300_000];
        let mut sizes = seed;
        loop {
            let size = [1, 100, 4096, 20_000, 70_000, 300_000][(xorshift(&mut sizes) % 6) as usize];
            match (&framed).read(&mut buf[..size]).unwrap() {
                0 => break,
                n => got.extend_from_slice(&buf[..n]),
            }
        }
        assert!(got == expected, "seed {seed}: {} bytes of {}", got.len(), expected.len());
        let refused = (&framed).write(b"x").unwrap_err(); // the peer's ShutdownRead came through
        assert!(refused.to_string().contains("ShutdownRead"), "seed {seed}: {refused}");
        drop(writer.join().unwrap());
    }
}

#[test]
fn bulk_writes_and_large_reads_round_trip() {
    let (a, b) = UnixStream::pair().unwrap();
    let (a, b) = (Framed::new(a), Framed::new(b));
    let data: Vec<u8> = (0..5_000_000u32).map(|i| (i ^ (i >> 9)) as u8).collect();
    let sent = data.clone();
    let writer = thread::spawn(move || {
        let mut state = 7u64;
        let mut rest = &sent[..];
        while !rest.is_empty() {
            let n = rest.len().min(1 + (xorshift(&mut state) % 2_000_000) as usize);
            (&a).write_all(&rest[..n]).unwrap();
            rest = &rest[n..];
        }
        a.shutdown(Shutdown::Write).unwrap();
        a
    });
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match (&b).read(&mut buf).unwrap() {
            0 => break,
            n => got.extend_from_slice(&buf[..n]),
        }
    }
    assert!(got == data, "{} bytes of {}", got.len(), data.len());
    drop(writer.join().unwrap());
}
