//! RFC 6455 frames as a server reads and writes them: client frames must
//! be masked, servers' are not; control frames are short and whole; data
//! messages may come in fragments, which `Assembler` joins. Every limit is
//! checked before bytes are kept, so a client cannot make the server hold
//! more than one frame's (or message's) worth: a frame over `max_frame` or
//! a message over `max_message` is refused with close code 1009.

use bytes::{Buf, Bytes, BytesMut};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    fn from_bits(bits: u8) -> Option<Opcode> {
        Some(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: Opcode,
    pub payload: Bytes,
}

/// Why a connection is closed, with the close code RFC 6455 assigns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    pub code: u16,
    pub reason: &'static str,
}

const PROTOCOL: u16 = 1002;
const INVALID_DATA: u16 = 1007;
const TOO_BIG: u16 = 1009;

fn refuse(code: u16, reason: &'static str) -> ProtocolError {
    ProtocolError { code, reason }
}

/// Reads client frames out of the bytes as they arrive.
pub struct Decoder {
    buf: BytesMut,
    max_frame: usize,
}

impl Decoder {
    pub fn new(max_frame: usize) -> Decoder {
        Decoder {
            buf: BytesMut::new(),
            max_frame,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, None until one has arrived.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, ProtocolError> {
        let b = &self.buf;
        if b.len() < 2 {
            return Ok(None);
        }
        let (first, second) = (b[0], b[1]);
        if first & 0x70 != 0 {
            return Err(refuse(PROTOCOL, "reserved bits set without an extension"));
        }
        let fin = first & 0x80 != 0;
        let opcode = Opcode::from_bits(first & 0x0F).ok_or(refuse(PROTOCOL, "unknown opcode"))?;
        if second & 0x80 == 0 {
            return Err(refuse(PROTOCOL, "client frames must be masked"));
        }
        let (len, header) = match second & 0x7F {
            126 if b.len() >= 4 => (u64::from(u16::from_be_bytes([b[2], b[3]])), 4),
            127 if b.len() >= 10 => {
                let mut n = [0u8; 8];
                n.copy_from_slice(&b[2..10]);
                (u64::from_be_bytes(n), 10)
            }
            126 | 127 => return Ok(None),
            n => (u64::from(n), 2),
        };
        if opcode.is_control() && (len > 125 || !fin) {
            return Err(refuse(
                PROTOCOL,
                "control frames are whole and at most 125 bytes",
            ));
        }
        if len > self.max_frame as u64 {
            return Err(refuse(TOO_BIG, "frame too large"));
        }
        let len = len as usize;
        if b.len() < header + 4 + len {
            return Ok(None);
        }
        let mut mask = [0u8; 4];
        mask.copy_from_slice(&b[header..header + 4]);
        self.buf.advance(header + 4);
        let mut payload = self.buf.split_to(len);
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= mask[i % 4];
        }
        Ok(Some(Frame {
            fin,
            opcode,
            payload: payload.freeze(),
        }))
    }
}

/// A server frame (unmasked, whole).
pub fn encode(opcode: Opcode, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 10);
    out.extend_from_slice(&[0x80 | opcode.bits()]);
    match payload.len() {
        n if n < 126 => out.extend_from_slice(&[n as u8]),
        n if n <= usize::from(u16::MAX) => {
            out.extend_from_slice(&[126]);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.extend_from_slice(&[127]);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out.freeze()
}

/// A Close frame's payload: the code and a reason (at most 123 bytes, cut
/// at a character boundary).
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = code.to_be_bytes().to_vec();
    out.extend_from_slice(&reason.as_bytes()[..end]);
    out
}

/// What the connection has to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Text(String),
    Binary(Bytes),
    Ping(Bytes),
    Pong(Bytes),
    /// The client's close code, if it gave one.
    Close(Option<u16>),
}

/// Joins fragments into messages, within `max_message` bytes; text must be
/// UTF-8 (close code 1007 otherwise).
pub struct Assembler {
    max_message: usize,
    partial: Option<(Opcode, BytesMut)>,
}

impl Assembler {
    pub fn new(max_message: usize) -> Assembler {
        Assembler {
            max_message,
            partial: None,
        }
    }

