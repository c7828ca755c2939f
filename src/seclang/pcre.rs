//! PCRE patterns (what ModSecurity compiles) rewritten for the `regex`
//! crate where the two read the same text differently:
//! - inside a character class, PCRE's `[` is a literal (unless it opens a
//!   POSIX class like `[:alpha:]`), and `&&`, `~~`, `--` are literals,
//!   where `regex` nests classes and applies set operations;
//! - possessive quantifiers (`*+`, `++`, `?+`, `{n,m}+`) and atomic groups
//!   (`(?>...)`) only prune backtracking: as plain greedy quantifiers and
//!   groups they match the same strings in every CRS pattern (they can
//!   only differ where backtracking into the group would find a match the
//!   possessive form refuses);
//! - a `{` that opens no counted repetition (`{n}`, `{n,}`, `{n,m}`) is a
//!   literal brace to PCRE and an error to `regex`: it is escaped;
//! - `\Z` (end, or before a final newline) and `\h` (horizontal space)
//!   have no `regex` spelling and are written out;
//! - `\/` and other escaped punctuation outside classes pass through;
//! - ModSecurity v3 compiles every pattern with PCRE_DOTALL and
//!   PCRE_MULTILINE: `.` matches a newline, and `^`/`$` match at every line
//!   (`(?sm)` here).

pub fn translate(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 16);
    out.push_str("(?sm)");
    let mut i = 0;
    let mut in_class = false;
    // Just after `[` or `[^`: a `]` there is a literal.
    let mut class_start = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let n = chars[i + 1];
            match n {
                'Z' if !in_class => out.push_str("\\n?\\z"),
                'h' => out.push_str(if in_class { "\\t \\xa0" } else { "[\\t \\xa0]" }),
                '/' | '"' | '\'' | '<' | '>' | '=' | '!' | '@' | '%' | ',' | ';' | ':' | '`'
                | '_' => {
                    // Escaped punctuation that `regex` may refuse to see
                    // escaped: the character itself.
                    if in_class && matches!(n, '&' | '~' | '-') {
                        out.push('\\');
                    }
                    out.push(n);
                }
                _ => {
                    out.push('\\');
                    out.push(n);
                }
            }
            i += 2;
            class_start = false;
            continue;
        }
        if in_class {
            match c {
                ']' if !class_start => {
                    in_class = false;
                    out.push(']');
                }
                '[' if chars.get(i + 1) == Some(&':') => {
                    // A POSIX class: copy through its `:]`.
                    let end = (i + 2..chars.len().saturating_sub(1))
                        .find(|&j| chars[j] == ':' && chars[j + 1] == ']');
                    match end {
                        Some(j) => {
                            out.extend(&chars[i..=j + 1]);
                            i = j + 2;
                            class_start = false;
                            continue;
                        }
                        None => out.push_str("\\["),
                    }
                }
                '[' => out.push_str("\\["),
                '&' | '~' => {
                    out.push('\\');
                    out.push(c);
                }
                '-' if chars.get(i + 1) == Some(&'-') => out.push_str("\\-"),
                c => out.push(c),
            }
            class_start = false;
            i += 1;
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                class_start = true;
                out.push('[');
                if chars.get(i + 1) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                i += 1;
                continue;
            }
            '(' if chars.get(i + 1) == Some(&'?') && chars.get(i + 2) == Some(&'>') => {
                out.push_str("(?:");
                i += 3;
                continue;
            }
            '*' | '+' | '?' | '}' if chars.get(i + 1) == Some(&'+') => {
                out.push(c);
                i += 2;
                continue;
            }
            // PCRE reads a `{` that does not open a counted repetition as
            // itself; `regex` refuses it.
            '{' if !is_counted_repetition(&chars[i..]) => out.push_str("\\{"),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// `{n}`, `{n,}` or `{n,m}` at the start of `at`.
fn is_counted_repetition(at: &[char]) -> bool {
    let Some(end) = at.iter().position(|&c| c == '}') else {
        return false;
    };
    let inner: String = at[1..end].iter().collect();
    let (low, high) = inner.split_once(',').unwrap_or((&inner, "0"));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    !low.is_empty() && digits(low) && digits(high)
}

#[cfg(test)]
mod tests {
    use super::translate;

    #[test]
    fn pcre_forms() {
        let t = |p: &str| translate(p).strip_prefix("(?sm)").unwrap().to_string();
        assert_eq!(
            t(r#"[^"(),\/:;<=>?![\x5c\]{}]+"#),
            r#"[^"(),/:;<=>?!\[\x5c\]{}]+"#
        );
        assert_eq!(t(r"\s*+;\s++x?+"), r"\s*;\s+x?");
        assert_eq!(t(r"(?>ab)c"), "(?:ab)c");
        assert_eq!(t(r"[[:alpha:]&&x]"), r"[[:alpha:]\&\&x]");
        assert_eq!(t(r"[]a]"), "[]a]");
        assert_eq!(t(r"a\Z"), r"a\n?\z");
        // A brace that repeats nothing is a literal brace.
        assert_eq!(t(r"\(\s*\)\s+{"), r"\(\s*\)\s+\{");
        assert_eq!(t(r"a{2}b{1,}c{1,3}{x}"), r"a{2}b{1,}c{1,3}\{x}");
        // Every line: `^` after a newline.
        assert!(regex::Regex::new(&translate("^http"))
            .unwrap()
            .is_match("x\nhttp://a"));
        assert!(regex::Regex::new(&translate(r#"^(?:[^"(),\/:;<=>?![\x5c\]{}]+)$"#)).is_ok());
    }
}
