//! The literals a regex cannot match without: for a pattern, a set of
//! strings such that every match contains at least one of them. A value
//! holding none of them cannot match, so the regex need not run — the
//! prefilter that lets a clean request skip most of CRS.
//!
//! Worked out on the pattern's syntax tree (`regex-syntax`), comparing
//! without ASCII case (a superset, so always sound): a node has an *exact*
//! set when it matches only a few short strings (`(?i)select` matches
//! the six letters in any case: exactly {"select"}), and a *required* set
//! when every match contains one of its strings. A concatenation requires
//! what any one part requires, or the product of neighbouring exact parts;
//! an alternation requires the union of what every branch requires; a
//! repetition that may match nothing, a wide class or `.` requires
//! nothing.

use regex_syntax::hir::{Class, Hir, HirKind};
use std::collections::BTreeSet;

/// Exact sets beyond this many strings are given up (character classes
/// and products grow fast).
const MAX_EXACT: usize = 64;
/// A class is exact while it holds at most this many bytes (ignoring case).
const MAX_CLASS: usize = 10;
/// A required set may be large (CRS's word lists are alternations of
/// hundreds of words); beyond this it is not worth scanning for.
const MAX_REQUIRED: usize = 4096;

type Set = BTreeSet<Vec<u8>>;

#[derive(Default)]
struct Info {
    exact: Option<Set>,
    required: Option<Set>,
}

/// The literals (lowercase) one of which every match of `pattern`
/// contains, or None when a match may contain none of a few literals.
/// `unicode` is how the regex was compiled.
pub fn required(pattern: &str, unicode: bool) -> Option<Vec<Vec<u8>>> {
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(unicode)
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()?;
    let set = best(&info(&hir))?;
    Some(set.into_iter().collect())
}

/// The same for a pattern only the backtracking engine runs (matched on
/// the value as UTF-8 text): its look-around groups dropped and its
/// backreferences read as "anything" — a pattern that matches wherever the
/// original does, so what it requires, the original requires too. Only
/// ASCII literals are kept (a non-ASCII one could differ between the text
/// and the bytes the prefilter scans).
pub fn required_relaxed(pattern: &str) -> Option<Vec<Vec<u8>>> {
    let literals = required(&relax(pattern), true)?;
    literals.iter().all(|l| l.is_ascii()).then_some(literals)
}

/// `pattern` without look-around, backreferences as `(?s:.*)`.
fn relax(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len());
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if chars
                .get(i + 1)
                .is_some_and(|c| c.is_ascii_digit() && *c != '0') =>
            {
                out.push_str("(?s:.*)");
                i += 2;
            }
            '\\' => {
                out.extend(chars.get(i..i + 2).unwrap_or(&chars[i..]));
                i += 2;
            }
            '[' => {
                let end = class_end(&chars, i);
                out.extend(&chars[i..end]);
                i = end;
            }
            '(' if is_look_around(&chars[i..]) => i = group_end(&chars, i),
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn is_look_around(at: &[char]) -> bool {
    let text: String = at.iter().take(4).collect();
    ["(?=", "(?!", "(?<=", "(?<!"]
        .iter()
        .any(|p| text.starts_with(p))
}

/// Just past the `]` closing the class that opens at `start`.
fn class_end(chars: &[char], start: usize) -> usize {
    let mut i = start + 1;
    if chars.get(i) == Some(&'^') {
        i += 1;
    }
    // A `]` first in the class is a literal.
    if chars.get(i) == Some(&']') {
        i += 1;
    }
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '[' if chars.get(i + 1) == Some(&':') => {
                i = chars[i..]
                    .windows(2)
                    .position(|w| w == [':', ']'])
                    .map_or(chars.len(), |at| i + at + 2)
            }
            '[' => i = class_end(chars, i),
            ']' => return i + 1,
            _ => i += 1,
        }
    }
    chars.len()
}

