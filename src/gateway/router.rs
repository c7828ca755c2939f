//! Host + method + path -> route.
//!
//! Routes are grouped by host tier: exact host names first, then wildcard
//! suffixes (longest first), then APIs without hosts. The first tier with a
//! route whose path matches answers; within it, routes are sorted from most
//! to least specific path, so the first match that allows the method wins.
//! If paths match but no method does, the answer is 405 with the union of
//! the methods that would have been allowed.

use crate::config::model::{Api, HostPattern, Methods, Route};
use crate::config::path_template::Params;
use http::Method;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Default)]
pub struct Router {
    exact: HashMap<String, Vec<Arc<Route>>>,
    /// `.example.com` suffixes, longest first.
    suffix: Vec<(String, Vec<Arc<Route>>)>,
    any: Vec<Arc<Route>>,
}

#[derive(Debug)]
pub enum Match {
    Found(Arc<Route>, Params),
    MethodNotAllowed(Vec<Method>),
    NotFound,
}

const ALL_METHODS: [Method; 8] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
    Method::TRACE,
];

impl Router {
    pub fn new(apis: &[Api]) -> Router {
        let mut router = Router::default();
        let mut suffix: HashMap<String, Vec<Arc<Route>>> = HashMap::new();
        for api in apis {
            for route in &api.routes {
                if api.hosts.is_empty() {
                    router.any.push(route.clone());
                }
                for host in &api.hosts {
                    match host {
                        HostPattern::Exact(h) => router.exact.entry(h.clone()).or_default(),
                        HostPattern::Suffix(s) => suffix.entry(s.clone()).or_default(),
                    }
                    .push(route.clone());
                }
            }
        }
        router.suffix = suffix.into_iter().collect();
        router
            .suffix
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        let sort = |routes: &mut Vec<Arc<Route>>| {
            routes.sort_by(|a, b| a.template.specificity_cmp(&b.template))
        };
        router.exact.values_mut().for_each(sort);
        router.suffix.iter_mut().for_each(|(_, r)| sort(r));
        sort(&mut router.any);
        router
    }

    /// `host` is lowercase without a port.
    pub fn find(&self, host: &str, method: &Method, path: &str) -> Match {
        let tiers = self
            .exact
            .get(host)
            .into_iter()
            .chain(
                self.suffix
                    .iter()
                    .filter(|(s, _)| host.len() > s.len() && host.ends_with(s.as_str()))
                    .map(|(_, r)| r),
            )
            .chain(std::iter::once(&self.any));
        for routes in tiers {
            match find_in(routes, method, path) {
                Match::NotFound => continue,
                found => return found,
            }
        }
        Match::NotFound
    }
}

fn find_in(routes: &[Arc<Route>], method: &Method, path: &str) -> Match {
    let mut allowed: Option<Vec<Method>> = None;
    for route in routes {
        let Some(params) = route.template.matches(path) else {
            continue;
        };
        // HEAD is answered by GET routes, as every HTTP server does.
        if route.methods.allows(method)
            || (*method == Method::HEAD && route.methods.allows(&Method::GET))
        {
            return Match::Found(route.clone(), params);
        }
        let list = allowed.get_or_insert_with(Vec::new);
        let methods: &[Method] = match &route.methods {
            Methods::Any => &ALL_METHODS,
            Methods::Only(m) => m,
        };
        for m in methods {
            if !list.contains(m) {
                list.push(m.clone());
            }
        }
        if methods.contains(&Method::GET) && !list.contains(&Method::HEAD) {
            list.push(Method::HEAD);
        }
    }
    match allowed {
        Some(list) => Match::MethodNotAllowed(list),
        None => Match::NotFound,
    }
}
