//! Any bytes from a hybrid-vsock device: the reader never panics, never reads past the
//! first newline, never accepts more than 32 bytes, and accepts only `OK` lines.
#![no_main]

use hvsock::hybrid_proto::{parse_reply, ReplyReader, MAX_REPLY_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = ReplyReader::new();
    let mut used = 0;
    let mut outcome = None;
    for &byte in data {
        used += 1;
        if let Some(done) = reader.push(byte) {
            outcome = Some(done);
            break;
        }
    }
    let Some(outcome) = outcome else {
        assert!(used < MAX_REPLY_LEN && !data.contains(&b'\n'));
        return;
    };
    assert!(used <= MAX_REPLY_LEN);
    assert!(!data[..used - 1].contains(&b'\n'), "stopped at the first newline");
    if let Ok(port) = outcome {
        let line = &data[..used - 1];
        assert!(line.starts_with(b"OK"));
        assert_eq!(parse_reply(line).ok(), Some(port));
    }
});
