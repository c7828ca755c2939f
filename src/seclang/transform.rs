//! ModSecurity's transformations (`t:`), on bytes as ModSecurity applies
//! them. Each returns None when the input is unchanged, so a clean value
//! costs no allocation.

use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transform {
    Lowercase,
    Uppercase,
    UrlDecode,
    UrlDecodeUni,
    HtmlEntityDecode,
    JsDecode,
    CssDecode,
    CmdLine,
    CompressWhitespace,
    RemoveWhitespace,
    RemoveNulls,
    ReplaceNulls,
    RemoveComments,
    RemoveCommentsChar,
    ReplaceComments,
    NormalizePath,
    NormalizePathWin,
    Base64Decode,
    Base64DecodeExt,
    Base64Encode,
    HexDecode,
    HexEncode,
    SqlHexDecode,
    Utf8ToUnicode,
    EscapeSeqDecode,
    Length,
    Sha1,
    Trim,
    TrimLeft,
    TrimRight,
}

impl Transform {
    /// By the name after `t:`; `none` is handled by the caller.
    pub fn by_name(name: &str) -> Option<Transform> {
        use Transform::*;
        Some(match name.to_ascii_lowercase().as_str() {
            "lowercase" => Lowercase,
            "uppercase" => Uppercase,
            "urldecode" => UrlDecode,
            "urldecodeuni" => UrlDecodeUni,
            "htmlentitydecode" => HtmlEntityDecode,
            "jsdecode" => JsDecode,
            "cssdecode" => CssDecode,
            "cmdline" => CmdLine,
            "compresswhitespace" => CompressWhitespace,
            "removewhitespace" => RemoveWhitespace,
            "removenulls" => RemoveNulls,
            "replacenulls" => ReplaceNulls,
            "removecomments" => RemoveComments,
            "removecommentschar" => RemoveCommentsChar,
            "replacecomments" => ReplaceComments,
            "normalisepath" | "normalizepath" => NormalizePath,
            "normalisepathwin" | "normalizepathwin" => NormalizePathWin,
            "base64decode" => Base64Decode,
            "base64decodeext" => Base64DecodeExt,
            "base64encode" => Base64Encode,
            "hexdecode" => HexDecode,
            "hexencode" => HexEncode,
            "sqlhexdecode" => SqlHexDecode,
            "utf8tounicode" => Utf8ToUnicode,
            "escapeseqdecode" => EscapeSeqDecode,
            "length" => Length,
            "sha1" => Sha1,
            "trim" => Trim,
            "trimleft" => TrimLeft,
            "trimright" => TrimRight,
            _ => return None,
        })
    }

    /// The transformed value, or None when it is the input unchanged.
    pub fn apply(self, v: &[u8]) -> Option<Vec<u8>> {
        if self.leaves_unchanged(v) {
            return None;
        }
        self.compute(v)
    }

