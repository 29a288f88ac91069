//! The wire format, with no I/O: frame headers both ways and the state machine that
//! reads frames out of whatever bytes arrive, in pieces of any size.

use super::FrameError;

/// The header of a `ShutdownRead` frame: the sender will read no more.
pub const SHUTDOWN_READ: u32 = 0xdead_beef;
/// The header of a `ShutdownWrite` frame: the sender will send no more (its peer
/// reads end-of-file).
pub const SHUTDOWN_WRITE: u32 = 0xbeef_dead;
/// The header of a `Close` frame: the sender is closing; its peer answers with a
/// `Close` of its own.
pub const CLOSE: u32 = 0xdead_dead;
/// The largest payload of one `Data` frame.
pub const MAX_DATA: usize = 4096;
/// The size of every header: a little-endian `u32`.
pub const HEADER_LEN: usize = 4;

/// One frame header.
///
/// ```
/// use hvsock::framed::Header;
///
/// assert_eq!(Header::Data(3).encode(), [3, 0, 0, 0]);
/// assert_eq!(Header::Close.encode(), [0xad, 0xde, 0xad, 0xde]);
/// assert_eq!(Header::decode([0xad, 0xde, 0xef, 0xbe]), Ok(Header::ShutdownWrite));
/// assert!(Header::decode([0x01, 0x10, 0, 0]).is_err()); // 4097 bytes: over the bound
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    /// `n` payload bytes follow (at most [`MAX_DATA`]).
    Data(u16),
    /// `0xdeadbeef`.
    ShutdownRead,
    /// `0xbeefdead`.
    ShutdownWrite,
    /// `0xdeaddead`.
    Close,
}

impl Header {
    /// The four bytes on the wire.
    pub fn encode(self) -> [u8; HEADER_LEN] {
        let word = match self {
            Header::Data(n) => u32::from(n),
            Header::ShutdownRead => SHUTDOWN_READ,
            Header::ShutdownWrite => SHUTDOWN_WRITE,
            Header::Close => CLOSE,
        };
        word.to_le_bytes()
    }

    /// The header these four bytes hold: a magic value, or a length of at most
    /// [`MAX_DATA`]. Anything else is refused before any payload is read: a word with
    /// the top bit set (a negative length to the original implementation) and an
    /// oversized length alike.
    pub fn decode(bytes: [u8; HEADER_LEN]) -> Result<Header, FrameError> {
        match u32::from_le_bytes(bytes) {
            SHUTDOWN_READ => Ok(Header::ShutdownRead),
            SHUTDOWN_WRITE => Ok(Header::ShutdownWrite),
            CLOSE => Ok(Header::Close),
            n if n as usize <= MAX_DATA => Ok(Header::Data(n as u16)),
            n if n & 0x8000_0000 != 0 => Err(FrameError::UnknownHeader(n)),
            n => Err(FrameError::TooLong(n)),
        }
    }
}

/// What the next bytes of input hold, from [`Decoder::decode`].
#[derive(Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// Payload bytes (part or all of one `Data` frame's).
    Data(&'a [u8]),
    /// A control frame.
    Control(Header),
    /// Every byte given was used (a header or payload may continue in the next input).
    NeedMore,
}

/// Reads frames from a byte stream that arrives in pieces of any size: a header split
/// across two reads, a payload spread over many. It holds no buffer of its own beyond a
/// partial header, and never allocates.
///
/// It also checks the order of frames: nothing may follow a `Close`, and no `Data` may
/// follow a `ShutdownWrite`.
///
/// ```
/// use hvsock::framed::{Decoder, Header, Item};
///
/// let wire = [2, 0, 0, 0, b'h', b'i', 0xad, 0xde, 0xef, 0xbe];
/// let mut decoder = Decoder::new();
/// let (used, item) = decoder.decode(&wire).unwrap();
/// assert_eq!((used, item), (6, Item::Data(b"hi")));
/// assert_eq!(decoder.decode(&wire[6..]).unwrap(), (4, Item::Control(Header::ShutdownWrite)));
/// assert!(decoder.end_of_input().is_ok()); // the peer finished before its end
/// ```
#[derive(Clone, Debug, Default)]
pub struct Decoder {
    /// Header bytes received so far (`partial` of them).
    header: [u8; HEADER_LEN],
    partial: usize,
    /// Payload bytes still to come in the current `Data` frame.
    payload_left: usize,
    write_shut: bool,
    closed: bool,
}

