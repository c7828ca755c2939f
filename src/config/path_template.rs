//! Path templates as AWS API Gateway writes them: `/users/{id}/files/{proxy+}`.
//!
//! A template is a list of whole segments: a literal, a `{param}` that takes
//! one segment, or a final greedy `{name+}` that takes one or more. The same
//! syntax, without the `+`, rewrites upstream paths from captured params.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    Param(String),
    Greedy(String),
}

impl Segment {
    /// Literal beats param beats greedy: the basis of "most specific wins".
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 2,
            Segment::Param(_) => 1,
            Segment::Greedy(_) => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    pub source: String,
    pub segments: Vec<Segment>,
}

/// Values captured from the request path, in template order.
pub type Params = Vec<(String, String)>;

impl PathTemplate {
    pub fn parse(source: &str) -> Result<PathTemplate, String> {
        if !source.starts_with('/') {
            return Err(format!("bad path template `{source}`: must start with `/`"));
        }
        let mut segments = Vec::new();
        let parts: Vec<&str> = split_segments(source).collect();
        for (i, part) in parts.iter().enumerate() {
            let segment = if let Some(inner) = part.strip_prefix('{') {
                let inner = inner.strip_suffix('}').ok_or_else(|| {
                    format!("bad path template `{source}`: `{part}` must be a whole segment like `{{name}}`")
                })?;
                let (name, greedy) = match inner.strip_suffix('+') {
                    Some(n) => (n, true),
                    None => (inner, false),
                };
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    return Err(format!(
                        "bad path template `{source}`: parameter name `{name}` must be letters, digits, `_` or `-`"
                    ));
                }
                if segments
                    .iter()
                    .any(|s| matches!(s, Segment::Param(n) | Segment::Greedy(n) if n == name))
                {
                    return Err(format!(
                        "bad path template `{source}`: parameter `{name}` appears twice"
                    ));
                }
                if greedy && i + 1 != parts.len() {
                    return Err(format!(
                        "bad path template `{source}`: greedy `{{{name}+}}` must be the last segment"
                    ));
                }
                if greedy {
                    Segment::Greedy(name.to_string())
                } else {
                    Segment::Param(name.to_string())
                }
            } else {
                if part.contains(['{', '}']) {
                    return Err(format!(
                        "bad path template `{source}`: `{part}` mixes text and a parameter; a parameter must be a whole segment"
                    ));
                }
                Segment::Literal(part.to_string())
            };
            segments.push(segment);
        }
        Ok(PathTemplate {
            source: source.to_string(),
            segments,
        })
    }

    /// `base` followed by `self`, for routes under an API's base path.
    pub fn under(&self, base: &PathTemplate) -> PathTemplate {
        let mut segments = base.segments.clone();
        segments.extend(self.segments.iter().cloned());
        let source = format!(
            "{}{}",
            base.source.trim_end_matches('/'),
            if self.source == "/" && !base.segments.is_empty() {
                ""
            } else {
                &self.source
            }
        );
        PathTemplate { source, segments }
    }

    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(n) | Segment::Greedy(n) => Some(n.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// Two templates with the same shape match exactly the same paths.
    pub fn same_shape(&self, other: &PathTemplate) -> bool {
        self.segments.len() == other.segments.len()
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .all(|(a, b)| match (a, b) {
                    (Segment::Literal(x), Segment::Literal(y)) => x == y,
                    _ => a.rank() == b.rank(),
                })
    }

    /// Orders templates from most to least specific, segment by segment.
    pub fn specificity_cmp(&self, other: &PathTemplate) -> Ordering {
        for (a, b) in self.segments.iter().zip(&other.segments) {
            match b.rank().cmp(&a.rank()) {
                Ordering::Equal => continue,
                unequal => return unequal,
            }
        }
        other.segments.len().cmp(&self.segments.len())
    }

    /// Matches a request path (without query); captured values stay percent-encoded.
    pub fn matches(&self, path: &str) -> Option<Params> {
        let mut params = Vec::new();
        let mut rest = path.strip_prefix('/')?;
        for (i, segment) in self.segments.iter().enumerate() {
            if let Segment::Greedy(name) = segment {
                let value = rest.trim_end_matches('/');
                if value.is_empty() {
                    return None;
                }
                params.push((name.clone(), value.to_string()));
                return Some(params);
            }
            let (part, tail) = match rest.find('/') {
                Some(j) => (&rest[..j], &rest[j + 1..]),
                None => (rest, ""),
            };
            let last = i + 1 == self.segments.len();
            match segment {
                Segment::Literal(lit) if lit == part => {}
                Segment::Param(name) if !part.is_empty() => {
                    params.push((name.clone(), part.to_string()))
                }
                _ => return None,
            }
            if last {
                // A single trailing slash is tolerated: `/users/` matches `/users`.
                return (tail.is_empty()).then_some(params);
            }
            rest = tail;
        }
        // Only the root template `/` has no segments.
        (rest.is_empty()).then_some(params)
    }

    /// Fills the template's params from `params`; the greedy form `{name+}`
    /// and the plain `{name}` both take the whole captured value.
    pub fn render(&self, params: &Params) -> String {
        let mut out = String::with_capacity(self.source.len() + 16);
        for segment in &self.segments {
            out.push('/');
            match segment {
                Segment::Literal(lit) => out.push_str(lit),
                Segment::Param(name) | Segment::Greedy(name) => {
                    if let Some((_, v)) = params.iter().find(|(n, _)| n == name) {
                        out.push_str(v);
                    }
                }
            }
        }
        if out.is_empty() {
            out.push('/');
        }
        if self.source.ends_with('/') && self.source.len() > 1 {
            out.push('/');
        }
        out
    }
}