    fn compute(self, v: &[u8]) -> Option<Vec<u8>> {
        use Transform::*;
        let out = match self {
            Lowercase => {
                if !v.iter().any(u8::is_ascii_uppercase) {
                    return None;
                }
                v.to_ascii_lowercase()
            }
            Uppercase => {
                if !v.iter().any(u8::is_ascii_lowercase) {
                    return None;
                }
                v.to_ascii_uppercase()
            }
            UrlDecode | UrlDecodeUni => {
                if !v.iter().any(|&b| b == b'%' || b == b'+') {
                    return None;
                }
                url_decode(v, self == UrlDecodeUni)
            }
            HtmlEntityDecode => {
                if !v.contains(&b'&') {
                    return None;
                }
                html_entity_decode(v)
            }
            JsDecode => {
                if !v.contains(&b'\\') {
                    return None;
                }
                js_decode(v)
            }
            CssDecode => {
                if !v.contains(&b'\\') {
                    return None;
                }
                css_decode(v)
            }
            CmdLine => cmd_line(v),
            CompressWhitespace => {
                let mut out = Vec::with_capacity(v.len());
                let mut space = false;
                for &b in v {
                    if is_space(b) {
                        if !space {
                            out.push(b' ');
                        }
                        space = true;
                    } else {
                        out.push(b);
                        space = false;
                    }
                }
                out
            }
            RemoveWhitespace => v
                .iter()
                .copied()
                .filter(|&b| !is_space(b) && b != 0xa0)
                .collect(),
            RemoveNulls => {
                if !v.contains(&0) {
                    return None;
                }
                v.iter().copied().filter(|&b| b != 0).collect()
            }
            ReplaceNulls => {
                if !v.contains(&0) {
                    return None;
                }
                v.iter().map(|&b| if b == 0 { b' ' } else { b }).collect()
            }
            RemoveComments => comments(v, false),
            ReplaceComments => comments(v, true),
            RemoveCommentsChar => remove_comment_chars(v),
            NormalizePath => normalize_path(v, false),
            NormalizePathWin => normalize_path(v, true),
            Base64Decode => base64(v, false),
            Base64DecodeExt => base64(v, true),
            Base64Encode => {
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, v).into_bytes()
            }
            HexDecode => hex_decode(v),
            HexEncode => {
                const DIGITS: &[u8; 16] = b"0123456789abcdef";
                let mut out = Vec::with_capacity(v.len() * 2);
                for b in v {
                    out.extend_from_slice(&[
                        DIGITS[usize::from(b >> 4)],
                        DIGITS[usize::from(b & 15)],
                    ]);
                }
                out
            }
            SqlHexDecode => sql_hex_decode(v),
            Utf8ToUnicode => {
                if v.is_ascii() {
                    return None;
                }
                let text = String::from_utf8_lossy(v);
                let mut out = String::with_capacity(v.len() * 2);
                for c in text.chars() {
                    if c.is_ascii() {
                        out.push(c);
                    } else {
                        out.push_str(&format!("%u{:04x}", c as u32));
                    }
                }
                out.into_bytes()
            }
            EscapeSeqDecode => {
                if !v.contains(&b'\\') {
                    return None;
                }
                escape_seq_decode(v)
            }
            Length => v.len().to_string().into_bytes(),
            Sha1 => ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, v)
                .as_ref()
                .to_vec(),
            Trim => v.trim_ascii().to_vec(),
            TrimLeft => v.trim_ascii_start().to_vec(),
            TrimRight => v.trim_ascii_end().to_vec(),
        };
        (out != v).then_some(out)
    }
}

impl Transform {
    /// A quick look for what the transformation would act on; true when
    /// it surely changes nothing (most request values, for most of them).
    fn leaves_unchanged(self, v: &[u8]) -> bool {
        use Transform::*;
        let has = |set: &[u8]| v.iter().any(|b| set.contains(b));
        match self {
            CmdLine => !v.iter().enumerate().any(|(i, &b)| {
                b.is_ascii_uppercase()
                    || matches!(b, b'\\' | b'"' | b'\'' | b'^' | b',' | b';')
                    || (is_space(b)
                        && (b != b' ' || matches!(v.get(i + 1), Some(b' ' | b'/' | b'('))))
            }),
            CompressWhitespace => !v
                .iter()
                .enumerate()
                .any(|(i, &b)| is_space(b) && (b != b' ' || v.get(i + 1) == Some(&b' '))),
            RemoveWhitespace => !v.iter().any(|&b| is_space(b) || b == 0xa0),
            RemoveComments | ReplaceComments | RemoveCommentsChar => !has(b"/*<-#"),
            NormalizePath => !has(b".") && !v.windows(2).any(|w| w == b"//"),
            NormalizePathWin => !has(b".\\") && !v.windows(2).any(|w| w == b"//"),
            Trim | TrimLeft | TrimRight => {
                !v.first().is_some_and(|b| b.is_ascii_whitespace())
                    && !v.last().is_some_and(|b| b.is_ascii_whitespace())
            }
            _ => false,
        }
    }
}