/// Just past the `)` closing the group that opens at `start`.
fn group_end(chars: &[char], start: usize) -> usize {
    let mut depth = 0;
    let mut i = start;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '[' => i = class_end(chars, i),
            '(' => {
                depth += 1;
                i += 1;
            }
            ')' => {
                depth -= 1;
                i += 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    chars.len()
}

/// The better requirement of a node: its exact set read as one (when it
/// has no empty string), or its required set.
fn best(info: &Info) -> Option<Set> {
    let exact = info
        .exact
        .as_ref()
        .filter(|e| !e.is_empty() && !e.contains(&Vec::new()));
    pick(exact.cloned(), info.required.clone())
}

/// The more selective of two requirements: longer shortest literal first,
/// then fewer literals.
fn pick(a: Option<Set>, b: Option<Set>) -> Option<Set> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if score(&a) >= score(&b) { a } else { b }),
        (a, b) => a.or(b),
    }
}

fn score(set: &Set) -> (usize, std::cmp::Reverse<usize>, usize) {
    let shortest = set.iter().map(Vec::len).min().unwrap_or(0);
    (shortest.min(4), std::cmp::Reverse(set.len()), shortest)
}

fn info(hir: &Hir) -> Info {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Info {
            exact: Some(Set::from([Vec::new()])),
            required: None,
        },
        HirKind::Literal(lit) => Info {
            exact: Some(Set::from([lit.0.to_ascii_lowercase()])),
            required: None,
        },
        HirKind::Class(class) => Info {
            exact: class_bytes(class),
            required: None,
        },
        HirKind::Capture(cap) => info(&cap.sub),
        HirKind::Repetition(rep) => {
            let sub = info(&rep.sub);
            let exact = match (rep.min, rep.max) {
                (1, Some(1)) => sub.exact.clone(),
                (0, Some(1)) => sub.exact.clone().map(|mut e| {
                    e.insert(Vec::new());
                    e
                }),
                (n, Some(m)) if n == m && n <= 3 => sub.exact.as_ref().and_then(|e| {
                    let mut out = Set::from([Vec::new()]);
                    for _ in 0..n {
                        out = product(&out, e)?;
                    }
                    Some(out)
                }),
                _ => None,
            };
            let required = if rep.min >= 1 { best(&sub) } else { None };
            Info { exact, required }
        }
        HirKind::Concat(parts) => concat(parts),
        HirKind::Alternation(branches) => {
            let infos: Vec<Info> = branches.iter().map(info).collect();
            let exact = union(infos.iter().map(|i| i.exact.as_ref()), MAX_EXACT);
            let required = union(
                infos
                    .iter()
                    .map(best)
                    .collect::<Vec<_>>()
                    .iter()
                    .map(Option::as_ref),
                MAX_REQUIRED,
            );
            Info { exact, required }
        }
    }
}

fn concat(parts: &[Hir]) -> Info {
    let infos: Vec<Info> = parts.iter().map(info).collect();
    let mut required: Option<Set> = None;
    for part in &infos {
        required = pick(required, best(part));
    }
    // Runs of neighbouring exact parts: their product is required too
    // (`(?i)union` followed by `\s+select`: "union" and "select", each
    // with its own run).
    for start in 0..infos.len() {
        let mut run = Set::from([Vec::new()]);
        for part in &infos[start..] {
            let Some(next) = part.exact.as_ref().and_then(|e| product(&run, e)) else {
                break;
            };
            run = next;
            if !run.contains(&Vec::new()) {
                required = pick(required, Some(run.clone()));
            }
        }
    }
    let mut exact = Some(Set::from([Vec::new()]));
    for part in &infos {
        exact = match (exact, &part.exact) {
            (Some(acc), Some(e)) => product(&acc, e),
            _ => None,
        };
    }
    Info { exact, required }
}

/// Every string of `a` followed by every string of `b`, if not too many.
fn product(a: &Set, b: &Set) -> Option<Set> {
    if a.len() * b.len() > MAX_EXACT {
        return None;
    }
    let mut out = Set::new();
    for x in a {
        for y in b {
            let mut s = x.clone();
            s.extend_from_slice(y);
            out.insert(s);
        }
    }
    Some(out)
}

