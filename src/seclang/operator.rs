//! Operators (`@rx`, `@pm`, ...), compiled once when the rules load.
//! Regexes compile with the `regex` crate (byte-oriented, like PCRE
//! without UTF mode); a pattern it cannot take (look-around,
//! backreferences) compiles with `fancy-regex` for that rule only. A
//! pattern neither takes is a load error, never a rule that cannot match.

use super::vars::Macro;
use aho_corasick::AhoCorasick;
use std::borrow::Cow;
use std::net::IpAddr;
use std::path::Path;

pub enum Operator {
    Rx(Pattern),
    Pm(Phrases),
    Streq(Macro),
    BeginsWith(Macro),
    EndsWith(Macro),
    Contains(Macro),
    ContainsWord(Macro),
    Within(Macro),
    Eq(Macro),
    Ge(Macro),
    Gt(Macro),
    Le(Macro),
    Lt(Macro),
    DetectSqli,
    DetectXss,
    ValidateByteRange(Box<[bool; 256]>),
    ValidateUrlEncoding,
    ValidateUtf8Encoding,
    IpMatch(Vec<(IpAddr, u8)>),
    Unconditional,
    NoMatch,
    /// A lookup Gatehouse does not make (a DNS blocklist, a GeoIP
    /// database): it never matches, and the load says so.
    Unavailable(&'static str),
}

/// A compiled `@rx`, with the literals one of which every match holds
/// (the prefilter's; None when the pattern has no such set).
pub struct Pattern {
    pub engine: Engine,
    pub required: Option<Vec<Vec<u8>>>,
}

/// An `@pm` phrase list: matched without ASCII case.
pub struct Phrases {
    matcher: AhoCorasick,
    /// The phrases, which are also what the prefilter looks for.
    pub words: Vec<Vec<u8>>,
}

pub enum Engine {
    Fast(regex::bytes::Regex),
    Fancy(fancy_regex::Regex),
}

/// Regexes this large compile; CRS's biggest need a few MiB.
const REGEX_SIZE_LIMIT: usize = 64 << 20;

impl Pattern {
    pub fn compile(pcre: &str) -> Result<Pattern, String> {
        let translated = super::pcre::translate(pcre);
        let pattern = translated.as_str();
        let build = |unicode: bool| {
            regex::bytes::RegexBuilder::new(pattern)
                .unicode(unicode)
                .size_limit(REGEX_SIZE_LIMIT)
                .dfa_size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map(|re| Pattern {
                    engine: Engine::Fast(re),
                    required: super::literals::required(pattern, unicode),
                })
        };
        build(false).or_else(|_| build(true)).or_else(|first| {
            fancy_regex::RegexBuilder::new(pattern)
                .delegate_size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map(|re| Pattern {
                    engine: Engine::Fancy(re),
                    required: super::literals::required_relaxed(pattern),
                })
                .map_err(|e| format!("the regex does not compile: {first}; fancy-regex: {e}"))
        })
    }

    /// Whether it matches; with `captures`, the whole match and its groups
    /// (up to nine, as ModSecurity's TX:0-9).
    pub fn matches(&self, value: &[u8], captures: Option<&mut Vec<Vec<u8>>>) -> bool {
        match &self.engine {
            Engine::Fast(re) => match captures {
                None => re.is_match(value),
                Some(out) => match re.captures(value) {
                    Some(c) => {
                        out.clear();
                        out.extend(
                            c.iter()
                                .take(10)
                                .map(|m| m.map(|m| m.as_bytes().to_vec()).unwrap_or_default()),
                        );
                        true
                    }
                    None => false,
                },
            },
            Engine::Fancy(re) => {
                let text = String::from_utf8_lossy(value);
                let text: &str = &text;
                match captures {
                    None => re.is_match(text).unwrap_or(false),
                    Some(out) => match re.captures(text).ok().flatten() {
                        Some(c) => {
                            out.clear();
                            out.extend(c.iter().take(10).map(|m| {
                                m.map(|m| m.as_str().as_bytes().to_vec())
                                    .unwrap_or_default()
                            }));
                            true
                        }
                        None => false,
                    },
                }
            }
        }
    }
}

impl Operator {
    /// Literals one of which every matching value holds (compared without
    /// ASCII case), when the operator has such a set.
    pub fn required_literals(&self) -> Option<&[Vec<u8>]> {
        match self {
            Operator::Rx(p) => p.required.as_deref(),
            Operator::Pm(p) => Some(&p.words),
            _ => None,
        }
    }