/// A transformation chain, interned: 0 is the empty chain.
pub type ChainId = u32;

/// Every rule's transformation chain, interned as (the chain before, its
/// last transformation): rules with the same chain get the same id, and
/// chains that start alike share their first steps, so a request works
/// out each step for a value once.
#[derive(Default)]
pub struct Chains {
    steps: Vec<(ChainId, Transform)>,
}

impl Chains {
    pub fn intern(&mut self, chain: &[Transform]) -> ChainId {
        let mut id = 0;
        for t in chain {
            let step = (id, *t);
            id = match self.steps.iter().position(|s| *s == step) {
                Some(at) => at as ChainId + 1,
                None => {
                    self.steps.push(step);
                    self.steps.len() as ChainId
                }
            };
        }
        id
    }

    /// How many chains there are (ids are below this).
    pub fn count(&self) -> usize {
        self.steps.len() + 1
    }

    /// The chain before the last step, and the last step (None for the
    /// empty chain).
    pub fn last_step(&self, id: ChainId) -> Option<(ChainId, Transform)> {
        id.checked_sub(1).map(|at| self.steps[at as usize])
    }
}

/// Applies `chain` in order; borrowed while nothing changes.
pub fn apply_all<'a>(value: &'a [u8], chain: &[Transform]) -> Cow<'a, [u8]> {
    let mut current = Cow::Borrowed(value);
    for t in chain {
        if let Some(next) = t.apply(&current) {
            current = Cow::Owned(next);
        }
    }
    current
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// A `%u`/`\u`/CSS code point as the byte ModSecurity reads: full-width
/// ASCII (U+FF01..U+FF5E) as ASCII, any other code point by its low byte.
fn code_point_byte(code: u32) -> u8 {
    if (0xff01..=0xff5e).contains(&code) {
        (code - 0xfee0) as u8
    } else {
        (code & 0xff) as u8
    }
}