fn union<'a>(sets: impl Iterator<Item = Option<&'a Set>>, max: usize) -> Option<Set> {
    let mut out = Set::new();
    for set in sets {
        out.extend(set?.iter().cloned());
        if out.len() > max {
            return None;
        }
    }
    Some(out)
}

/// The bytes of a narrow class, lowercased; None for a wide class or one
/// holding non-ASCII characters (which a Unicode regex would match as
/// several bytes).
fn class_bytes(class: &Class) -> Option<Set> {
    let mut out = Set::new();
    let mut add = |lo: u32, hi: u32, ascii_only: bool| -> Option<()> {
        if hi - lo > MAX_CLASS as u32 || (ascii_only && hi > 0x7f) || hi > 0xff {
            return None;
        }
        for b in lo..=hi {
            out.insert(vec![(b as u8).to_ascii_lowercase()]);
        }
        (out.len() <= MAX_CLASS).then_some(())
    };
    match class {
        Class::Bytes(c) => {
            for r in c.ranges() {
                add(u32::from(r.start()), u32::from(r.end()), false)?;
            }
        }
        Class::Unicode(c) => {
            for r in c.ranges() {
                add(u32::from(r.start()), u32::from(r.end()), true)?;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(p: &str) -> Option<Vec<String>> {
        required(p, false).map(|set| {
            set.into_iter()
                .map(|s| String::from_utf8(s).unwrap())
                .collect()
        })
    }

    #[test]
    fn literals_every_match_contains() {
        assert_eq!(req("(?i)union\\s+select").unwrap(), ["select"]);
        assert_eq!(
            req("(?i)(?:onload|onerror)\\s*=").unwrap(),
            ["onerror", "onload"]
        );
        assert_eq!(req("a[bc]d").unwrap(), ["abd", "acd"]);
        assert_eq!(req("\\.\\./").unwrap(), ["../"]);
        // Nothing required: a class too wide, an optional part, `.`.
        assert_eq!(req("[a-z]+"), None);
        assert_eq!(req("(?:abc)?x*"), None);
        assert_eq!(req("^.*$"), None);
        // One branch without a literal spoils the alternation.
        assert_eq!(req("abc|[a-z]+"), None);
        assert_eq!(req("abc|d[0-9]+").unwrap(), ["abc", "d"]);
        // Not parseable here (look-around): no prefilter...
        assert_eq!(req("a(?=b)"), None);
        // ...unless relaxed: without look-around and backreferences.
        assert_eq!(
            relax(r"(?i)ab(?=c[)])d(?<!x)\1[(?=]"),
            r"(?i)abd(?s:.*)[(?=]"
        );
        // (Unicode case folding: `(?i)s` also matches `ſ`, so "elect".)
        let relaxed = required_relaxed(r"(?i)(?<![a-z])select(?=\s)").unwrap();
        assert_eq!(relaxed, [b"elect".to_vec()]);
    }

    /// Soundness on examples: whenever the regex matches, a required
    /// literal is in the value (case-insensitively).
    #[test]
    fn a_match_always_holds_a_required_literal() {
        let cases = [
            ("(?i)<script[^>]*>", ["<SCRIPT src=x>", "a<script>"]),
            ("(?i:\\bor\\b\\s+\\d)", ["1 OR 2", "x or 9"]),
            ("(?:\\$\\{|%24%7b)jndi", ["${jndi:x}", "%24%7bjndi"]),
        ];
        for (pattern, values) in cases {
            let re = regex::bytes::RegexBuilder::new(pattern)
                .unicode(false)
                .build()
                .unwrap();
            let lits = required(pattern, false).unwrap();
            for v in values {
                assert!(re.is_match(v.as_bytes()), "{pattern} {v}");
                let lower = v.to_ascii_lowercase();
                assert!(
                    lits.iter()
                        .any(|l| lower.as_bytes().windows(l.len()).any(|w| w == l.as_slice())),
                    "{pattern} {v} {lits:?}"
                );
            }
        }
    }
}