    /// `name` without the `@`; `dir` is the rule file's folder (for
    /// `@pmFromFile`).
    pub fn compile(name: &str, arg: &str, dir: &Path) -> Result<Operator, String> {
        let macro_arg = || Macro::parse(arg);
        Ok(match name.to_ascii_lowercase().as_str() {
            "rx" => Operator::Rx(Pattern::compile(arg)?),
            "pm" => Operator::Pm(phrases(
                arg.split_whitespace().map(str::to_string).collect(),
            )?),
            "pmfromfile" | "pmf" => {
                let mut words = Vec::new();
                for file in arg.split_whitespace() {
                    let path = dir.join(file);
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                    words.extend(
                        text.lines()
                            .map(str::trim)
                            .filter(|l| !l.is_empty() && !l.starts_with('#'))
                            .map(str::to_string),
                    );
                }
                Operator::Pm(phrases(words)?)
            }
            "streq" => Operator::Streq(macro_arg()?),
            "beginswith" => Operator::BeginsWith(macro_arg()?),
            "endswith" => Operator::EndsWith(macro_arg()?),
            "contains" => Operator::Contains(macro_arg()?),
            "containsword" => Operator::ContainsWord(macro_arg()?),
            "within" => Operator::Within(macro_arg()?),
            "eq" => Operator::Eq(macro_arg()?),
            "ge" => Operator::Ge(macro_arg()?),
            "gt" => Operator::Gt(macro_arg()?),
            "le" => Operator::Le(macro_arg()?),
            "lt" => Operator::Lt(macro_arg()?),
            "detectsqli" => Operator::DetectSqli,
            "detectxss" => Operator::DetectXss,
            "validatebyterange" => Operator::ValidateByteRange(byte_ranges(arg)?),
            "validateurlencoding" => Operator::ValidateUrlEncoding,
            "validateutf8encoding" => Operator::ValidateUtf8Encoding,
            "ipmatch" => Operator::IpMatch(networks(arg)?),
            "ipmatchfromfile" | "ipmatchf" => {
                let path = dir.join(arg.trim());
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let list: Vec<&str> = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .collect();
                Operator::IpMatch(networks(&list.join(","))?)
            }
            "unconditionalmatch" => Operator::Unconditional,
            "nomatch" => Operator::NoMatch,
            "rbl" => Operator::Unavailable("@rbl (DNS blocklists are not queried)"),
            "geolookup" => Operator::Unavailable("@geoLookup (no GeoIP database)"),
            other => return Err(format!("unknown operator @{other}")),
        })
    }

    /// Whether `value` matches; `expand` expands a macro argument for this
    /// request.
    pub fn matches(
        &self,
        value: &[u8],
        expand: &dyn Fn(&Macro) -> String,
        captures: Option<&mut Vec<Vec<u8>>>,
    ) -> bool {
        let arg = |m| argument(m, expand);
        let number = |v: &[u8]| -> i64 { atoi(v) };
        match self {
            Operator::Rx(p) => p.matches(value, captures),
            Operator::Pm(p) => p.matcher.is_match(value),
            Operator::Streq(m) => value == &*arg(m),
            Operator::BeginsWith(m) => value.starts_with(&arg(m)),
            Operator::EndsWith(m) => value.ends_with(&arg(m)),
            Operator::Contains(m) => contains(value, &arg(m)),
            Operator::ContainsWord(m) => {
                let word = arg(m);
                !word.is_empty()
                    && value.windows(word.len()).enumerate().any(|(i, w)| {
                        w == &*word
                            && (i == 0 || !is_word(value[i - 1]))
                            && value.get(i + word.len()).is_none_or(|b| !is_word(*b))
                    })
            }
            Operator::Within(m) => contains(&arg(m), value),
            Operator::Eq(m) => number(value) == number(&arg(m)),
            Operator::Ge(m) => number(value) >= number(&arg(m)),
            Operator::Gt(m) => number(value) > number(&arg(m)),
            Operator::Le(m) => number(value) <= number(&arg(m)),
            Operator::Lt(m) => number(value) < number(&arg(m)),
            Operator::DetectSqli => libinjectionrs::detect_sqli(value).is_injection(),
            Operator::DetectXss => libinjectionrs::detect_xss(value).is_injection(),
            Operator::ValidateByteRange(allowed) => value.iter().any(|b| !allowed[*b as usize]),
            Operator::ValidateUrlEncoding => invalid_url_encoding(value),
            Operator::ValidateUtf8Encoding => std::str::from_utf8(value).is_err(),
            Operator::IpMatch(nets) => std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<IpAddr>().ok())
                .is_some_and(|ip| nets.iter().any(|(net, bits)| in_network(ip, *net, *bits))),
            Operator::Unconditional => true,
            Operator::NoMatch | Operator::Unavailable(_) => false,
        }
    }
}