    /// The event a frame completes, if any.
    pub fn take(&mut self, frame: Frame) -> Result<Option<Event>, ProtocolError> {
        match frame.opcode {
            Opcode::Ping => return Ok(Some(Event::Ping(frame.payload))),
            Opcode::Pong => return Ok(Some(Event::Pong(frame.payload))),
            Opcode::Close => {
                let code = match frame.payload.len() {
                    0 => None,
                    1 => return Err(refuse(PROTOCOL, "a close payload has a two-byte code")),
                    _ => {
                        if std::str::from_utf8(&frame.payload[2..]).is_err() {
                            return Err(refuse(INVALID_DATA, "the close reason is not UTF-8"));
                        }
                        Some(u16::from_be_bytes([frame.payload[0], frame.payload[1]]))
                    }
                };
                return Ok(Some(Event::Close(code)));
            }
            _ => {}
        }
        let (opcode, mut data) = match (frame.opcode, self.partial.take()) {
            (Opcode::Continuation, Some((opcode, data))) => (opcode, data),
            (Opcode::Continuation, None) => {
                return Err(refuse(PROTOCOL, "a continuation without a message"))
            }
            (_, Some(_)) => return Err(refuse(PROTOCOL, "a new message inside a fragmented one")),
            (opcode, None) => (opcode, BytesMut::new()),
        };
        if data.len() + frame.payload.len() > self.max_message {
            return Err(refuse(TOO_BIG, "message too large"));
        }
        data.extend_from_slice(&frame.payload);
        if !frame.fin {
            self.partial = Some((opcode, data));
            return Ok(None);
        }
        Ok(Some(match opcode {
            Opcode::Text => Event::Text(
                String::from_utf8(data.to_vec())
                    .map_err(|_| refuse(INVALID_DATA, "text frames must be UTF-8"))?,
            ),
            _ => Event::Binary(data.freeze()),
        }))
    }
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub fn accept_key(client_key: &str) -> String {
    use base64::Engine;
    use sha1::Digest;
    let mut hasher = sha1::Sha1::new();
    hasher.update(client_key.trim().as_bytes());
    hasher.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: masked with `mask`.
    fn client(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut out = vec![first];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 65535 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    fn events(
        bytes: &[u8],
        max_frame: usize,
        max_message: usize,
    ) -> Result<Vec<Event>, ProtocolError> {
        let mut d = Decoder::new(max_frame);
        let mut a = Assembler::new(max_message);
        let mut out = Vec::new();
        // One byte at a time: a frame may arrive in any pieces.
        for b in bytes {
            d.push(&[*b]);
            while let Some(frame) = d.next_frame()? {
                if let Some(e) = a.take(frame)? {
                    out.push(e);
                }
            }
        }
        Ok(out)
    }

    #[test]
    fn the_rfc_examples_decode() {
        // RFC 6455 5.7: a masked "Hello".
        let hello = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(
            events(&hello, 1024, 1024),
            Ok(vec![Event::Text("Hello".into())])
        );
        // Fragmented "Hel" + "lo", with a ping between the fragments.
        let mut bytes = client(0x01, b"Hel", [1, 2, 3, 4]);
        bytes.extend(client(0x89, b"hi", [5, 6, 7, 8]));
        bytes.extend(client(0x80, b"lo", [9, 9, 9, 9]));
        assert_eq!(
            events(&bytes, 1024, 1024),
            Ok(vec![
                Event::Ping(Bytes::from("hi")),
                Event::Text("Hello".into())
            ])
        );
        // 16- and 64-bit lengths.
        let medium = vec![7u8; 300];
        let large = vec![9u8; 70_000];
        let mut bytes = client(0x82, &medium, [1, 1, 1, 1]);
        bytes.extend(client(0x82, &large, [2, 2, 2, 2]));
        assert_eq!(
            events(&bytes, 100_000, 100_000),
            Ok(vec![
                Event::Binary(medium.into()),
                Event::Binary(large.into())
            ])
        );
        // A close with a code.
        let close = client(0x88, &close_payload(1000, "bye"), [3, 3, 3, 3]);
        assert_eq!(
            events(&close, 1024, 1024),
            Ok(vec![Event::Close(Some(1000))])
        );
        // The handshake's accept value (RFC 6455 1.3).
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn bad_frames_get_their_close_codes() {
        let code = |bytes: &[u8], frame: usize, message: usize| {
            events(bytes, frame, message).unwrap_err().code
        };
        // Unmasked, reserved bits, unknown opcode.
        assert_eq!(code(&[0x81, 0x01, b'x'], 1024, 1024), 1002);
        assert_eq!(code(&client(0xC1, b"x", [1, 2, 3, 4]), 1024, 1024), 1002);
        assert_eq!(code(&client(0x83, b"x", [1, 2, 3, 4]), 1024, 1024), 1002);
        // A long or fragmented control frame.
        assert_eq!(
            code(&client(0x89, &[0; 126], [1, 2, 3, 4]), 1024, 1024),
            1002
        );
        assert_eq!(code(&client(0x09, b"x", [1, 2, 3, 4]), 1024, 1024), 1002);
        // Too large: refused from the header, before the payload arrives.
        let mut d = Decoder::new(1024);
        d.push(&[0x82, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0]);
        assert_eq!(d.next_frame().unwrap_err().code, 1009);
        // A message over the limit in fragments.
        let mut bytes = client(0x02, &[0; 600], [1, 2, 3, 4]);
        bytes.extend(client(0x80, &[0; 600], [1, 2, 3, 4]));
        assert_eq!(code(&bytes, 1024, 1000), 1009);
        // Text that is not UTF-8; a continuation out of nowhere.
        assert_eq!(
            code(&client(0x81, &[0xff, 0xfe], [1, 2, 3, 4]), 1024, 1024),
            1007
        );
        assert_eq!(code(&client(0x80, b"x", [1, 2, 3, 4]), 1024, 1024), 1002);
    }

    #[test]
    fn server_frames_are_unmasked_and_sized() {
        assert_eq!(&encode(Opcode::Text, b"hi")[..], &[0x81, 2, b'h', b'i']);
        let medium = encode(Opcode::Binary, &[0; 300]);
        assert_eq!(&medium[..4], &[0x82, 126, 1, 44]);
        let large = encode(Opcode::Binary, &[0; 70_000]);
        assert_eq!(&large[..2], &[0x82, 127]);
        assert_eq!(large.len(), 70_000 + 10);
        // A close reason is cut at 123 bytes, on a character boundary.
        assert_eq!(close_payload(1001, &"é".repeat(100)).len(), 2 + 122);
    }
}
