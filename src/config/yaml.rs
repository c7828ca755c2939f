//! A YAML tree that remembers where every node came from.
//!
//! Built from saphyr-parser's event stream rather than a typed loader, so that
//! every node keeps its line and column and quoted scalars stay strings. `${ENV}`
//! substitution happens here, on scalar text, after parsing: a variable's value
//! can never change the structure of the document.
//!
//! Why not `marked-yaml`, which also keeps positions: it refuses anchors and
//! aliases (configs use them to share a policy block between routes), and
//! it requires a mapping or sequence at the top (an empty `gatehouse.yaml`
//! is valid here). This tree is the events of a maintained parser folded
//! into nodes, in one small file.

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use std::collections::HashMap;

/// A 1-based line and column in a config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    fn from_span(span: &Span) -> Pos {
        Pos {
            line: span.start.line(),
            col: span.start.col() + 1,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub enum Value {
    Null,
    /// `plain` is false for quoted and block scalars, which are always strings.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A problem found while reading the YAML itself, before any field is looked at.
#[derive(Debug, Clone)]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
}

impl Node {
    pub fn is_null(&self) -> bool {
        match &self.value {
            Value::Null => true,
            Value::Scalar { text, plain: true } => {
                matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL")
            }
            _ => false,
        }
    }

    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a map",
        }
    }

    /// Removes the map entry whose key sits at `pos`; used to keep deserializing
    /// after an unknown field so that every unknown field is reported at once.
    pub fn remove_key_at(&mut self, pos: Pos) -> bool {
        match &mut self.value {
            Value::Map(entries) => {
                if let Some(i) = entries.iter().position(|(k, _)| k.pos == pos) {
                    entries.remove(i);
                    return true;
                }
                entries.iter_mut().any(|(_, v)| v.remove_key_at(pos))
            }
            Value::Seq(items) => items.iter_mut().any(|n| n.remove_key_at(pos)),
            _ => false,
        }
    }

    /// Removes the map entry whose value or key starts at `pos` (or the
    /// sequence item there), so parsing can go on past a bad value. Returns
    /// where the removed entry's parent starts and its key ("" for an item).
    /// Entries of a map are looked at before what they hold: a map missing a
    /// field starts where its first key does, and it is the map that goes.
    pub fn prune_at(&mut self, pos: Pos) -> Option<(Pos, String)> {
        let here = self.pos;
        match &mut self.value {
            Value::Map(entries) => {
                if let Some(i) = entries
                    .iter()
                    .position(|(k, v)| v.pos == pos || k.pos == pos)
                {
                    let (key, _) = entries.remove(i);
                    let name = match key.value {
                        Value::Scalar { text, .. } => text,
                        _ => String::new(),
                    };
                    return Some((here, name));
                }
                entries.iter_mut().find_map(|(_, v)| v.prune_at(pos))
            }
            Value::Seq(items) => {
                if let Some(i) = items.iter().position(|n| n.pos == pos) {
                    items.remove(i);
                    return Some((here, String::new()));
                }
                items.iter_mut().find_map(|n| n.prune_at(pos))
            }
            _ => None,
        }
    }

    /// The position of the node at a field path such as `routes[2].integration.http`,
    /// or of the deepest node on the way when the path runs out of the document.
    pub fn pos_at(&self, path: &str) -> Pos {
        let mut node = self;
        for segment in split_path(path) {
            let next = match (&node.value, segment) {
                (Value::Map(entries), PathSegment::Key(key)) => entries
                    .iter()
                    .find(|(k, _)| matches!(&k.value, Value::Scalar { text, .. } if text == key))
                    .map(|(_, v)| v),
                (Value::Seq(items), PathSegment::Index(i)) => items.get(i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node.pos
    }
}

enum PathSegment<'a> {
    Key(&'a str),
    Index(usize),
}

fn split_path(path: &str) -> Vec<PathSegment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(PathSegment::Key(key));
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                out.push(PathSegment::Index(i));
            }
        }
    }
    out
}

/// Parses one YAML document. An empty file is an empty map.
pub fn parse(source: &str) -> Result<Node, YamlError> {
    let mut builder = TreeBuilder::default();
    for event in Parser::new_from_str(source) {
        let (event, span) = event.map_err(|e| YamlError {
            pos: Pos {
                line: e.marker().line(),
                col: e.marker().col() + 1,
            },
            message: e.info().to_string(),
        })?;
        builder.push(event, &span)?;
    }
    Ok(builder.root.unwrap_or(Node {
        value: Value::Map(Vec::new()),
        pos: Pos { line: 1, col: 1 },
    }))
}

#[derive(Default)]
struct TreeBuilder {
    /// Open collections: the node being filled, its anchor id, and for maps a
    /// key waiting for its value.
    stack: Vec<(Node, usize, Option<Node>)>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    documents: usize,
}

