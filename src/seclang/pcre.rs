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
            c => out.push(c),
        }
        i += 1;
    }
    out
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
        // Every line: `^` after a newline.
        assert!(regex::Regex::new(&translate("^http"))
            .unwrap()
            .is_match("x\nhttp://a"));
        assert!(regex::Regex::new(&translate(r#"^(?:[^"(),\/:;<=>?![\x5c\]{}]+)$"#)).is_ok());
    }
}
