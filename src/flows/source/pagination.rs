//! Which page comes next, and when to stop. Pure: it sees each response and
//! says where to go. A cursor or URL seen before, or a page identical to the
//! one before, fails the run: an API that loops would otherwise be read
//! forever (or its records written again and again).

use crate::config::flow_spec::{Pagination, Stop};
use crate::flows::error::FlowError;
use crate::flows::record;
use serde_json::Value;
use std::collections::HashSet;

/// Where a request goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Position {
    Start,
    Cursor(String),
    /// A full URL given by the API (body or Link header).
    Url(reqwest::Url),
    Offset(u64),
    Page(u64),
}

/// What a response showed the paginator.
pub struct Seen<'a> {
    pub url: &'a reqwest::Url,
    pub body: &'a Value,
    pub records: &'a [Value],
    pub link_header: Option<&'a str>,
    /// SHA-256 of the response bytes.
    pub digest: [u8; 32],
}

pub struct Paginator {
    spec: Pagination,
    at: Position,
    seen: HashSet<String>,
    last_digest: Option<[u8; 32]>,
}

impl Paginator {
    pub fn new(spec: Pagination) -> Paginator {
        let at = match &spec {
            Pagination::Offset { .. } => Position::Offset(0),
            Pagination::Page { start, .. } => Position::Page(*start),
            _ => Position::Start,
        };
        Paginator {
            spec,
            at,
            seen: HashSet::new(),
            last_digest: None,
        }
    }

    pub fn position(&self) -> &Position {
        &self.at
    }

    /// Query parameters the position adds to the configured ones.
    pub fn params(&self) -> Vec<(String, String)> {
        match (&self.spec, &self.at) {
            (Pagination::Cursor { param, .. }, Position::Cursor(c)) => {
                vec![(param.clone(), c.clone())]
            }
            (
                Pagination::Offset {
                    param,
                    size_param,
                    size,
                },
                Position::Offset(o),
            ) => vec![
                (param.clone(), o.to_string()),
                (size_param.clone(), size.to_string()),
            ],
            (
                Pagination::Page {
                    param,
                    size_param,
                    size,
                    ..
                },
                Position::Page(p),
            ) => {
                let mut params = vec![(param.clone(), p.to_string())];
                if let (Some(name), Some(size)) = (size_param, size) {
                    params.push((name.clone(), size.to_string()));
                }
                params
            }
            _ => Vec::new(),
        }
    }

    /// Moves past the page just read; false when there is no next page.
    pub fn advance(&mut self, page: &Seen<'_>) -> Result<bool, FlowError> {
        if !page.records.is_empty() && self.last_digest == Some(page.digest) {
            return Err(FlowError::Pagination(
                "the API returned the same page twice; stopping instead of looping".into(),
            ));
        }
        self.last_digest = Some(page.digest);
        if page.records.is_empty() {
            return Ok(false);
        }
        let next = match &self.spec {
            Pagination::None => None,
            Pagination::Cursor {
                from,
                from_last_record,
                stop,
                ..
            } => {
                if stopped(stop, page.body) {
                    None
                } else {
                    let cursor = match (from, from_last_record) {
                        (_, Some(field)) => page.records.last().and_then(|r| record::get(r, field)),
                        (Some(path), None) => record::get(page.body, path),
                        (None, None) => None,
                    };
                    cursor
                        .map(record::text)
                        .filter(|c| !c.is_empty())
                        .map(Position::Cursor)
                }
            }
            Pagination::NextUrl { from, stop } => {
                if stopped(stop, page.body) {
                    None
                } else {
                    match record::get(page.body, from).map(record::text) {
                        Some(next) if !next.is_empty() => {
                            Some(Position::Url(join(page.url, &next)?))
                        }
                        _ => None,
                    }
                }
            }
            Pagination::LinkHeader => match page.link_header.and_then(next_link) {
                Some(next) => Some(Position::Url(join(page.url, &next)?)),
                None => None,
            },
            Pagination::Offset { size, .. } => match self.at {
                Position::Offset(o) if page.records.len() as u64 >= *size => {
                    Some(Position::Offset(o + page.records.len() as u64))
                }
                _ => None,
            },
            Pagination::Page { size, .. } => match self.at {
                Position::Page(_) if size.is_some_and(|s| (page.records.len() as u64) < s) => None,
                Position::Page(p) => Some(Position::Page(p + 1)),
                _ => None,
            },
        };
        let Some(next) = next else { return Ok(false) };
        let key = match &next {
            Position::Cursor(c) => Some(format!("cursor {c}")),
            Position::Url(u) => Some(format!("url {u}")),
            _ => None,
        };
        if let Some(key) = key {
            if !self.seen.insert(key) {
                return Err(FlowError::Pagination(
                    "the API returned a cursor it had already returned; stopping instead of looping"
                        .into(),
                ));
            }
        }
        self.at = next;
        Ok(true)
    }
}

