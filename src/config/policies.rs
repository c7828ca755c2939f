//! Policy settings: raw -> validated, and how a route's own policies
//! override its API's, one policy at a time.

use super::diagnostics::Reporter;
use super::model::{
    ApiKeyPolicy, Authorizer, Cors, IdentitySource, JsonSchema, Jwt, Methods, OriginPattern,
    Policies, RateKey, RateLimit, UsagePlan, Validation,
};
use super::raw::{ApiKeyPolicyRaw, AuthorizerRaw, CorsRaw, PoliciesRaw, RateLimitRaw, ValidateRaw};
use super::validate::parse_methods;
use http::HeaderName;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// What one level (API or route) says about each policy: `None` says nothing
/// (inherit), `Some(None)` turns the policy off, `Some(Some(_))` sets it.
#[derive(Debug, Default)]
pub struct Level {
    cors: Option<Option<Arc<Cors>>>,
    waf: Option<Option<Arc<super::waf::Attached>>>,
    api_key: Option<Option<Arc<ApiKeyPolicy>>>,
    jwt: Option<Option<Arc<Jwt>>>,
    authorizer: Option<Option<Arc<Authorizer>>>,
    rate_limit: Option<Option<Arc<RateLimit>>>,
    validate: Option<Option<Arc<Validation>>>,
}

/// A level's own setting if it has one, else the inherited one.
fn pick<T>(own: &Option<Option<Arc<T>>>, inherited: &Option<Option<Arc<T>>>) -> Option<Arc<T>> {
    match own {
        Some(setting) => setting.clone(),
        None => inherited.clone().flatten(),
    }
}

impl Level {
    /// This level's settings, falling back to `parent` where it says nothing.
    pub fn over(&self, parent: &Level) -> Policies {
        Policies {
            cors: pick(&self.cors, &parent.cors),
            waf: pick(&self.waf, &parent.waf),
            api_key: pick(&self.api_key, &parent.api_key),
            jwt: pick(&self.jwt, &parent.jwt),
            authorizer: pick(&self.authorizer, &parent.authorizer),
            rate_limit: pick(&self.rate_limit, &parent.rate_limit),
            validate: pick(&self.validate, &parent.validate),
        }
    }
}

/// What policy settings are checked against.
pub struct Context<'a> {
    /// Where `json_schema` paths start.
    pub routes_dir: &'a Path,
    pub plans: &'a std::collections::BTreeMap<String, Arc<UsagePlan>>,
    pub rule_sets: &'a std::collections::BTreeMap<String, Arc<super::waf::RuleSet>>,
}

pub fn build(raw: Option<&PoliciesRaw>, path: &str, ctx: &Context<'_>, r: &mut Reporter) -> Level {
    let routes_dir = ctx.routes_dir;
    let Some(raw) = raw else {
        return Level::default();
    };
    Level {
        cors: raw
            .cors
            .as_ref()
            .map(|c| cors(c, &format!("{path}.cors"), r).map(Arc::new)),
        waf: raw
            .waf
            .as_ref()
            .map(|w| waf(w, &format!("{path}.waf"), ctx, r).map(Arc::new)),
        api_key: raw
            .api_key
            .as_ref()
            .map(|k| api_key(k, &format!("{path}.api_key"), ctx, r).map(Arc::new)),
        jwt: raw
            .jwt
            .as_ref()
            .map(|j| super::jwt::build(j, &format!("{path}.jwt"), routes_dir, r).map(Arc::new)),
        authorizer: raw
            .authorizer
            .as_ref()
            .map(|a| authorizer(a, &format!("{path}.authorizer"), r).map(Arc::new)),
        rate_limit: raw
            .rate_limit
            .as_ref()
            .map(|l| rate_limit(l, &format!("{path}.rate_limit"), r).map(Arc::new)),
        validate: raw
            .validate
            .as_ref()
            .map(|v| validation(v, &format!("{path}.validate"), routes_dir, r).map(Arc::new)),
    }
}

