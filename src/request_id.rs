//! `X-Request-Id`: kept from the client when it is sane, generated otherwise.

pub const HEADER: &str = "x-request-id";

/// A client-supplied id is kept if it is 1-128 visible characters from a
/// conservative set, so it can go into logs and headers unescaped.
pub fn accept(value: &[u8]) -> Option<&str> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value.iter().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/' | b'+' | b'=')
        });
    if ok {
        std::str::from_utf8(value).ok()
    } else {
        None
    }
}

/// A random UUID (version 4 layout) from a fast thread-local generator: ids
/// need to be unique, not secret. Written into a fixed array, then one
/// allocation: this runs for every request.
pub fn generate() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let v = fastrand::u128(..);
    let v = (v & !(0xF << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let mut out = [b'-'; 36];
    let mut at = 0;
    for i in 0..32 {
        if matches!(i, 8 | 12 | 16 | 20) {
            at += 1;
        }
        out[at] = HEX[((v >> (124 - 4 * i)) & 0xF) as usize];
        at += 1;
    }
    // Only ASCII hex digits and dashes were written.
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        let id = generate();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(generate(), generate());
        assert_eq!(id.as_bytes()[8], b'-');
        assert_eq!(id.as_bytes()[23], b'-');
        assert!(matches!(id.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
        assert_eq!(accept(b"abc-123"), Some("abc-123"));
        assert_eq!(accept(b"bad id"), None);
        assert_eq!(accept(b""), None);
        assert_eq!(accept(&[b'a'; 129]), None);
    }
}
