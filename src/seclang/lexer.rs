//! SecLang files -> directives: comments dropped, `\`-continued lines
//! joined, arguments split on whitespace with double quotes grouping (a
//! `\"` inside quotes is a quote; every other backslash stays, for the
//! regexes), and `Include` / `IncludeOptional` followed (a `*` in the file
//! name part globs, in name order). Every directive keeps its file and
//! line for errors.

use super::LoadError;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Directive {
    pub file: PathBuf,
    pub line: usize,
    pub name: String,
    pub args: Vec<String>,
}

/// Includes deeper than this are a loop.
const MAX_DEPTH: usize = 16;

/// Reads `path` (a `*` in its file name globs) and everything it
/// includes, in order.
pub fn read(path: &Path) -> Result<Vec<Directive>, LoadError> {
    let files = glob(path);
    if files.is_empty() {
        return Err(LoadError {
            file: path.to_path_buf(),
            line: 0,
            rule: None,
            message: "no such rule file".into(),
        });
    }
    let mut out = Vec::new();
    for file in files {
        read_into(&file, 0, &mut out)?;
    }
    Ok(out)
}

fn read_into(path: &Path, depth: usize, out: &mut Vec<Directive>) -> Result<(), LoadError> {
    let text = std::fs::read_to_string(path).map_err(|e| LoadError {
        file: path.to_path_buf(),
        line: 0,
        rule: None,
        message: format!("cannot read: {e}"),
    })?;
    for directive in lex(path, &text)? {
        match directive.name.to_ascii_lowercase().as_str() {
            name @ ("include" | "includeoptional") => {
                if depth >= MAX_DEPTH {
                    return Err(directive.error("includes nest too deep (a loop?)"));
                }
                let [pattern] = directive.args.as_slice() else {
                    return Err(directive.error("Include takes one path"));
                };
                let base = path.parent().unwrap_or(Path::new("."));
                let files = glob(&base.join(pattern));
                if files.is_empty() && name == "include" {
                    return Err(directive.error(&format!("nothing matches {pattern}")));
                }
                for file in files {
                    read_into(&file, depth + 1, out)?;
                }
            }
            _ => out.push(directive),
        }
    }
    Ok(())
}

/// `dir/*.conf` -> the matching files, sorted; a path without `*` -> itself
/// if it exists.
fn glob(pattern: &Path) -> Vec<PathBuf> {
    let name = pattern
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains('*') {
        return if pattern.is_file() {
            vec![pattern.to_path_buf()]
        } else {
            Vec::new()
        };
    }
    let dir = pattern.parent().unwrap_or(Path::new("."));
    let (prefix, suffix) = name.split_once('*').unwrap_or((&name, ""));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            p.is_file() && n.starts_with(prefix) && n.ends_with(suffix) && n.len() >= name.len() - 1
        })
        .collect();
    files.sort();
    files
}

impl Directive {
    pub fn error(&self, message: &str) -> LoadError {
        LoadError {
            file: self.file.clone(),
            line: self.line,
            rule: None,
            message: message.to_string(),
        }
    }
}

/// One file's directives.
pub fn lex(path: &Path, text: &str) -> Result<Vec<Directive>, LoadError> {
    let mut out = Vec::new();
    let mut logical = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        if logical.is_empty() {
            start = i + 1;
            let trimmed = raw.trim_start();
            if trimmed.starts_with('#') || trimmed.is_empty() {
                continue;
            }
        }
        match raw.strip_suffix('\\') {
            Some(head) => logical.push_str(head),
            None => {
                logical.push_str(raw);
                let line = std::mem::take(&mut logical);
                if let Some(d) = split(path, start, &line)? {
                    out.push(d);
                }
            }
        }
    }
    if !logical.is_empty() {
        if let Some(d) = split(path, start, &logical)? {
            out.push(d);
        }
    }
    Ok(out)
}

fn split(path: &Path, line: usize, text: &str) -> Result<Option<Directive>, LoadError> {
    let mut words = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        let mut word = String::new();
        if first == '"' {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' if chars.peek() == Some(&'"') => {
                        word.push('"');
                        chars.next();
                    }
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => word.push(c),
                }
            }
            if !closed {
                return Err(LoadError {
                    file: path.to_path_buf(),
                    line,
                    rule: None,
                    message: "a quoted argument is not closed".into(),
                });
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word);
    }
    if words.is_empty() {
        return Ok(None);
    }
    let name = words.remove(0);
    Ok(Some(Directive {
        file: path.to_path_buf(),
        line,
        name,
        args: words,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continued_lines_quotes_and_comments() {
        let text = "# a comment\nSecRule ARGS \"@rx a\\\"b\\d\" \\\n    \"id:1,\\\n    phase:2\"\n\nSecMarker END\n";
        let d = lex(Path::new("x.conf"), text).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].line, 2);
        assert_eq!(d[0].name, "SecRule");
        assert_eq!(d[0].args, ["ARGS", "@rx a\"b\\d", "id:1,    phase:2"]);
        assert_eq!(d[1].args, ["END"]);
        assert_eq!(d[1].line, 6);
        assert!(lex(Path::new("x.conf"), "SecRule ARGS \"@rx a").is_err());
    }
}
