//! Receiving bulk data straight into the reader's buffer, without a copy through the
//! frame buffer: one `recvmsg(2)` whose slices put each 4-byte header aside and each
//! payload where it belongs, on the guess that the frames are full (4096 bytes), as a
//! bulk sender's are. Where a frame is shorter, or a control frame comes, the bytes
//! after it landed in the wrong place: they go to the frame buffer, in wire order, and
//! the decoder takes them from there.

use std::io::{self, IoSliceMut};

use super::blocking::{Framed, Transport};
use super::codec::{Item, HEADER_LEN, MAX_DATA};
use super::reader::ReadBuffer;

/// A direct read needs room for at least this much payload.
pub(super) const DIRECT_MIN: usize = 4 * MAX_DATA;

/// The most frames one direct read expects: 64 KiB, about what one receive brings
/// (more slices cost each `recvmsg(2)` more than they save).
const FRAMES: usize = 16;

impl<S: Transport> Framed<S> {
    /// With the frame buffer empty and no header half-read: receives into `out`
    /// directly. `None` if it does not apply (then read through the buffer); otherwise
    /// the payload bytes now at the start of `out` (0: the stream ended, judged by the
    /// caller through the decoder).
    pub(super) fn read_direct(&self, reader: &mut ReadBuffer, out: &mut [u8]) -> Option<io::Result<usize>> {
        if reader.start < reader.end || reader.decoder.header_pending() || out.len() < DIRECT_MIN {
            return None;
        }
        let len = out.len().min(FRAMES * MAX_DATA);
        let out = &mut out[..len];
        let first = reader.decoder.payload_left().min(out.len());
        let mut headers = [[0u8; HEADER_LEN]; FRAMES];
        let received = {
            let (head, mut rest) = out.split_at_mut(first);
            let mut slices: Vec<IoSliceMut<'_>> = Vec::with_capacity(2 * FRAMES + 1);
            if !head.is_empty() {
                slices.push(IoSliceMut::new(head));
            }
            for header in headers.iter_mut() {
                if rest.is_empty() {
                    break;
                }
                let (slot, after) = rest.split_at_mut(rest.len().min(MAX_DATA));
                slices.push(IoSliceMut::new(header));
                slices.push(IoSliceMut::new(slot));
                rest = after;
            }
            loop {
                match self.get_ref().recv_vectored(&mut slices) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other,
                }
            }
        };
        let n = match received {
            Ok(n) => n,
            Err(e) => return Some(Err(reader.receive_failed(e))),
        };
        if n == 0 {
            reader.space();
            return Some(reader.received(0).map(|_| 0));
        }
        Some(self.sort_direct(reader, out, &headers, first, n))
    }

    /// Walks what a direct read put in `out` and `headers` (`n` bytes of the wire):
    /// returns the payload bytes in place at the start of `out`, moving whatever came
    /// after a short or control frame to the frame buffer.
    fn sort_direct(
        &self,
        reader: &mut ReadBuffer,
        out: &[u8],
        headers: &[[u8; HEADER_LEN]],
        first: usize,
        n: usize,
    ) -> io::Result<usize> {
        let layout = Layout { out, headers, first, n };
        let took = first.min(n);
        reader.decoder.skip_payload(took);
        let (mut placed, mut wire) = (took, took);
        for header in headers {
            if wire >= n {
                break;
            }
            if n - wire < HEADER_LEN {
                layout.gather(reader, wire);
                break;
            }
            let slot_len = (out.len() - placed).min(MAX_DATA);
            let in_slot = (n - wire - HEADER_LEN).min(slot_len);
            match reader.decoder.decode(header) {
                Err(e) => {
                    let e = io::Error::from(e);
                    reader.failed = Some(super::again(&e));
                    return if placed > 0 { Ok(placed) } else { Err(e) };
                }
                Ok((_, Item::Control(control))) => {
                    self.on_control(control);
                    layout.gather(reader, wire + HEADER_LEN);
                    break;
                }
                Ok(_) => {
                    let take = reader.decoder.payload_left().min(in_slot);
                    reader.decoder.skip_payload(take);
                    placed += take;
                    if take < in_slot {
                        // A short frame: what follows its payload is misplaced.
                        layout.gather(reader, wire + HEADER_LEN + take);
                        break;
                    }
                    wire += HEADER_LEN + in_slot;
                }
            }
        }
        Ok(placed)
    }
}

/// Where the wire's bytes went in a direct read: the rest of the current payload at the
/// start of `out`, then by turns a header in `headers` and a slot of `out`.
struct Layout<'a> {
    out: &'a [u8],
    headers: &'a [[u8; HEADER_LEN]],
    first: usize,
    n: usize,
}

impl Layout<'_> {
    /// Copies the wire's bytes from offset `from` on, in order, into the frame buffer.
    fn gather(&self, reader: &mut ReadBuffer, from: usize) {
        let space = reader.space();
        let mut len = 0;
        let mut copy = |at: usize, bytes: &[u8]| {
            let (start, end) = (from.max(at), self.n.min(at + bytes.len()));
            if start < end {
                space[len..len + end - start].copy_from_slice(&bytes[start - at..end - at]);
                len += end - start;
            }
        };
        copy(0, &self.out[..self.first]);
        let mut at = self.first;
        for (i, header) in self.headers.iter().enumerate() {
            let slot_start = self.first + i * MAX_DATA;
            if at >= self.n || slot_start >= self.out.len() {
                break;
            }
            copy(at, header);
            let slot = &self.out[slot_start..(slot_start + MAX_DATA).min(self.out.len())];
            copy(at + HEADER_LEN, slot);
            at += HEADER_LEN + slot.len();
        }
        reader.end = len;
    }
}
