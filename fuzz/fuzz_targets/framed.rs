//! Any bytes from a framed peer, in pieces of any size: the decoder never panics, never
//! gives more payload than the headers announced (each at most 4096), consumes every
//! byte it is given, and once it fails it stays failed; a piecewise decode agrees with a
//! whole one.
#![no_main]

use hvsock::framed::{Decoder, Item, MAX_DATA};
use libfuzzer_sys::fuzz_target;

/// Decodes `input` in pieces of `piece` bytes, at most `room` payload bytes at a time:
/// (payload, control headers seen, error).
fn decode(input: &[u8], piece: usize, room: usize) -> (Vec<u8>, usize, Option<String>) {
    let mut decoder = Decoder::new();
    let (mut payload, mut controls) = (Vec::new(), 0);
    for chunk in input.chunks(piece.max(1)) {
        let mut at = 0;
        loop {
            match decoder.decode_up_to(&chunk[at..], room) {
                Err(e) => return (payload, controls, Some(e.to_string())),
                Ok((used, item)) => {
                    assert!(at + used <= chunk.len());
                    at += used;
                    match item {
                        Item::Data(d) => {
                            assert!(!d.is_empty() && d.len() <= room.min(MAX_DATA));
                            payload.extend_from_slice(d);
                        }
                        Item::Control(_) => controls += 1,
                        Item::NeedMore => {
                            assert_eq!(at, chunk.len(), "NeedMore only once all is used");
                            break;
                        }
                    }
                }
            }
        }
    }
    let end = decoder.end_of_input().err().map(|e| format!("end: {e}"));
    (payload, controls, end)
}

fuzz_target!(|data: &[u8]| {
    let Some((&shape, input)) = data.split_first() else { return };
    let whole = decode(input, input.len(), usize::MAX);
    let piecewise = decode(input, usize::from(shape % 9) + 1, usize::from(shape / 9) + 1);
    assert_eq!(whole, piecewise);
    assert!(whole.0.len() <= input.len());
});
