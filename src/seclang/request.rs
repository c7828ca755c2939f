//! A request as rules see it: its line, headers, cookies, query arguments,
//! and the body read by a processor (urlencoded, JSON, multipart, XML),
//! chosen by the Content-Type (or by `ctl:requestBodyProcessor`). A body
//! the processor cannot read sets REQBODY_ERROR and its message, as
//! ModSecurity's processors do.

pub struct Request {
    pub method: String,
    pub protocol: String,
    /// The request target as sent (path and query): REQUEST_URI_RAW.
    pub uri_raw: String,
    /// Percent-decoded once, as ModSecurity v3 keeps them: REQUEST_URI
    /// (path and query) and REQUEST_FILENAME (the path).
    pub uri: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub cookies: Vec<(String, Vec<u8>)>,
    pub args_get: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    pub remote_addr: String,
    pub remote_port: u16,
    pub unique_id: String,
}

/// What a body processor made of the body.
#[derive(Default)]
pub struct Body {
    pub processor: &'static str,
    pub args: Vec<(String, Vec<u8>)>,
    /// Field name -> file name.
    pub files: Vec<(String, Vec<u8>)>,
    pub file_sizes: Vec<(String, Vec<u8>)>,
    pub part_headers: Vec<(String, Vec<u8>)>,
    pub xml: Vec<Vec<u8>>,
    pub error: Option<String>,
    pub multipart_strict_error: bool,
}

/// `a=1&b=%27` -> decoded pairs (a name without `=` has an empty value).
pub fn form_pairs(text: &[u8]) -> Vec<(String, Vec<u8>)> {
    text.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = match pair.iter().position(|&b| b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &b""[..]),
            };
            let decode = |s: &[u8]| {
                super::transform::Transform::UrlDecode
                    .apply(s)
                    .unwrap_or_else(|| s.to_vec())
            };
            (String::from_utf8_lossy(&decode(k)).into_owned(), decode(v))
        })
        .collect()
}

impl Request {
    pub fn new(
        method: &str,
        uri: &str,
        protocol: &str,
        headers: Vec<(String, Vec<u8>)>,
        body: Vec<u8>,
        remote: Option<std::net::SocketAddr>,
        unique_id: String,
    ) -> Request {
        let (raw_path, query) = uri.split_once('?').unwrap_or((uri, ""));
        let decode = |s: &str| {
            String::from_utf8_lossy(&percent_encoding::percent_decode_str(s).collect::<Vec<u8>>())
                .into_owned()
        };
        let mut cookies = Vec::new();
        for (name, value) in &headers {
            if name.eq_ignore_ascii_case("cookie") {
                for pair in value.split(|&b| b == b';') {
                    let pair = pair.trim_ascii();
                    if pair.is_empty() {
                        continue;
                    }
                    let (k, v) = match pair.iter().position(|&b| b == b'=') {
                        Some(at) => (&pair[..at], &pair[at + 1..]),
                        None => (pair, &b""[..]),
                    };
                    cookies.push((String::from_utf8_lossy(k).into_owned(), v.to_vec()));
                }
            }
        }
        Request {
            method: method.to_string(),
            protocol: protocol.to_string(),
            uri_raw: uri.to_string(),
            uri: decode(uri),
            path: decode(raw_path),
            query: query.to_string(),
            args_get: form_pairs(query.as_bytes()),
            headers,
            cookies,
            body,
            remote_addr: remote.map(|a| a.ip().to_string()).unwrap_or_default(),
            remote_port: remote.map_or(0, |a| a.port()),
            unique_id,
        }
    }

    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The processor the Content-Type calls for.
    pub fn default_processor(&self) -> &'static str {
        let ct = self
            .header("content-type")
            .map(|v| String::from_utf8_lossy(v).to_ascii_lowercase())
            .unwrap_or_default();
        if ct.starts_with("application/x-www-form-urlencoded") {
            "URLENCODED"
        } else if ct.starts_with("multipart/form-data") {
            "MULTIPART"
        } else if ct.starts_with("application/json") || ct.contains("+json") {
            "JSON"
        } else if ct.starts_with("text/xml")
            || ct.starts_with("application/xml")
            || ct.contains("+xml")
        {
            "XML"
        } else {
            ""
        }
    }

    /// The body read by `processor`.
    pub fn read_body(&self, processor: &'static str) -> Body {
        let mut body = Body {
            processor,
            ..Body::default()
        };
        if self.body.is_empty() {
            return body;
        }
        match processor {
            "URLENCODED" => body.args = form_pairs(&self.body),
            "JSON" => match serde_json::from_slice::<serde_json::Value>(&self.body) {
                Ok(v) => flatten_json("json", &v, &mut body.args),
                Err(e) => body.error = Some(format!("JSON parsing error: {e}")),
            },
            "MULTIPART" => self.multipart(&mut body),
            "XML" => xml_text(&self.body, &mut body),
            _ => {}
        }
        body
    }

    fn multipart(&self, body: &mut Body) {
        let ct = self
            .header("content-type")
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default();
        let Some(boundary) = ct
            .split(';')
            .find_map(|p| p.trim().strip_prefix("boundary="))
            .map(|b| b.trim_matches('"').to_string())
        else {
            body.error = Some("Multipart: no boundary in the Content-Type".into());
            body.multipart_strict_error = true;
            return;
        };
        let delimiter = format!("--{boundary}").into_bytes();
        let mut parts = split_on(&self.body, &delimiter);
        if parts.len() < 2 {
            body.error = Some("Multipart: the boundary does not occur".into());
            body.multipart_strict_error = true;
            return;
        }
        parts.remove(0);
        let mut closed = false;
        for part in parts {
            if part.starts_with(b"--") {
                closed = true;
                break;
            }
            let part = part.strip_prefix(b"\r\n").unwrap_or(part);
            let Some(split) = find(part, b"\r\n\r\n") else {
                body.multipart_strict_error = true;
                continue;
            };
            let (head, content) = (&part[..split], &part[split + 4..]);
            let content = content.strip_suffix(b"\r\n").unwrap_or(content);
            let mut name = String::new();
            let mut filename: Option<Vec<u8>> = None;
            for line in split_on(head, b"\r\n") {
                let text = String::from_utf8_lossy(line).into_owned();
                if text.to_ascii_lowercase().starts_with("content-disposition") {
                    for item in text.split(';').map(str::trim) {
                        if let Some(v) = item.strip_prefix("name=") {
                            name = v.trim_matches('"').to_string();
                        } else if let Some(v) = item.strip_prefix("filename=") {
                            filename = Some(v.trim_matches('"').as_bytes().to_vec());
                        }
                    }
                }
                body.part_headers.push((name.clone(), line.to_vec()));
            }
            match filename {
                Some(f) => {
                    body.file_sizes
                        .push((name.clone(), content.len().to_string().into_bytes()));
                    body.files.push((name, f));
                }
                None => body.args.push((name, content.to_vec())),
            }
        }
        if !closed {
            body.multipart_strict_error = true;
            body.error = Some("Multipart: the final boundary is missing".into());
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn split_on<'a>(hay: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = hay;
    while let Some(at) = find(rest, sep) {
        out.push(&rest[..at]);
        rest = &rest[at + sep.len()..];
    }
    out.push(rest);
    out
}

/// ModSecurity's JSON argument names: `json.a.b`, array items by index.
fn flatten_json(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, Vec<u8>)>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                flatten_json(&format!("{prefix}.{k}"), v, out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten_json(&format!("{prefix}.array_{i}"), v, out);
            }
        }
        serde_json::Value::String(s) => out.push((prefix.to_string(), s.clone().into_bytes())),
        serde_json::Value::Null => out.push((prefix.to_string(), Vec::new())),
        other => out.push((prefix.to_string(), other.to_string().into_bytes())),
    }
}

