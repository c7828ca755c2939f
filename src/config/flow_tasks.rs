//! The per-record task list a flow declares (AppFlow's tasks), as checked
//! by `config/flows.rs`. `flows/tasks` applies them to records.

use super::flow_spec::Pattern;
use serde_json::Value;

#[derive(Debug, Clone)]
pub enum Task {
    /// (target, source) pairs; the record becomes just these.
    Map(Vec<(String, String)>),
    /// (from, to) renames; every other field stays.
    MapAll(Vec<(String, String)>),
    Merge {
        into: String,
        pieces: Vec<Piece>,
    },
    Mask {
        field: String,
        span: MaskSpan,
        with: char,
    },
    Truncate {
        field: String,
        length: usize,
    },
    Arithmetic {
        into: String,
        left: Operand,
        op: Operator,
        right: Operand,
    },
    Cast {
        field: String,
        to: CastTo,
        format: Option<String>,
    },
    Default {
        field: String,
        value: Value,
    },
    Filter(Condition),
    Validate {
        field: String,
        check: Check,
        fail_run: bool,
    },
}

#[derive(Debug, Clone)]
pub enum Check {
    NonNull,
    NonZero,
    NonNegative,
    Numeric,
    Matches(Pattern),
}

#[derive(Debug, Clone)]
pub enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Field { field: String, test: Test },
}

#[derive(Debug, Clone)]
pub enum Test {
    Equals(Value),
    NotEquals(Value),
    Contains(String),
    GreaterThan(Value),
    GreaterOrEqual(Value),
    LessThan(Value),
    LessOrEqual(Value),
    Between(Value, Value),
    In(Vec<Value>),
    Exists(bool),
    Regex(Pattern),
}

/// A literal piece of a merge format or a field in braces.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Text(String),
    Field(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaskSpan {
    All,
    First(usize),
    Last(usize),
    KeepLast(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Field(String),
    Number(f64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Operator {
    Add,
    Subtract,
    Multiply,
    Divide,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CastTo {
    String,
    Integer,
    Decimal,
    Boolean,
    Timestamp,
}

/// Parses `{first} {last}` into pieces; `{{` and `}}` are literal braces.
pub fn parse_format(format: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let field: String = chars.by_ref().take_while(|&c| c != '}').collect();
                if field.is_empty() {
                    return Err("empty `{}` in format".into());
                }
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Field(field));
            }
            '}' => return Err("unmatched `}` in format (write `}}` for a brace)".into()),
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}
