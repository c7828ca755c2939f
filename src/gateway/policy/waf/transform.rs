//! Text transformations applied before WAF matching, so encodings cannot
//! hide an attack: `%27`, `&#39;` and `'` all look the same afterwards.

use crate::config::waf::Transform;
use std::borrow::Cow;

pub fn apply<'a>(input: &'a str, transforms: &[Transform]) -> Cow<'a, str> {
    let mut value = Cow::Borrowed(input);
    for t in transforms {
        value = Cow::Owned(match t {
            Transform::UrlDecode => url_decode(&value),
            Transform::HtmlEntityDecode => html_entity_decode(&value),
            Transform::Lowercase => value.to_lowercase(),
            Transform::NormalizePath => normalize_path(&value),
            Transform::CompressWhitespace => value.split_whitespace().collect::<Vec<_>>().join(" "),
            Transform::Base64Decode => base64_decode(&value),
        });
    }
    value
}

/// Percent-decoding, with `+` as a space (form and query encoding).
pub fn url_decode(s: &str) -> String {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8_lossy()
        .into_owned()
}

pub fn html_entity_decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        // An entity is short: look for its `;` in the next 12 bytes only
        // (bytes, not a string slice, which could split a character).
        let window = &rest.as_bytes()[..rest.len().min(12)];
        let Some(end) = window.iter().position(|b| *b == b';') else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Resolves `.`, `..` and repeated slashes; backslashes count as slashes.
pub fn normalize_path(s: &str) -> String {
    let unified = s.replace('\\', "/");
    let mut parts: Vec<&str> = Vec::new();
    for seg in unified.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

fn base64_decode(s: &str) -> String {
    use base64::Engine;
    let t = s.trim();
    base64::engine::general_purpose::STANDARD
        .decode(t)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|_| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transforms() {
        assert_eq!(url_decode("a%27b+c%2527"), "a'b c%27");
        assert_eq!(
            html_entity_decode("&lt;script&gt;&#39;&#x41;&bogus;&"),
            "<script>'A&bogus;&"
        );
        assert_eq!(normalize_path("/a//b/./c/../d\\..\\e"), "/a/b/e");
        assert_eq!(apply("PGI+", &[Transform::Base64Decode]), "<b>");
        assert_eq!(
            apply(
                "  A \t B ",
                &[Transform::CompressWhitespace, Transform::Lowercase]
            ),
            "a b"
        );
    }
}
