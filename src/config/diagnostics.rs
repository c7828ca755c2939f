//! Config errors, each pinned to `file:line:col` and a field path, all
//! collected before anything is reported.

use super::yaml::{Node, Pos};
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Relative to the config root, as the user would type it.
    pub file: PathBuf,
    pub pos: Pos,
    /// `routes[2].integration.http.upstream`; empty for the file as a whole.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: ",
            self.file.display(),
            self.pos.line,
            self.pos.col
        )?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in a config tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(
        &mut self,
        file: &Path,
        pos: Pos,
        path: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.0.push(Diagnostic {
            file: file.to_path_buf(),
            pos,
            path: path.into(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Reports problems found in one file at field paths.
pub struct Reporter<'a> {
    file: &'a PathBuf,
    node: &'a Node,
    diags: &'a mut Diagnostics,
}

impl<'a> Reporter<'a> {
    pub fn new(file: &'a PathBuf, node: &'a Node, diags: &'a mut Diagnostics) -> Reporter<'a> {
        Reporter { file, node, diags }
    }

    /// Problems reported so far (in every file).
    pub fn count(&self) -> usize {
        self.diags.len()
    }

    /// Where `path` is, as `file:line` (for messages that point elsewhere).
    pub fn origin(&self, path: &str) -> String {
        format!("{}:{}", self.file.display(), self.node.pos_at(path).line)
    }

    pub fn error(&mut self, path: &str, message: impl Into<String>) {
        let pos = self.node.pos_at(path);
        self.diags.push(self.file, pos, path, message);
    }
}