fn url_decode(v: &[u8], uni: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if uni && i + 6 <= v.len() && matches!(v[i + 1], b'u' | b'U') => {
                let digits: Option<Vec<u8>> = v[i + 2..i + 6].iter().map(|&b| hex(b)).collect();
                match digits {
                    Some(d) => {
                        let code = d.iter().fold(0u32, |a, &x| a * 16 + x as u32);
                        out.push(code_point_byte(code));
                        i += 6;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'%' if i + 2 < v.len() => match (hex(v[i + 1]), hex(v[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn html_entity_decode(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] != b'&' {
            out.push(v[i]);
            i += 1;
            continue;
        }
        let rest = &v[i + 1..];
        // `&#x41;`, `&#65;` (the `;` optional), `&lt;` and friends.
        if let Some(num) = rest.strip_prefix(b"#") {
            let (radix, digits_at) = match num.first() {
                Some(b'x' | b'X') => (16, 1),
                _ => (10, 0),
            };
            let digits: Vec<u8> = num[digits_at..]
                .iter()
                .take_while(|b| (**b as char).is_digit(radix))
                .copied()
                .collect();
            if !digits.is_empty() {
                let code = u32::from_str_radix(std::str::from_utf8(&digits).unwrap_or("0"), radix)
                    .unwrap_or(0);
                out.push((code & 0xff) as u8);
                let mut used = 1 + digits_at + digits.len();
                if rest.get(used) == Some(&b';') {
                    used += 1;
                }
                i += 1 + used;
                continue;
            }
        }
        let named: &[(&[u8], u8)] = &[
            (b"quot", b'"'),
            (b"amp", b'&'),
            (b"lt", b'<'),
            (b"gt", b'>'),
            (b"nbsp", 0xa0),
            (b"apos", b'\''),
        ];
        if let Some((name, c)) = named.iter().find(|(n, _)| rest.starts_with(n)) {
            out.push(*c);
            let mut used = name.len();
            if rest.get(used) == Some(&b';') {
                used += 1;
            }
            i += 1 + used;
            continue;
        }
        out.push(b'&');
        i += 1;
    }
    out
}

fn js_decode(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] != b'\\' || i + 1 >= v.len() {
            out.push(v[i]);
            i += 1;
            continue;
        }
        let n = v[i + 1];
        let hexes = |from: usize, count: usize| -> Option<u32> {
            let s = v.get(from..from + count)?;
            s.iter()
                .try_fold(0u32, |a, &b| hex(b).map(|d| a * 16 + d as u32))
        };
        match n {
            b'u' => match hexes(i + 2, 4) {
                Some(code) => {
                    out.push(code_point_byte(code));
                    i += 6;
                }
                None => {
                    out.push(n);
                    i += 2;
                }
            },
            b'x' => match hexes(i + 2, 2) {
                Some(code) => {
                    out.push(code as u8);
                    i += 4;
                }
                None => {
                    out.push(n);
                    i += 2;
                }
            },
            b'0'..=b'7' => {
                let digits: Vec<u8> = v[i + 1..]
                    .iter()
                    .take(3)
                    .take_while(|b| (b'0'..=b'7').contains(b))
                    .copied()
                    .collect();
                let code = digits.iter().fold(0u32, |a, &d| a * 8 + (d - b'0') as u32);
                out.push((code & 0xff) as u8);
                i += 1 + digits.len();
            }
            b'a' | b'b' | b'f' | b'n' | b'r' | b't' | b'v' => {
                out.push(match n {
                    b'a' => 7,
                    b'b' => 8,
                    b'f' => 12,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    _ => 11,
                });
                i += 2;
            }
            other => {
                out.push(other);
                i += 2;
            }
        }
    }
    out
}

fn css_decode(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] != b'\\' {
            out.push(v[i]);
            i += 1;
            continue;
        }
        let digits: Vec<u8> = v[i + 1..]
            .iter()
            .take(6)
            .take_while(|b| hex(**b).is_some())
            .copied()
            .collect();
        if digits.is_empty() {
            match v.get(i + 1) {
                // An escaped newline is removed.
                Some(b'\n') => i += 2,
                Some(&c) => {
                    out.push(c);
                    i += 2;
                }
                None => i += 1,
            }
            continue;
        }
        let code = digits
            .iter()
            .fold(0u32, |a, &d| a * 16 + hex(d).unwrap_or(0) as u32);
        out.push(code_point_byte(code));
        i += 1 + digits.len();
        // One whitespace after a hex escape belongs to it.
        if v.get(i).is_some_and(|b| is_space(*b)) {
            i += 1;
        }
    }
    out
}

/// Windows and Unix command-line obfuscation undone, as ModSecurity's
/// `cmdLine`: `\ " ' ^` deleted, spaces before `/` and `(` deleted, `,` and
/// `;` as spaces, whitespace compressed, lowercased.
fn cmd_line(v: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(v.len());
    let mut space = false;
    for &b in v {
        match b {
            b'\\' | b'"' | b'\'' | b'^' => {}
            b' ' | b'\t' | b'\n' | b'\r' | b',' | b';' | 0x0b | 0x0c => {
                if !space {
                    out.push(b' ');
                    space = true;
                }
            }
            b'/' | b'(' => {
                if space {
                    out.pop();
                }
                space = false;
                out.push(b);
            }
            b => {
                space = false;
                out.push(b.to_ascii_lowercase());
            }
        }
    }
    out
}

/// `/* */`, `<!-- -->`, and `--` or `#` to the end: removed, or (replace)
/// `/* */` as one space.
fn comments(v: &[u8], replace: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i..].starts_with(b"/*") {
            let end = v[i + 2..]
                .windows(2)
                .position(|w| w == b"*/")
                .map_or(v.len(), |p| i + 2 + p + 2);
            if replace {
                out.push(b' ');
            }
            i = end;
        } else if !replace && v[i..].starts_with(b"<!--") {
            i = v[i + 4..]
                .windows(3)
                .position(|w| w == b"-->")
                .map_or(v.len(), |p| i + 4 + p + 3);
        } else if !replace && (v[i..].starts_with(b"--") || v[i] == b'#') {
            break;
        } else {
            out.push(v[i]);
            i += 1;
        }
    }
    out
}