fn stopped(stop: &Option<Stop>, body: &Value) -> bool {
    stop.as_ref()
        .is_some_and(|s| record::get(body, &s.field) == Some(&s.value))
}

/// Resolves a next-page link against the page it came from; it must stay
/// on the same host, or the source's credentials would go to another.
fn join(base: &reqwest::Url, next: &str) -> Result<reqwest::Url, FlowError> {
    let url = base
        .join(next)
        .map_err(|_| FlowError::Pagination("the next-page link is not a URL".into()))?;
    if url.host_str() != base.host_str()
        || url.port_or_known_default() != base.port_or_known_default()
    {
        return Err(FlowError::Pagination(format!(
            "the next-page link leads to another host ({}); refused",
            url.host_str().unwrap_or("?")
        )));
    }
    Ok(url)
}

/// The `rel="next"` target of an RFC 8288 Link header.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|link| {
        let (target, params) = link.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| target.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seen<'a>(
        url: &'a reqwest::Url,
        body: &'a Value,
        records: &'a [Value],
        digest: u8,
    ) -> Seen<'a> {
        Seen {
            url,
            body,
            records,
            link_header: None,
            digest: [digest; 32],
        }
    }

    #[test]
    fn cursor_pages_until_the_stop_field_and_refuses_a_repeat() {
        let url = reqwest::Url::parse("https://api.example.com/v1/items").unwrap();
        let spec = Pagination::Cursor {
            from: Some("meta.next".into()),
            from_last_record: None,
            param: "cursor".into(),
            stop: Some(Stop {
                field: "has_more".into(),
                value: json!(false),
            }),
        };
        let mut p = Paginator::new(spec.clone());
        let records = [json!({"id": 1})];
        let body = json!({"meta": {"next": "abc"}, "has_more": true});
        assert!(p.advance(&seen(&url, &body, &records, 1)).unwrap());
        assert_eq!(p.params(), vec![("cursor".to_string(), "abc".to_string())]);
        let last = json!({"meta": {"next": "def"}, "has_more": false});
        assert!(!p.advance(&seen(&url, &last, &records, 2)).unwrap());

        let mut p = Paginator::new(spec);
        assert!(p.advance(&seen(&url, &body, &records, 1)).unwrap());
        let err = p.advance(&seen(&url, &body, &records, 2)).unwrap_err();
        assert!(err.to_string().contains("already returned"), "{err}");
        let err = p.advance(&seen(&url, &body, &records, 2)).unwrap_err();
        assert!(err.to_string().contains("same page twice"), "{err}");
    }

    #[test]
    fn offsets_pages_links() {
        let url = reqwest::Url::parse("https://api.example.com/v1/items?x=1").unwrap();
        let full = vec![json!({}); 2];
        let short = vec![json!({})];
        let body = json!({});
        let mut p = Paginator::new(Pagination::Offset {
            param: "offset".into(),
            size_param: "limit".into(),
            size: 2,
        });
        assert!(p.advance(&seen(&url, &body, &full, 1)).unwrap());
        assert_eq!(p.position(), &Position::Offset(2));
        assert!(!p.advance(&seen(&url, &body, &short, 2)).unwrap());

        let mut p = Paginator::new(Pagination::Page {
            param: "page".into(),
            start: 1,
            size_param: None,
            size: None,
        });
        assert!(p.advance(&seen(&url, &body, &short, 1)).unwrap());
        assert_eq!(p.params(), vec![("page".to_string(), "2".to_string())]);
        assert!(!p.advance(&seen(&url, &body, &[], 2)).unwrap());

        let mut p = Paginator::new(Pagination::LinkHeader);
        let mut page = seen(&url, &body, &short, 1);
        page.link_header = Some(
            r#"<https://api.example.com/v1/items?page=2>; rel="next", <https://api.example.com/v1/items?page=9>; rel="last""#,
        );
        assert!(p.advance(&page).unwrap());
        assert_eq!(
            p.position(),
            &Position::Url(reqwest::Url::parse("https://api.example.com/v1/items?page=2").unwrap())
        );
        let mut p = Paginator::new(Pagination::LinkHeader);
        page.link_header = Some(r#"<https://evil.example.net/steal>; rel="next""#);
        assert!(p
            .advance(&page)
            .unwrap_err()
            .to_string()
            .contains("another host"));

        let mut p = Paginator::new(Pagination::NextUrl {
            from: "next".into(),
            stop: None,
        });
        let body = json!({"next": "/v1/items?after=5"});
        assert!(p.advance(&seen(&url, &body, &short, 1)).unwrap());
        assert_eq!(
            p.position(),
            &Position::Url(
                reqwest::Url::parse("https://api.example.com/v1/items?after=5").unwrap()
            )
        );
        let body = json!({"next": null});
        assert!(!p.advance(&seen(&url, &body, &short, 2)).unwrap());
    }
}