impl Decoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Decodes from the start of `input`: returns how many bytes were used and what they
    /// held. Call again with the rest of the input until it returns [`Item::NeedMore`].
    /// Errors are final: the stream can no longer be read.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Item<'a>), FrameError> {
        self.decode_up_to(input, usize::MAX)
    }

    /// As [`Decoder::decode`], but returns at most `room` payload bytes at a time (for a
    /// reader whose buffer has only so much room left). `room` must not be 0.
    pub fn decode_up_to<'a>(
        &mut self,
        input: &'a [u8],
        room: usize,
    ) -> Result<(usize, Item<'a>), FrameError> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            if self.payload_left > 0 {
                let n = self.payload_left.min(rest.len()).min(room);
                self.payload_left -= n;
                let item = if n == 0 { Item::NeedMore } else { Item::Data(&rest[..n]) };
                return Ok((used + n, item));
            }
            if self.closed && !rest.is_empty() {
                return Err(FrameError::AfterClose);
            }
            let n = (HEADER_LEN - self.partial).min(rest.len());
            self.header[self.partial..self.partial + n].copy_from_slice(&rest[..n]);
            self.partial += n;
            used += n;
            if self.partial < HEADER_LEN {
                return Ok((used, Item::NeedMore));
            }
            self.partial = 0;
            let header = Header::decode(self.header)?;
            match header {
                Header::Data(_) if self.write_shut => return Err(FrameError::AfterShutdownWrite),
                // An empty `Data` frame carries nothing: go on to what follows.
                Header::Data(len) => self.payload_left = usize::from(len),
                Header::ShutdownWrite => self.write_shut = true,
                Header::Close => self.closed = true,
                Header::ShutdownRead => {}
            }
            if !matches!(header, Header::Data(_)) {
                return Ok((used, Item::Control(header)));
            }
        }
    }

    /// Whether the peer has said it will send no more (`ShutdownWrite` or `Close`).
    pub fn finished(&self) -> bool {
        self.write_shut || self.closed
    }

    /// Whether a `Close` has arrived.
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// The verdict on a raw end of stream here: fine after the peer's `ShutdownWrite` or
    /// `Close`; otherwise the peer went away without finishing (killed, crashed, cut
    /// off), or in the middle of a frame.
    pub fn end_of_input(&self) -> Result<(), FrameError> {
        if self.partial > 0 {
            Err(FrameError::CutShort { missing: HEADER_LEN - self.partial, of: "header" })
        } else if self.payload_left > 0 {
            Err(FrameError::CutShort { missing: self.payload_left, of: "Data payload" })
        } else if !self.finished() {
            Err(FrameError::Unfinished)
        } else {
            Ok(())
        }
    }
}

/// Writes the headers for `len` payload bytes split into frames of [`MAX_DATA`]:
/// `headers[i]` goes before `payload[i * MAX_DATA..]`. Returns the number of frames.
pub fn data_headers(len: usize, headers: &mut [[u8; HEADER_LEN]]) -> usize {
    let frames = len.div_ceil(MAX_DATA);
    assert!(frames <= headers.len(), "{len} bytes need {frames} headers");
    for (i, header) in headers[..frames].iter_mut().enumerate() {
        let size = (len - i * MAX_DATA).min(MAX_DATA);
        *header = Header::Data(size as u16).encode();
    }
    frames
}