fn remove_comment_chars(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        let skip = [&b"/*"[..], b"*/", b"<!--", b"-->", b"--"]
            .iter()
            .find(|p| v[i..].starts_with(p))
            .map(|p| p.len())
            .or((v[i] == b'#').then_some(1));
        match skip {
            Some(n) => i += n,
            None => {
                out.push(v[i]);
                i += 1;
            }
        }
    }
    out
}

fn normalize_path(v: &[u8], windows: bool) -> Vec<u8> {
    let text: Vec<u8> = if windows {
        v.iter()
            .map(|&b| if b == b'\\' { b'/' } else { b })
            .collect()
    } else {
        v.to_vec()
    };
    let absolute = text.first() == Some(&b'/');
    let trailing = text.last() == Some(&b'/') || text.ends_with(b"/.") || text.ends_with(b"/..");
    let mut parts: Vec<&[u8]> = Vec::new();
    for seg in text.split(|&b| b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                if parts.last().is_some_and(|p| *p != b"..") {
                    parts.pop();
                } else if !absolute {
                    parts.push(seg);
                }
            }
            s => parts.push(s),
        }
    }
    let mut out = Vec::with_capacity(text.len());
    if absolute {
        out.push(b'/');
    }
    out.extend(parts.join(&b'/'));
    if trailing && !out.ends_with(b"/") {
        out.push(b'/');
    }
    out
}

fn base64(v: &[u8], lenient: bool) -> Vec<u8> {
    use base64::Engine;
    let cleaned: Vec<u8> = v
        .iter()
        .copied()
        .filter(|b| {
            b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/' || (!lenient && *b == b'=')
        })
        .take_while(|b| *b != b'=')
        .collect();
    // Decode as much as forms whole groups.
    let whole = &cleaned[..cleaned.len() - cleaned.len() % 4];
    let mut out = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(whole)
        .unwrap_or_default();
    let tail = &cleaned[whole.len()..];
    if tail.len() >= 2 {
        if let Ok(more) = base64::engine::general_purpose::STANDARD_NO_PAD.decode(tail) {
            out.extend(more);
        }
    }
    out
}

fn hex_decode(v: &[u8]) -> Vec<u8> {
    v.chunks(2)
        .filter_map(|p| match p {
            [h, l] => Some(hex(*h)? * 16 + hex(*l)?),
            _ => None,
        })
        .collect()
}

/// `0x414243` -> `ABC`, inside any text.
fn sql_hex_decode(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'0' && matches!(v.get(i + 1), Some(b'x' | b'X')) {
            let digits = v[i + 2..].iter().take_while(|b| hex(**b).is_some()).count();
            if digits >= 2 {
                out.extend(hex_decode(&v[i + 2..i + 2 + digits - digits % 2]));
                i += 2 + digits - digits % 2;
                continue;
            }
        }
        out.push(v[i]);
        i += 1;
    }
    out
}