fn validation(
    raw: &ValidateRaw,
    path: &str,
    routes_dir: &Path,
    r: &mut Reporter,
) -> Option<Validation> {
    if raw.enabled == Some(false) {
        return None;
    }
    let content_types = raw
        .content_types
        .iter()
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .collect();
    let schema = raw.json_schema.as_ref().and_then(|file| {
        let spath = format!("{path}.json_schema");
        match load_schema(&routes_dir.join(file)) {
            Ok(validator) => Some(JsonSchema {
                file: file.clone(),
                validator,
            }),
            Err(m) => {
                r.error(&spath, format!("schema `{file}`: {m}"));
                None
            }
        }
    });
    Some(Validation {
        required_query: raw.required_query.clone(),
        required_headers: header_names(
            &raw.required_headers,
            &format!("{path}.required_headers"),
            r,
        ),
        content_types,
        max_body: raw.max_body.map(|b| b.0),
        schema,
    })
}

fn load_schema(file: &Path) -> Result<jsonschema::Validator, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read: {e}"))?;
    let is_yaml = matches!(
        file.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    let value: serde_json::Value = if is_yaml {
        let node = super::yaml::parse(&text)
            .map_err(|e| format!("invalid YAML at line {}: {}", e.pos.line, e.message))?;
        serde::Deserialize::deserialize(&node).map_err(|e: super::de::DeError| e.message)?
    } else {
        serde_json::from_str(&text).map_err(|e| format!("invalid JSON: {e}"))?
    };
    jsonschema::validator_for(&value).map_err(|e| format!("not a valid JSON Schema: {e}"))
}

fn cors(raw: &CorsRaw, path: &str, r: &mut Reporter) -> Option<Cors> {
    if raw.enabled == Some(false) {
        return None;
    }
    if raw.allow_origins.is_empty() {
        r.error(
            &format!("{path}.allow_origins"),
            "list at least one origin, or `*`",
        );
    }
    let mut any_origin = false;
    let mut origins = Vec::new();
    for (i, o) in raw.allow_origins.iter().enumerate() {
        match parse_origin(o) {
            Ok(None) => any_origin = true,
            Ok(Some(p)) => origins.push(p),
            Err(m) => r.error(&format!("{path}.allow_origins[{i}]"), m),
        }
    }
    if any_origin && raw.allow_credentials {
        r.error(
            &format!("{path}.allow_credentials"),
            "credentials cannot be allowed for origin `*`; list the origins instead",
        );
    }
    let methods = match &raw.allow_methods {
        Some(list) => match parse_methods(list, &format!("{path}.allow_methods"), r) {
            Some(Methods::Only(m)) => Some(m),
            _ => None,
        },
        None => None,
    };
    Some(Cors {
        any_origin,
        origins,
        methods,
        headers: header_names(&raw.allow_headers, &format!("{path}.allow_headers"), r),
        expose: header_names(&raw.expose_headers, &format!("{path}.expose_headers"), r),
        credentials: raw.allow_credentials,
        max_age: raw.max_age.map_or(Duration::from_secs(600), |d| d.0),
    })
}

/// `Ok(None)` is `*`.
fn parse_origin(text: &str) -> Result<Option<OriginPattern>, String> {
    let t = text.trim().to_ascii_lowercase();
    if t == "*" {
        return Ok(None);
    }
    let bad = || {
        format!("bad origin `{text}`: expected `*`, `https://app.example.com` or `https://*.example.com`")
    };
    let (scheme, host) = t.split_once("://").ok_or_else(bad)?;
    if !matches!(scheme, "http" | "https") || host.is_empty() || host.contains('/') {
        return Err(bad());
    }
    match host.strip_prefix('*') {
        Some(suffix) if suffix.starts_with('.') && suffix.len() > 1 => {
            Ok(Some(OriginPattern::Wildcard {
                scheme: format!("{scheme}://"),
                suffix: suffix.to_string(),
            }))
        }
        Some(_) => Err(bad()),
        None => Ok(Some(OriginPattern::Exact(t.clone()))),
    }
}