/// An operator's argument for this request: its text, expanded only when
/// it holds macros.
fn argument<'m>(m: &'m Macro, expand: &dyn Fn(&Macro) -> String) -> Cow<'m, [u8]> {
    match m.literal() {
        Some(text) => Cow::Borrowed(text.as_bytes()),
        None => Cow::Owned(expand(m).into_bytes()),
    }
}

fn phrases(words: Vec<String>) -> Result<Phrases, String> {
    let matcher = AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(&words)
        .map_err(|e| format!("cannot build the phrase matcher: {e}"))?;
    Ok(Phrases {
        matcher,
        words: words.into_iter().map(String::into_bytes).collect(),
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// C's `atoi`: leading whitespace, a sign, digits; anything else is 0.
pub fn atoi(v: &[u8]) -> i64 {
    let start = v
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
        .unwrap_or(v.len());
    let (negative, digits) = match &v[start..] {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        rest => (false, rest),
    };
    let mut n: i64 = 0;
    for &b in digits.iter().take_while(|b| b.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if negative {
        -n
    } else {
        n
    }
}

fn byte_ranges(arg: &str) -> Result<Box<[bool; 256]>, String> {
    let mut allowed = Box::new([false; 256]);
    for part in arg.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let lo: u8 = lo
            .trim()
            .parse()
            .map_err(|_| format!("bad byte range `{part}`"))?;
        let hi: u8 = hi
            .trim()
            .parse()
            .map_err(|_| format!("bad byte range `{part}`"))?;
        for b in lo..=hi {
            allowed[b as usize] = true;
        }
    }
    Ok(allowed)
}

fn invalid_url_encoding(v: &[u8]) -> bool {
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'%' {
            match (v.get(i + 1), v.get(i + 2)) {
                (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => i += 3,
                _ => return true,
            }
        } else {
            i += 1;
        }
    }
    false
}

fn networks(arg: &str) -> Result<Vec<(IpAddr, u8)>, String> {
    arg.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (ip, bits) = p.split_once('/').unwrap_or((p, ""));
            let ip: IpAddr = ip.parse().map_err(|_| format!("bad address `{p}`"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = if bits.is_empty() {
                max
            } else {
                bits.parse().map_err(|_| format!("bad prefix `{p}`"))?
            };
            if bits > max {
                return Err(format!("bad prefix `{p}`"));
            }
            Ok((ip, bits))
        })
        .collect()
}

fn in_network(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(name: &str, arg: &str) -> Operator {
        Operator::compile(name, arg, Path::new(".")).unwrap()
    }

    fn m(o: &Operator, v: &str) -> bool {
        o.matches(v.as_bytes(), &|_| String::new(), None)
    }

    #[test]
    fn operators() {
        assert!(m(&op("rx", "(?i)union\\s+select"), "1 UNION  select"));
        // Look-around falls back to fancy-regex.
        assert!(matches!(
            op("rx", "a(?=b)"),
            Operator::Rx(Pattern {
                engine: Engine::Fancy(_),
                ..
            })
        ));
        assert!(m(&op("rx", "a(?=b)"), "ab"));
        assert!(Operator::compile("rx", "(", Path::new(".")).is_err());
        assert!(m(&op("pm", "select union"), "xx UNION yy"));
        assert!(m(&op("within", "GET HEAD POST"), "HEAD"));
        assert!(!m(&op("within", "GET HEAD POST"), "DELETE"));
        assert!(m(&op("eq", "0"), "abc"));
        assert!(m(&op("ge", "5"), "7"));
        assert!(m(&op("containsWord", "select"), "a select b"));
        assert!(!m(&op("containsWord", "select"), "selected"));
        assert!(m(&op("validateByteRange", "32-126"), "a\x01"));
        assert!(!m(&op("validateByteRange", "9,10,13,32-126"), "a b\n"));
        assert!(m(&op("validateUrlEncoding", ""), "100%"));
        assert!(m(&op("ipMatch", "127.0.0.1,10.0.0.0/8"), "10.1.2.3"));
        assert!(!m(&op("ipMatch", "10.0.0.0/8"), "11.1.2.3"));
        assert!(m(&op("detectSQLi", ""), "1' OR '1'='1"));
        assert!(m(&op("detectXSS", ""), "<script>alert(1)</script>"));
        assert!(Operator::compile("nope", "", Path::new(".")).is_err());
        let mut caps = Vec::new();
        assert!(op("rx", "(a)(b)?").matches(b"xa", &|_| String::new(), Some(&mut caps)));
        assert_eq!(caps, [b"a".to_vec(), b"a".to_vec(), Vec::new()]);
        assert_eq!(atoi(b" -12abc"), -12);
        assert_eq!(atoi(b"+7"), 7);
        assert_eq!(atoi(b"x1"), 0);
        assert_eq!(atoi(b""), 0);
    }
}