fn escape_seq_decode(v: &[u8]) -> Vec<u8> {
    // The same ANSI C escapes as JavaScript's, without `\u`.
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'\\' && v.get(i + 1) == Some(&b'u') {
            out.extend_from_slice(b"\\u");
            i += 2;
            continue;
        }
        let end = v[i + 1..]
            .iter()
            .position(|&b| b == b'\\')
            .map_or(v.len(), |p| i + 1 + p);
        out.extend(js_decode(&v[i..end]));
        i = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Transform::*;
    use super::*;

    fn t(x: Transform, v: &str) -> String {
        String::from_utf8_lossy(
            &x.apply(v.as_bytes())
                .unwrap_or_else(|| v.as_bytes().to_vec()),
        )
        .into_owned()
    }

    #[test]
    fn decodings() {
        assert_eq!(t(UrlDecodeUni, "%27%20OR%u0020%uff11=1+x"), "' OR 1=1 x");
        assert_eq!(t(UrlDecode, "100%"), "100%");
        assert_eq!(
            t(HtmlEntityDecode, "&lt;script&gt;&#x61;&#98&quot;"),
            "<script>ab\""
        );
        assert_eq!(t(JsDecode, "\\x3cscript\\u003e\\n\\101"), "<script>\nA");
        assert_eq!(t(CssDecode, "\\6a avascript\\:"), "javascript:");
        assert_eq!(
            t(CmdLine, "C:\\Wind^ows\\\"system32\" , /c  DIR"),
            "c:windowssystem32/c dir"
        );
        assert_eq!(t(CompressWhitespace, "a \t\n b"), "a b");
        assert_eq!(t(RemoveNulls, "a\0b"), "ab");
        assert_eq!(t(ReplaceComments, "UNION/**/SELECT/* x"), "UNION SELECT ");
        assert_eq!(t(RemoveComments, "1 -- x"), "1 ");
        assert_eq!(t(NormalizePath, "/a/./b/../../etc//passwd"), "/etc/passwd");
        assert_eq!(t(NormalizePath, "../../etc/passwd"), "../../etc/passwd");
        assert_eq!(
            t(NormalizePathWin, "..\\..\\windows\\win.ini"),
            "../../windows/win.ini"
        );
        assert_eq!(t(Base64Decode, "PHNjcmlwdD4="), "<script>");
        assert_eq!(t(Base64DecodeExt, "PHNj.cmlwdD4"), "<script>");
        assert_eq!(t(HexEncode, "A\n"), "410a");
        assert_eq!(t(HexDecode, "414243"), "ABC");
        assert_eq!(t(SqlHexDecode, "select 0x414243"), "select ABC");
        assert_eq!(t(Utf8ToUnicode, "é"), "%u00e9");
        assert_eq!(t(Length, "abc"), "3");
        assert_eq!(t(Lowercase, "SeLeCt"), "select");
        assert_eq!(t(Trim, "  a "), "a");
        assert_eq!(Sha1.apply(b"abc").map(|d| d.len()), Some(20));
        assert!(
            Lowercase.apply(b"already").is_none(),
            "unchanged values allocate nothing"
        );
    }

    /// The quick look never skips a value the transformation would change:
    /// every string of up to four characters from an alphabet of what the
    /// transformations act on.
    #[test]
    fn the_quick_look_agrees_with_the_transformation() {
        let alphabet = b"aA \t/.\\(,;-*#<!'\"^\n";
        let mut values: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..4 {
            let longer: Vec<Vec<u8>> = values
                .iter()
                .filter(|v| v.len() == values.last().map_or(0, Vec::len))
                .flat_map(|v| {
                    alphabet.iter().map(move |&b| {
                        let mut w = v.clone();
                        w.push(b);
                        w
                    })
                })
                .collect();
            values.extend(longer);
        }
        for t in [
            CmdLine,
            CompressWhitespace,
            RemoveWhitespace,
            RemoveComments,
            ReplaceComments,
            RemoveCommentsChar,
            NormalizePath,
            NormalizePathWin,
            Trim,
            TrimLeft,
            TrimRight,
        ] {
            for v in &values {
                if t.leaves_unchanged(v) {
                    assert_eq!(t.compute(v), None, "{t:?} {:?}", String::from_utf8_lossy(v));
                }
            }
        }
    }
}
