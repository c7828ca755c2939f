//! Paths an upstream could resolve differently from the router. The gateway
//! routes on the path as written, so a path that decodes (once or twice) to a
//! different one is refused with 400 instead of forwarded: dot segments, also
//! percent-encoded or behind encoded slashes; encoded slashes and backslashes
//! (unless `limits.allow_encoded_slashes`); double-encoded dots, slashes and
//! backslashes; overlong UTF-8 forms (`%c0%ae` is a dot to lax decoders).

/// Why `path` is refused, or `None` to route it.
pub fn refuse(path: &str, allow_encoded_slashes: bool) -> Option<&'static str> {
    if has_dot_segment(path) {
        return Some("path contains `.` or `..` segments");
    }
    if !path.contains(['%', '\\']) {
        return None; // nothing encoded: the common case costs no allocation
    }
    let lower = path.to_ascii_lowercase();
    if !allow_encoded_slashes
        && (path.contains('\\') || lower.contains("%2f") || lower.contains("%5c"))
    {
        return Some("path contains an encoded slash or a backslash");
    }
    if ["%252e", "%252f", "%255c"]
        .iter()
        .any(|d| lower.contains(d))
    {
        return Some("path contains a double-encoded `.`, `/` or `\\`");
    }
    let decoded: Vec<u8> = percent_encoding::percent_decode(path.as_bytes()).collect();
    if has_overlong_utf8(&decoded) {
        return Some("path contains an overlong UTF-8 sequence");
    }
    None
}

/// Whether a segment of the path, split at `/`, `\` and their
/// percent-encodings (the separators some upstream may honour), is a dot
/// segment. (Slicing at these ASCII bytes is always on a character boundary.)
fn has_dot_segment(path: &str) -> bool {
    let bytes = path.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let width = match bytes[i] {
            b'/' | b'\\' => 1,
            b'%' if i + 3 <= bytes.len()
                && matches!(
                    [bytes[i + 1], bytes[i + 2].to_ascii_lowercase()],
                    [b'2', b'f'] | [b'5', b'c']
                ) =>
            {
                3
            }
            _ => 0,
        };
        if width > 0 {
            if is_dot_segment(&path[start..i]) {
                return true;
            }
            i += width;
            start = i;
        } else {
            i += 1;
        }
    }
    is_dot_segment(&path[start..])
}

/// `.` or `..`, with any dot possibly written `%2e`.
fn is_dot_segment(segment: &str) -> bool {
    let mut rest = segment.as_bytes();
    let mut dots = 0;
    while !rest.is_empty() {
        if rest[0] == b'.' {
            rest = &rest[1..];
        } else if rest.len() >= 3 && rest[0] == b'%' && rest[1] == b'2' && (rest[2] | 0x20) == b'e'
        {
            rest = &rest[3..];
        } else {
            return false;
        }
        dots += 1;
    }
    matches!(dots, 1 | 2)
}

/// Lead bytes that can only start an overlong encoding: `C0`/`C1` (two
/// bytes), `E0` + `80..9F` (three), `F0` + `80..8F` (four).
fn has_overlong_utf8(bytes: &[u8]) -> bool {
    bytes.windows(2).any(|w| match w[0] {
        0xC0 | 0xC1 => (0x80..=0xBF).contains(&w[1]),
        0xE0 => (0x80..=0x9F).contains(&w[1]),
        0xF0 => (0x80..=0x8F).contains(&w[1]),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_in_every_spelling_is_refused() {
        for path in [
            "/a/../b",
            "/a/%2e%2e/b",
            "/a/.%2E/b",
            "/a/..%2fb",
            "/a/..%2Fb",
            "/a/..\\b",
            "/a/..%5cb",
            "/a/%252e%252e/b",
            "/a/%252fetc",
            "/a/%c0%ae%c0%ae/b",
            "/a/%c0%afetc",
            "/a/%e0%80%ae/b",
            "/a/./b",
            "/a/b/..",
        ] {
            assert!(refuse(path, false).is_some(), "{path}");
        }
    }

    #[test]
    fn encoded_slashes_can_be_allowed_but_not_traversal_behind_them() {
        assert_eq!(refuse("/files/a%2Fb", true), None);
        assert!(refuse("/files/a%2Fb", false).is_some());
        assert!(refuse("/files/..%2Fsecret", true).is_some());
        assert!(refuse("/files/%2e%2e%5csecret", true).is_some());
    }

    #[test]
    fn ordinary_paths_pass() {
        for path in [
            "/",
            "/a/b.json",
            "/a/...",
            "/a/.well-known/x",
            "/caf%C3%A9",
            "/caf%E9",
            "/a/%2",
            "/a%",
            "/100%25",
        ] {
            assert_eq!(refuse(path, false), None, "{path}");
        }
    }
}