fn header_names(list: &[String], path: &str, r: &mut Reporter) -> Vec<HeaderName> {
    list.iter()
        .filter_map(|h| match HeaderName::try_from(h.trim()) {
            Ok(n) => Some(n),
            Err(_) => {
                r.error(path, format!("bad header name `{h}`"));
                None
            }
        })
        .collect()
}

fn waf(
    raw: &super::raw::WafPolicyRaw,
    path: &str,
    ctx: &Context<'_>,
    r: &mut Reporter,
) -> Option<super::waf::Attached> {
    if raw.enabled == Some(false) {
        return None;
    }
    let Some(name) = &raw.rule_set else {
        r.error(
            path,
            "name a `rule_set` from `waf_rule_sets` in gatehouse.yaml",
        );
        return None;
    };
    let found = ctx.rule_sets.get(name).cloned();
    if found.is_none() {
        let known: Vec<&str> = ctx.rule_sets.keys().map(String::as_str).collect();
        r.error(
            &format!("{path}.rule_set"),
            format!(
                "unknown rule set `{name}`{}; rule sets are defined under `waf_rule_sets:` in gatehouse.yaml",
                super::de::did_you_mean(name, &known)
            ),
        );
    }
    let set = found?;
    let crs_tuning = match (&raw.crs, &set.crs) {
        (None, base) => base.as_ref().map(|c| c.tuning.clone()),
        (Some(own), Some(base)) => super::crs::route(own, base, &format!("{path}.crs"), r),
        (Some(_), None) => {
            r.error(
                &format!("{path}.crs"),
                format!("rule set `{name}` runs no CRS (give it `crs:` under `waf_rule_sets`)"),
            );
            None
        }
    };
    Some(super::waf::Attached { set, crs_tuning })
}

fn api_key(
    raw: &ApiKeyPolicyRaw,
    path: &str,
    ctx: &Context<'_>,
    r: &mut Reporter,
) -> Option<ApiKeyPolicy> {
    if raw.enabled == Some(false) {
        return None;
    }
    let header_text = raw.header.as_deref().unwrap_or("x-api-key");
    let Ok(header) = HeaderName::try_from(header_text) else {
        r.error(
            &format!("{path}.header"),
            format!("bad header name `{header_text}`"),
        );
        return None;
    };
    for (i, plan) in raw.plans.iter().enumerate() {
        if !ctx.plans.contains_key(plan) {
            let known: Vec<&str> = ctx.plans.keys().map(String::as_str).collect();
            r.error(
                &format!("{path}.plans[{i}]"),
                format!(
                    "unknown usage plan `{plan}`{}; plans are defined under `usage_plans:` in gatehouse.yaml",
                    super::de::did_you_mean(plan, &known)
                ),
            );
        }
    }
    Some(ApiKeyPolicy {
        header,
        plans: raw.plans.clone(),
    })
}

fn authorizer(raw: &AuthorizerRaw, path: &str, r: &mut Reporter) -> Option<Authorizer> {
    if raw.enabled == Some(false) {
        return None;
    }
    if !(raw.url.starts_with("http://") || raw.url.starts_with("https://")) {
        r.error(
            &format!("{path}.url"),
            format!("bad URL `{}`: expected http(s)://", raw.url),
        );
        return None;
    }
    let spec = raw.identity.as_deref().unwrap_or("header:authorization");
    let identity = match spec.split_once(':') {
        Some(("header", h)) => HeaderName::try_from(h.trim())
            .ok()
            .map(IdentitySource::Header),
        Some(("query", q)) if !q.trim().is_empty() => Some(IdentitySource::Query(q.trim().into())),
        Some(("cookie", c)) if !c.trim().is_empty() => {
            Some(IdentitySource::Cookie(c.trim().into()))
        }
        _ => None,
    };
    let Some(identity) = identity else {
        r.error(
            &format!("{path}.identity"),
            format!("bad identity source `{spec}`: expected `header:NAME`, `query:NAME` or `cookie:NAME`"),
        );
        return None;
    };
    Some(Authorizer {
        url: raw.url.clone(),
        identity,
        cache_ttl: raw.cache_ttl.map_or(Duration::from_secs(60), |d| d.0),
        timeout: raw.timeout.map_or(Duration::from_secs(1), |d| d.0),
    })
}

