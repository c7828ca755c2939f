//! Mock bodies: `{{placeholders}}` filled from the request, parsed once at
//! config load and rendered by the `mock` integration.

use super::path_template::Params;
use bytes::Bytes;

/// A body with `{{placeholders}}`, parsed once at config load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    RequestId,
    Method,
    Path,
    Param(String),
    Query(String),
    Header(String),
    ConnectionId,
}

/// What a template can read from the request.
pub struct RequestView<'a> {
    pub request_id: &'a str,
    /// A WebSocket API's connection (empty for plain requests).
    pub connection_id: Option<&'a str>,
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub params: &'a Params,
    pub header: &'a dyn Fn(&str) -> Option<&'a str>,
}

impl BodyTemplate {
    pub fn parse(source: &str) -> Result<BodyTemplate, String> {
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| "unterminated `{{` in body template".to_string())?;
            let name = after[..end].trim();
            let part = match name.split_once('.') {
                None if name == "request_id" => Part::RequestId,
                None if name == "method" => Part::Method,
                None if name == "path" => Part::Path,
                None if name == "connection_id" => Part::ConnectionId,
                Some(("params", p)) if !p.is_empty() => Part::Param(p.to_string()),
                Some(("query", q)) if !q.is_empty() => Part::Query(q.to_string()),
                Some(("header", h)) if !h.is_empty() => Part::Header(h.to_ascii_lowercase()),
                _ => {
                    return Err(format!(
                        "unknown placeholder `{{{{{name}}}}}`: use request_id, method, path, params.NAME, query.NAME, header.NAME or (WebSocket APIs) connection_id"
                    ))
                }
            };
            parts.push(part);
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(BodyTemplate { parts })
    }

    /// Fills the template. Values from the request are JSON-string-escaped, so
    /// a client cannot break out of the JSON document the template writes.
    pub fn render(&self, req: &RequestView<'_>) -> Bytes {
        if let [Part::Text(t)] = self.parts.as_slice() {
            return Bytes::copy_from_slice(t.as_bytes());
        }
        let mut out = String::new();
        for part in &self.parts {
            let value = match part {
                Part::Text(t) => {
                    out.push_str(t);
                    continue;
                }
                Part::RequestId => Some(req.request_id),
                Part::Method => Some(req.method),
                Part::Path => Some(req.path),
                Part::Param(name) => req
                    .params
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str()),
                Part::Query(name) => req.query.and_then(|q| query_value(q, name)),
                Part::Header(name) => (req.header)(name),
                Part::ConnectionId => req.connection_id,
            };
            push_json_escaped(&mut out, value.unwrap_or(""));
        }
        Bytes::from(out)
    }
}

fn query_value<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then_some(v)
    })
}

fn push_json_escaped(out: &mut String, value: &str) {
    let quoted = serde_json::to_string(value).unwrap_or_default();
    out.push_str(&quoted[1..quoted.len().saturating_sub(1).max(1)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_escapes() {
        let t = BodyTemplate::parse(
            r#"{"id":"{{request_id}}","u":"{{params.user}}","q":"{{query.x}}"}"#,
        )
        .unwrap();
        let params = vec![("user".to_string(), "a\"b".to_string())];
        let header = |_: &str| None;
        let view = RequestView {
            request_id: "r1",
            connection_id: None,
            method: "GET",
            path: "/p",
            query: Some("y=1&x=2"),
            params: &params,
            header: &header,
        };
        assert_eq!(
            t.render(&view),
            Bytes::from(r#"{"id":"r1","u":"a\"b","q":"2"}"#)
        );
        assert!(BodyTemplate::parse("{{nope}}").is_err());
        assert!(BodyTemplate::parse("{{request_id").is_err());
    }
}