/// XML:/* — the text of every element and every attribute value.
fn xml_text(bytes: &[u8], body: &mut Body) {
    let mut depth = 0i64;
    let mut i = 0;
    let mut text = Vec::new();
    while i < bytes.len() {
        if bytes[i] == b'<' {
            if !text.iter().all(u8::is_ascii_whitespace) {
                body.xml.push(std::mem::take(&mut text));
            }
            text.clear();
            let Some(end) = bytes[i..].iter().position(|&b| b == b'>') else {
                body.error = Some("XML parsing error: an unclosed tag".into());
                return;
            };
            let tag = &bytes[i + 1..i + end];
            if tag.starts_with(b"/") {
                depth -= 1;
            } else if !tag.starts_with(b"?") && !tag.starts_with(b"!") && !tag.ends_with(b"/") {
                depth += 1;
            }
            // Attribute values.
            for (n, chunk) in tag.split(|&b| b == b'"').enumerate() {
                if n % 2 == 1 {
                    body.xml.push(chunk.to_vec());
                }
            }
            i += end + 1;
        } else {
            text.push(bytes[i]);
            i += 1;
        }
    }
    if depth != 0 {
        body.error = Some("XML parsing error: unbalanced elements".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(ct: &str, body: &str) -> Request {
        Request::new(
            "POST",
            "/a/b.php?x=%27y&z",
            "HTTP/1.1",
            vec![
                ("content-type".into(), ct.as_bytes().to_vec()),
                ("cookie".into(), b"s=1; t=a%20b".to_vec()),
            ],
            body.as_bytes().to_vec(),
            None,
            "id".into(),
        )
    }

    #[test]
    fn processors() {
        let r = request("application/x-www-form-urlencoded", "a=1+2&b=%3Cx");
        assert_eq!(
            r.args_get,
            [("x".into(), b"'y".to_vec()), ("z".into(), Vec::new())]
        );
        assert_eq!(r.cookies[1], ("t".into(), b"a%20b".to_vec()));
        let body = r.read_body(r.default_processor());
        assert_eq!(
            body.args,
            [("a".into(), b"1 2".to_vec()), ("b".into(), b"<x".to_vec())]
        );

        let r = request("application/json", r#"{"q":{"w":"1' or 1=1"},"l":[1,"x"]}"#);
        let body = r.read_body("JSON");
        assert!(body
            .args
            .contains(&("json.q.w".into(), b"1' or 1=1".to_vec())));
        assert!(body
            .args
            .contains(&("json.l.array_1".into(), b"x".to_vec())));
        assert!(r.read_body("JSON").error.is_none());
        let bad = request("application/json", "{nope");
        assert!(bad.read_body("JSON").error.is_some());

        let r = request(
            "multipart/form-data; boundary=XX",
            "--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.php\"\r\n\r\n<?php\r\n--XX--\r\n",
        );
        let body = r.read_body("MULTIPART");
        assert_eq!(body.args, [("a".into(), b"hello".to_vec())]);
        assert_eq!(body.files, [("f".into(), b"x.php".to_vec())]);
        assert!(body.error.is_none() && !body.multipart_strict_error);

        let r = request("text/xml", "<a x=\"1\"><b>hi there</b></a>");
        let body = r.read_body("XML");
        assert_eq!(body.xml, [b"1".to_vec(), b"hi there".to_vec()]);
    }
}