fn rate_limit(raw: &RateLimitRaw, path: &str, r: &mut Reporter) -> Option<RateLimit> {
    if raw.enabled == Some(false) {
        return None;
    }
    let Some(rate) = raw.rate.as_deref() else {
        r.error(
            path,
            "missing required field `rate` (like `5/s` or `100/min`)",
        );
        return None;
    };
    let (count, period) = match parse_rate(rate) {
        Ok(v) => v,
        Err(m) => {
            r.error(&format!("{path}.rate"), m);
            return None;
        }
    };
    let key = match raw.key.as_deref().unwrap_or("client_ip") {
        "client_ip" => RateKey::ClientIp,
        "route" => RateKey::Route,
        "api_key" => RateKey::ApiKey,
        "jwt_sub" => RateKey::JwtSubject,
        other => match other
            .strip_prefix("header:")
            .map(|h| HeaderName::try_from(h.trim()))
        {
            Some(Ok(h)) => RateKey::Header(h),
            _ => {
                r.error(
                    &format!("{path}.key"),
                    format!("bad key `{other}`: expected `client_ip`, `route`, `api_key`, `jwt_sub` or `header:NAME`"),
                );
                return None;
            }
        },
    };
    let burst = raw.burst.unwrap_or(count);
    if burst == 0 {
        r.error(&format!("{path}.burst"), "burst must be at least 1");
        return None;
    }
    Some(RateLimit {
        key,
        count,
        period,
        burst,
    })
}

/// `5/s`, `100/min`, `1000/hour`, `10000/day`.
pub fn parse_rate(text: &str) -> Result<(u32, Duration), String> {
    let bad = || format!("bad rate `{text}`: expected N/s, N/min, N/hour or N/day, like `5/s`");
    let (n, unit) = text.split_once('/').ok_or_else(bad)?;
    let count: u32 = n.trim().parse().map_err(|_| bad())?;
    if count == 0 {
        return Err(bad());
    }
    let period = match unit.trim() {
        "s" | "sec" | "second" => 1,
        "m" | "min" | "minute" => 60,
        "h" | "hour" => 3600,
        "d" | "day" => 86400,
        _ => return Err(bad()),
    };
    Ok((count, Duration::from_secs(period)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("5/s"), Ok((5, Duration::from_secs(1))));
        assert_eq!(parse_rate("100 / min"), Ok((100, Duration::from_secs(60))));
        assert!(parse_rate("0/s").is_err());
        assert!(parse_rate("5/fortnight").is_err());
        assert!(parse_rate("five/s").is_err());
    }

    #[test]
    fn origins() {
        assert_eq!(parse_origin("*"), Ok(None));
        assert_eq!(
            parse_origin("https://App.Example.com"),
            Ok(Some(OriginPattern::Exact("https://app.example.com".into())))
        );
        assert_eq!(
            parse_origin("https://*.example.com"),
            Ok(Some(OriginPattern::Wildcard {
                scheme: "https://".into(),
                suffix: ".example.com".into()
            }))
        );
        assert!(parse_origin("example.com").is_err());
        assert!(parse_origin("https://*example.com").is_err());
        assert!(parse_origin("https://a.com/path").is_err());
    }
}