impl TreeBuilder {
    fn push(&mut self, event: Event<'_>, span: &Span) -> Result<(), YamlError> {
        let pos = Pos::from_span(span);
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(YamlError {
                        pos,
                        message: "only one YAML document per file is allowed".into(),
                    });
                }
            }
            Event::Scalar(text, style, anchor, _tag) => {
                let plain = style == ScalarStyle::Plain;
                let value = if plain && text.is_empty() {
                    Value::Null
                } else {
                    Value::Scalar {
                        text: text.into_owned(),
                        plain,
                    }
                };
                self.complete(Node { value, pos }, anchor)?;
            }
            Event::SequenceStart(anchor, _) => self.stack.push((
                Node {
                    value: Value::Seq(Vec::new()),
                    pos,
                },
                anchor,
                None,
            )),
            Event::MappingStart(anchor, _) => self.stack.push((
                Node {
                    value: Value::Map(Vec::new()),
                    pos,
                },
                anchor,
                None,
            )),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((node, anchor, _)) = self.stack.pop() {
                    self.complete(node, anchor)?;
                }
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().ok_or(YamlError {
                    pos,
                    message: "alias to an unknown anchor".into(),
                })?;
                self.complete(Node { pos, ..node }, 0)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn complete(&mut self, node: Node, anchor: usize) -> Result<(), YamlError> {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let Some((parent, _, pending_key)) = self.stack.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        match &mut parent.value {
            Value::Seq(items) => items.push(node),
            Value::Map(entries) => match pending_key.take() {
                None => {
                    if !matches!(node.value, Value::Scalar { .. }) {
                        return Err(YamlError {
                            pos: node.pos,
                            message: "map keys must be plain strings".into(),
                        });
                    }
                    if let Some((dup, _)) = entries.iter().find(|(k, _)| same_scalar(k, &node)) {
                        return Err(YamlError {
                            pos: node.pos,
                            message: format!(
                                "duplicate key (first defined at line {})",
                                dup.pos.line
                            ),
                        });
                    }
                    *pending_key = Some(node);
                }
                Some(key) => entries.push((key, node)),
            },
            _ => {}
        }
        Ok(())
    }
}

fn same_scalar(a: &Node, b: &Node) -> bool {
    match (&a.value, &b.value) {
        (Value::Scalar { text: x, .. }, Value::Scalar { text: y, .. }) => x == y,
        _ => false,
    }
}

/// Replaces `${NAME}` and `${NAME:-default}` in every scalar value (not keys).
/// `$${` stands for a literal `${`. Returns one error per unset variable.
pub fn substitute_env(node: &mut Node, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<YamlError> {
    let mut errors = Vec::new();
    substitute_node(node, lookup, &mut errors);
    errors
}

fn substitute_node(
    node: &mut Node,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<YamlError>,
) {
    match &mut node.value {
        Value::Scalar { text, .. } if text.contains('$') => match expand(text, lookup) {
            Ok(expanded) => *text = expanded,
            Err(message) => errors.push(YamlError {
                pos: node.pos,
                message,
            }),
        },
        Value::Seq(items) => items
            .iter_mut()
            .for_each(|n| substitute_node(n, lookup, errors)),
        Value::Map(entries) => entries
            .iter_mut()
            .for_each(|(_, v)| substitute_node(v, lookup, errors)),
        _ => {}
    }
}

fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(after) = rest.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = rest.strip_prefix("${") {
            let end = after
                .find('}')
                .ok_or_else(|| format!("unterminated `${{` in `{text}`"))?;
            let expr = &after[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (expr, None),
            };
            let valid =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!("invalid environment variable name `{name}`"));
            }
            match (lookup(name), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => return Err(format!("environment variable `{name}` is not set")),
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let node = parse("a: 1\nb:\n  c: [x, y]\n").unwrap();
        assert_eq!(node.pos_at("b.c[1]"), Pos { line: 3, col: 10 });
        assert_eq!(node.pos_at("a"), Pos { line: 1, col: 4 });
    }

    #[test]
    fn anchors_and_aliases_are_followed() {
        let node = parse("base: &b {rate: 5}\nroute:\n  policy: *b\n").unwrap();
        let Value::Map(top) = &node.value else {
            panic!("a map")
        };
        let route = &top[1].1;
        let Value::Map(route) = &route.value else {
            panic!("a map")
        };
        let Value::Map(policy) = &route[0].1.value else {
            panic!("the alias resolves to the anchored map")
        };
        assert!(matches!(&policy[0].1.value, Value::Scalar { text, .. } if text == "5"));
        // The copy sits where the alias was written.
        assert_eq!(route[0].1.pos.line, 3);
        assert!(parse("a: *nope\n").is_err());
        // An empty file (or one of comments) is an empty map.
        assert!(
            matches!(parse("# nothing yet\n").unwrap().value, Value::Map(ref m) if m.is_empty())
        );
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(err.pos.line, 2);
        assert!(err.message.contains("duplicate key"));
    }

    #[test]
    fn env_substitution() {
        let mut node = parse("a: ${X}\nb: \"p-${Y:-dflt}\"\nc: $${X}\nd: ${NOPE}\n").unwrap();
        let errors = substitute_env(&mut node, &|n| (n == "X").then(|| "8080".to_string()));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].pos.line, 4);
        let Value::Map(entries) = &node.value else {
            panic!()
        };
        let texts: Vec<_> = entries
            .iter()
            .filter_map(|(_, v)| match &v.value {
                Value::Scalar { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(texts, ["8080", "p-dflt", "${X}", "${NOPE}"]);
    }
}
