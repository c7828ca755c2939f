//! Per-route header rules (`remove`, then `set`, then `add`), applied the same
//! way to upstream requests and to responses.

use crate::config::model::HeaderRules;
use http::{HeaderName, HeaderValue};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::Result;

/// What the rules need from a header block; pingora's request and response
/// headers share these methods but no trait.
pub trait EditHeaders {
    fn remove(&mut self, name: &HeaderName);
    fn set(&mut self, name: HeaderName, value: HeaderValue) -> Result<()>;
    fn add(&mut self, name: HeaderName, value: HeaderValue) -> Result<()>;
}

impl EditHeaders for RequestHeader {
    fn remove(&mut self, name: &HeaderName) {
        self.remove_header(name);
    }
    fn set(&mut self, name: HeaderName, value: HeaderValue) -> Result<()> {
        self.insert_header(name, value)
    }
    fn add(&mut self, name: HeaderName, value: HeaderValue) -> Result<()> {
        self.append_header(name, value).map(|_| ())
    }
}

impl EditHeaders for ResponseHeader {
    fn remove(&mut self, name: &HeaderName) {
        self.remove_header(name);
    }
    fn set(&mut self, name: HeaderName, value: HeaderValue) -> Result<()> {
        self.insert_header(name, value)
    }
    fn add(&mut self, name: HeaderName, value: HeaderValue) -> Result<()> {
        self.append_header(name, value).map(|_| ())
    }
}

pub fn apply(target: &mut impl EditHeaders, rules: &HeaderRules) -> Result<()> {
    for name in &rules.remove {
        target.remove(name);
    }
    for (name, value) in &rules.set {
        target.set(name.clone(), value.clone())?;
    }
    for (name, value) in &rules.add {
        target.add(name.clone(), value.clone())?;
    }
    Ok(())
}