fn split_segments(source: &str) -> impl Iterator<Item = &str> {
    source.split('/').filter(|s| !s.is_empty())
}

/// Parses a rewrite template, in which `{name}` and `{name+}` are the same thing.
pub fn parse_rewrite(source: &str) -> Result<PathTemplate, String> {
    let mut template = PathTemplate::parse(source)?;
    for segment in &mut template.segments {
        if let Segment::Greedy(name) = segment {
            *segment = Segment::Param(std::mem::take(name));
        }
    }
    Ok(template)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> PathTemplate {
        PathTemplate::parse(s).unwrap()
    }

    #[test]
    fn matching() {
        assert_eq!(
            t("/users/{id}").matches("/users/42"),
            Some(vec![("id".into(), "42".into())])
        );
        assert_eq!(t("/users/{id}").matches("/users/42/x"), None);
        assert_eq!(t("/users/{id}").matches("/users/"), None);
        assert_eq!(t("/users").matches("/users/"), Some(vec![]));
        assert_eq!(
            t("/files/{proxy+}").matches("/files/a/b/c"),
            Some(vec![("proxy".into(), "a/b/c".into())])
        );
        assert_eq!(t("/files/{proxy+}").matches("/files"), None);
        assert_eq!(t("/").matches("/"), Some(vec![]));
        assert_eq!(t("/").matches("/x"), None);
    }

    #[test]
    fn bad_templates() {
        assert!(PathTemplate::parse("users").is_err());
        assert!(PathTemplate::parse("/a/{x+}/b").is_err());
        assert!(PathTemplate::parse("/a/x{y}").is_err());
        assert!(PathTemplate::parse("/a/{x}/{x}").is_err());
        assert!(PathTemplate::parse("/a/{}").is_err());
    }

    #[test]
    fn specificity() {
        let mut v = [
            t("/{proxy+}"),
            t("/users/{id}"),
            t("/users/me"),
            t("/{a}/{b}"),
        ];
        v.sort_by(|a, b| a.specificity_cmp(b));
        let order: Vec<_> = v.iter().map(|t| t.source.as_str()).collect();
        assert_eq!(order, ["/users/me", "/users/{id}", "/{a}/{b}", "/{proxy+}"]);
        assert!(t("/a/{x}").same_shape(&t("/a/{y}")));
        assert!(!t("/a/{x}").same_shape(&t("/b/{y}")));
    }

    #[test]
    fn rendering() {
        let params = vec![("id".to_string(), "7".to_string())];
        assert_eq!(
            parse_rewrite("/v1/users/{id}").unwrap().render(&params),
            "/v1/users/7"
        );
        assert_eq!(t("/demo").under(&t("/")).source, "/demo");
        assert_eq!(t("/hello").under(&t("/demo")).source, "/demo/hello");
    }
}
