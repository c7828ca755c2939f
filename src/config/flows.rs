//! `flows/<id>.yaml` -> `FlowSpec`: every field checked, every problem
//! reported at its position, presets filled in under the user's fields.

use super::diagnostics::Reporter;
use super::flow_presets as presets;
use super::flow_raw::*;
use super::flow_spec::*;
use super::flow_tasks::{
    parse_format, CastTo, Check, Condition, MaskSpan, Operand, Operator, Task, Test,
};
use super::key_template::{check_template, DEFAULT_TEMPLATE};
use super::model::Messaging;
use super::policies::parse_rate;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

pub fn flow(
    id: &str,
    raw: FlowFile,
    messaging: Option<&Messaging>,
    r: &mut Reporter<'_>,
) -> Option<FlowSpec> {
    let before = r.count();
    let trigger = raw.trigger.unwrap_or_default();
    let schedule = trigger
        .schedule
        .as_deref()
        .and_then(|s| match parse_schedule(s) {
            Ok(s) => Some(s),
            Err(m) => {
                r.error("trigger.schedule", m);
                None
            }
        });
    let source = match raw.source {
        SourceRaw::Http(h) => http_source(*h, r).map(|h| Source::Http(Arc::new(h))),
        SourceRaw::Webhook(w) => Some(Source::Webhook { records: w.records }),
        SourceRaw::Queue(q) => queue_source(q, messaging, r).map(Source::Queue),
    };
    let tasks: Vec<Task> = raw
        .tasks
        .into_iter()
        .enumerate()
        .filter_map(|(i, t)| task(t, &format!("tasks[{i}]"), r))
        .collect();
    let destination = destination(raw.destination.unwrap_or_default(), r);
    if let (Some(after), Some(Source::Webhook { .. })) = (&trigger.after, &source) {
        r.error(
            "trigger.after",
            format!("a webhook flow runs on a body: it cannot run after `{after}`"),
        );
    }
    if trigger.after.as_deref() == Some(id) {
        r.error("trigger.after", "a flow cannot run after itself");
    }
    if let Some(events) = &raw.events {
        let declared: Vec<&str> = messaging
            .map(|m| m.topics.iter().map(|t| t.name.as_str()).collect())
            .unwrap_or_default();
        if messaging.is_none() {
            r.error(
                "events.topic",
                "flow events go to a topic: the messaging API is off",
            );
        } else if !declared.contains(&events.topic.as_str()) {
            r.error(
                "events.topic",
                format!(
                    "no topic `{}` is declared under `messaging.topics` in gatehouse.yaml{}",
                    events.topic,
                    super::de::did_you_mean(&events.topic, &declared)
                ),
            );
        }
    }
    if r.count() > before {
        return None;
    }
    Some(FlowSpec {
        id: id.to_string(),
        description: raw.description.unwrap_or_default(),
        enabled: raw.enabled.unwrap_or(true),
        schedule,
        deactivate_after_failures: trigger.deactivate_after_failures.unwrap_or(5),
        source: source?,
        tasks,
        destination: destination?,
        allow_private_network: raw.allow_private_network.unwrap_or(false),
        after: trigger.after,
        events_topic: raw.events.map(|e| e.topic),
    })
}

/// `trigger.after` names a flow, and following `after` from this flow never
/// comes back to it (a loop would run forever).
pub fn check_after(
    id: &str,
    flows: &std::collections::BTreeMap<String, Arc<FlowSpec>>,
    ids: &std::collections::BTreeSet<String>,
    r: &mut Reporter<'_>,
) {
    let Some(after) = flows.get(id).and_then(|f| f.after.clone()) else {
        return;
    };
    if !ids.contains(&after) {
        let known: Vec<&str> = ids.iter().map(String::as_str).collect();
        r.error(
            "trigger.after",
            format!(
                "no flow `{after}` in flows/{}",
                super::de::did_you_mean(&after, &known)
            ),
        );
        return;
    }
    let mut chain = vec![id.to_string()];
    let mut next = Some(after);
    while let Some(flow) = next {
        if flow == id {
            chain.push(flow);
            r.error(
                "trigger.after",
                format!(
                    "these flows trigger each other in a loop: {}",
                    chain.join(" -> ")
                ),
            );
            return;
        }
        if chain.contains(&flow) || chain.len() > flows.len() {
            return;
        }
        next = flows.get(&flow).and_then(|f| f.after.clone());
        chain.push(flow);
    }
}

/// `rate(5 minutes)` or a six-field cron expression (seconds first).
pub fn parse_schedule(text: &str) -> Result<Schedule, String> {
    let text = text.trim();
    if let Some(inner) = text.strip_prefix("rate(").and_then(|t| t.strip_suffix(')')) {
        let (n, unit) = inner
            .trim()
            .split_once(' ')
            .ok_or_else(|| format!("bad rate `{text}`: expected rate(5 minutes)"))?;
        let n: u64 = n
            .parse()
            .map_err(|_| format!("bad rate `{text}`: the count must be a positive integer"))?;
        let unit_secs = match unit.trim() {
            "second" | "seconds" => 1,
            "minute" | "minutes" => 60,
            "hour" | "hours" => 3600,
            "day" | "days" => 86_400,
            other => {
                return Err(format!(
                    "bad rate unit `{other}`: seconds, minutes, hours or days"
                ))
            }
        };
        if n == 0 {
            return Err("the rate must be at least 1".into());
        }
        return Ok(Schedule::Every(Duration::from_secs(n * unit_secs)));
    }
    let fields = text.split_whitespace().count();
    if fields != 6 {
        return Err(format!(
            "cron expressions here have six fields, seconds first (`0 */5 * * * *`); `{text}` has {fields}"
        ));
    }
    tokio_cron_scheduler::Job::new_async(text, |_, _| Box::pin(async {}))
        .map_err(|e| format!("bad cron expression `{text}`: {e}"))?;
    Ok(Schedule::Cron(text.to_string()))
}

fn queue_source(
    raw: QueueSourceRaw,
    messaging: Option<&Messaging>,
    r: &mut Reporter<'_>,
) -> Option<QueueSource> {
    let Some(messaging) = messaging else {
        r.error(
            "source.queue",
            "the queue source needs the messaging API (messaging.enabled is false)",
        );
        return None;
    };
    let declared: Vec<&str> = messaging.queues.iter().map(|q| q.name.as_str()).collect();
    if !declared.contains(&raw.queue.as_str()) {
        r.error(
            "source.queue.queue",
            format!(
                "no queue `{}` is declared under `messaging.queues` in gatehouse.yaml{}",
                raw.queue,
                super::de::did_you_mean(&raw.queue, &declared)
            ),
        );
        return None;
    }
    if raw.queue.ends_with(".fifo") {
        r.error(
            "source.queue.queue",
            "FIFO queues are not a flow source yet: a run reads out of group order",
        );
        return None;
    }
    let visibility = raw
        .visibility_timeout
        .map_or(Duration::from_secs(900), |d| d.0);
    if visibility.is_zero() || visibility > Duration::from_secs(43_200) {
        r.error(
            "source.queue.visibility_timeout",
            "between 1s and 12h (SQS's limit)",
        );
        return None;
    }
    let max_messages = raw.max_messages.unwrap_or(100_000);
    if max_messages == 0 {
        r.error("source.queue.max_messages", "at least 1");
        return None;
    }
    Some(QueueSource {
        queue: raw.queue,
        max_messages,
        visibility_timeout: visibility.as_secs() as u32,
    })
}

fn http_source(raw: HttpSourceRaw, r: &mut Reporter<'_>) -> Option<HttpSource> {
    let raw = match raw.preset.clone().as_deref() {
        None => raw,
        Some(name) => match presets::apply(name, raw) {
            Ok(merged) => merged,
            Err(m) => {
                r.error("source.http.preset", m);
                return None;
            }
        },
    };
    let p = "source.http";
    let Some(base) = raw.base_url.clone() else {
        r.error(p, "missing `base_url`");
        return None;
    };
    let url = format!(
        "{}{}",
        base.trim_end_matches('/'),
        raw.path.clone().unwrap_or_default()
    );
    match url::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        _ => r.error(
            &format!("{p}.base_url"),
            format!("`{url}` is not an http(s) URL"),
        ),
    }
    let method = match raw
        .method
        .as_deref()
        .unwrap_or("GET")
        .to_ascii_uppercase()
        .parse::<http::Method>()
    {
        Ok(m) => m,
        Err(_) => {
            r.error(&format!("{p}.method"), "not an HTTP method");
            http::Method::GET
        }
    };
    let auth = match raw.auth {
        None => Auth::None,
        Some(AuthRaw::Bearer(t)) => Auth::Bearer(t),
        Some(AuthRaw::Basic(b)) => Auth::Basic {
            username: b.username,
            password: b.password,
        },
        Some(AuthRaw::ApiKey(k)) => match (k.header, k.query) {
            (Some(header), None) => Auth::HeaderKey {
                header,
                value: format!("{}{}", k.prefix.unwrap_or_default(), k.value),
            },
            (None, Some(param)) => Auth::QueryKey {
                param,
                value: k.value,
            },
            _ => {
                r.error(
                    &format!("{p}.auth.api_key"),
                    "set exactly one of `header` and `query`",
                );
                Auth::None
            }
        },
        Some(AuthRaw::Oauth2(o)) => Auth::OAuth2 {
            in_body: match o.client_auth.as_deref().unwrap_or("basic") {
                "basic" => false,
                "body" => true,
                other => {
                    r.error(
                        &format!("{p}.auth.oauth2.client_auth"),
                        format!("unknown client_auth `{other}`: basic or body"),
                    );
                    false
                }
            },
            token_url: o.token_url,
            client_id: o.client_id,
            client_secret: o.client_secret,
            scopes: o.scopes,
        },
    };
    let raw_pagination = raw.pagination.unwrap_or_default();
    let max_results = raw_pagination.max_results;
    let pagination = pagination(raw_pagination, &format!("{p}.pagination"), r);
    let incremental = raw
        .incremental
        .and_then(|i| incremental(i, &format!("{p}.incremental"), r));
    if let Some(inc) = &incremental {
        if inc.inject == Inject::Template && !has_placeholder(&raw.query, &raw.headers, &raw.body) {
            r.error(
                &format!("{p}.incremental.inject"),
                format!(
                    "`{WATERMARK_PLACEHOLDER}` appears in no query value, header or body text: put it where the source takes the watermark, e.g. a SOQL `q: SELECT Id FROM Account WHERE SystemModstamp >= {WATERMARK_PLACEHOLDER}`"
                ),
            );
        }
    }
    if max_results.is_some() && incremental.is_none() {
        r.error(
            &format!("{p}.pagination.max_results"),
            "`max_results` starts the query again from the watermark: it needs `incremental`",
        );
    }
    let rate_limit = raw.rate_limit.as_deref().and_then(|t| match parse_rate(t) {
        Ok(rate) => Some(rate),
        Err(m) => {
            r.error(&format!("{p}.rate_limit"), m);
            None
        }
    });
    Some(HttpSource {
        url,
        method,
        query: raw.query.into_iter().collect(),
        headers: raw.headers.into_iter().collect(),
        body: raw.body,
        records: raw.records.filter(|r| r != "."),
        auth,
        pagination: pagination?,
        incremental,
        id: raw.id,
        total: raw.total,
        max_results: max_results.filter(|&n| n > 0),
        rate_limit,
        timeout: raw.timeout.map_or(Duration::from_secs(30), |d| d.0),
        max_retries: raw.max_retries.unwrap_or(5),
        retry_base_delay: raw
            .retry_base_delay
            .map_or(Duration::from_millis(500), |d| d.0),
        retry_max_delay: raw.retry_max_delay.map_or(Duration::from_secs(30), |d| d.0),
        max_pages: raw.max_pages.unwrap_or(100_000),
    })
}

fn pagination(raw: PaginationRaw, p: &str, r: &mut Reporter<'_>) -> Option<Pagination> {
    let stop = match (raw.stop_field, raw.stop_value) {
        (Some(field), Some(value)) => Some(Stop { field, value }),
        (None, None) => None,
        _ => {
            r.error(p, "`stop_field` and `stop_value` go together");
            None
        }
    };
    let need = |name: &str, v: Option<String>, r: &mut Reporter<'_>| {
        v.or_else(|| {
            r.error(p, format!("this pagination kind needs `{name}`"));
            None
        })
    };
    let kind = raw.kind.as_deref().unwrap_or("none");
    Some(match kind {
        "none" => Pagination::None,
        "cursor" => {
            if raw.from.is_none() && raw.from_last_record.is_none() {
                r.error(
                    p,
                    "cursor pagination needs `from` (a body path) or `from_last_record`",
                );
                return None;
            }
            Pagination::Cursor {
                from: raw.from,
                from_last_record: raw.from_last_record,
                param: need("param", raw.param, r)?,
                stop,
            }
        }
        "next_url" => Pagination::NextUrl {
            from: need("from", raw.from, r)?,
            stop,
        },
        "link_header" => Pagination::LinkHeader,
        "offset" => Pagination::Offset {
            param: need("param", raw.param, r)?,
            size_param: need("size_param", raw.size_param, r)?,
            size: raw.size.unwrap_or(100).max(1),
        },
        "page" => Pagination::Page {
            param: need("param", raw.param, r)?,
            start: raw.start.unwrap_or(1),
            size_param: raw.size_param,
            size: raw.size,
        },
        other => {
            r.error(
                &format!("{p}.kind"),
                format!("unknown pagination `{other}`: cursor, next_url, link_header, offset, page or none"),
            );
            return None;
        }
    })
}

fn incremental(raw: IncrementalRaw, p: &str, r: &mut Reporter<'_>) -> Option<Incremental> {
    let kind = match raw.kind.as_deref().unwrap_or("datetime") {
        "datetime" => WatermarkKind::DateTime,
        "integer" => WatermarkKind::Integer,
        other => {
            r.error(
                &format!("{p}.type"),
                format!("unknown type `{other}`: datetime or integer"),
            );
            return None;
        }
    };
    let inject = match raw.inject.split_once(':') {
        Some(("query", name)) if !name.is_empty() => Inject::Query(name.into()),
        Some(("header", name)) if !name.is_empty() => Inject::Header(name.into()),
        Some(("body", path)) if !path.is_empty() => Inject::Body(path.into()),
        None if raw.inject == "template" => Inject::Template,
        _ => {
            r.error(
                &format!("{p}.inject"),
                "expected `query:NAME`, `header:NAME`, `body:PATH` or `template`",
            );
            return None;
        }
    };
    let Some(field) = raw.field else {
        r.error(
            p,
            "`field` is missing: the record field that orders changes",
        );
        return None;
    };
    let format = match raw.format.as_deref().unwrap_or("rfc3339") {
        "rfc3339" => TimeFormat::Rfc3339,
        "unix" => TimeFormat::Unix,
        "unix_ms" => TimeFormat::UnixMillis,
        "unix_float" => TimeFormat::UnixFloat,
        pattern if pattern.contains('%') => TimeFormat::Pattern(pattern.into()),
        other => {
            r.error(
                &format!("{p}.format"),
                format!("unknown format `{other}`: rfc3339, unix, unix_ms, unix_float or a strftime pattern"),
            );
            return None;
        }
    };
    let lookback = match (kind, raw.lookback.as_deref()) {
        (WatermarkKind::DateTime, None) => Lookback::Time(Duration::ZERO),
        (WatermarkKind::Integer, None) => Lookback::Count(0),
        (WatermarkKind::DateTime, Some(t)) => match super::units::parse_duration(t) {
            Ok(d) => Lookback::Time(d),
            Err(m) => {
                r.error(&format!("{p}.lookback"), m);
                return None;
            }
        },
        (WatermarkKind::Integer, Some(t)) => match t.parse::<i64>() {
            Ok(n) if n >= 0 => Lookback::Count(n),
            _ => {
                r.error(
                    &format!("{p}.lookback"),
                    "an integer watermark's lookback is a count",
                );
                return None;
            }
        },
    };
    let first_run = match raw.first_run.as_deref().map(str::trim) {
        None => Some(Duration::from_secs(30 * 86_400)),
        Some("all") => None,
        Some(text) => match super::units::parse_duration(text) {
            Ok(d) => Some(d),
            Err(why) => {
                r.error(
                    &format!("{p}.first_run"),
                    format!("{why}, or `all` to read everything the first time"),
                );
                return None;
            }
        },
    };
    Some(Incremental {
        field,
        kind,
        inject,
        format,
        first_run,
        lookback,
    })
}

fn task(raw: TaskRaw, p: &str, r: &mut Reporter<'_>) -> Option<Task> {
    Some(match raw {
        TaskRaw::Map(pairs) => {
            if pairs.is_empty() {
                r.error(p, "`map` needs at least one `target: source` pair");
                return None;
            }
            Task::Map(pairs.into_iter().collect())
        }
        TaskRaw::MapAll(renames) => Task::MapAll(renames.into_iter().collect()),
        TaskRaw::Merge(m) => match parse_format(&m.format) {
            Ok(pieces) => Task::Merge {
                into: m.into,
                pieces,
            },
            Err(e) => {
                r.error(&format!("{p}.merge.format"), e);
                return None;
            }
        },
        TaskRaw::Mask(m) => {
            let span = match (m.first, m.last, m.keep_last) {
                (None, None, None) => MaskSpan::All,
                (Some(n), None, None) => MaskSpan::First(n),
                (None, Some(n), None) => MaskSpan::Last(n),
                (None, None, Some(n)) => MaskSpan::KeepLast(n),
                _ => {
                    r.error(
                        &format!("{p}.mask"),
                        "set at most one of `first`, `last`, `keep_last`",
                    );
                    return None;
                }
            };
            let with = m.with.as_deref().unwrap_or("*");
            let mut chars = with.chars();
            let (Some(c), None) = (chars.next(), chars.next()) else {
                r.error(&format!("{p}.mask.with"), "one character");
                return None;
            };
            Task::Mask {
                field: m.field,
                span,
                with: c,
            }
        }
        TaskRaw::Truncate(t) => Task::Truncate {
            field: t.field,
            length: t.length,
        },
        TaskRaw::Arithmetic(a) => {
            let op = match a.op.as_str() {
                "add" => Operator::Add,
                "subtract" => Operator::Subtract,
                "multiply" => Operator::Multiply,
                "divide" => Operator::Divide,
                other => {
                    r.error(
                        &format!("{p}.arithmetic.op"),
                        format!("unknown op `{other}`: add, subtract, multiply, divide"),
                    );
                    return None;
                }
            };
            let operand = |v: Value, side: &str, r: &mut Reporter<'_>| match v {
                Value::Number(n) => n.as_f64().map(Operand::Number),
                Value::String(s) => Some(Operand::Field(s)),
                _ => {
                    r.error(
                        &format!("{p}.arithmetic.{side}"),
                        "a field name or a number",
                    );
                    None
                }
            };
            Task::Arithmetic {
                into: a.into,
                left: operand(a.left, "left", r)?,
                op,
                right: operand(a.right, "right", r)?,
            }
        }
        TaskRaw::Cast(c) => {
            let to = match c.to.as_str() {
                "string" => CastTo::String,
                "integer" => CastTo::Integer,
                "decimal" => CastTo::Decimal,
                "boolean" => CastTo::Boolean,
                "timestamp" => CastTo::Timestamp,
                other => {
                    r.error(
                        &format!("{p}.cast.to"),
                        format!(
                            "unknown type `{other}`: string, integer, decimal, boolean, timestamp"
                        ),
                    );
                    return None;
                }
            };
            Task::Cast {
                field: c.field,
                to,
                format: c.format,
            }
        }
        TaskRaw::Default(d) => Task::Default {
            field: d.field,
            value: d.value,
        },
        TaskRaw::Filter(c) => Task::Filter(condition(*c, &format!("{p}.filter"), r)?),
        TaskRaw::Validate(v) => {
            let check = match v.check.as_str() {
                "non_null" => Check::NonNull,
                "non_zero" => Check::NonZero,
                "non_negative" => Check::NonNegative,
                "numeric" => Check::Numeric,
                "matches" => match v.pattern.as_deref().map(regex::Regex::new) {
                    Some(Ok(re)) => Check::Matches(Pattern(re)),
                    Some(Err(e)) => {
                        r.error(&format!("{p}.validate.pattern"), format!("bad regex: {e}"));
                        return None;
                    }
                    None => {
                        r.error(&format!("{p}.validate"), "`matches` needs `pattern`");
                        return None;
                    }
                },
                other => {
                    r.error(&format!("{p}.validate.check"), format!("unknown check `{other}`: non_null, non_zero, non_negative, numeric, matches"));
                    return None;
                }
            };
            let fail_run = match v.action.as_deref().unwrap_or("drop") {
                "drop" => false,
                "fail" => true,
                other => {
                    r.error(
                        &format!("{p}.validate.action"),
                        format!("unknown action `{other}`: drop or fail"),
                    );
                    return None;
                }
            };
            Task::Validate {
                field: v.field,
                check,
                fail_run,
            }
        }
    })
}

fn condition(raw: ConditionRaw, p: &str, r: &mut Reporter<'_>) -> Option<Condition> {
    if let Some(all) = raw.all {
        return all
            .into_iter()
            .enumerate()
            .map(|(i, c)| condition(c, &format!("{p}.all[{i}]"), r))
            .collect::<Option<Vec<_>>>()
            .map(Condition::All);
    }
    if let Some(any) = raw.any {
        return any
            .into_iter()
            .enumerate()
            .map(|(i, c)| condition(c, &format!("{p}.any[{i}]"), r))
            .collect::<Option<Vec<_>>>()
            .map(Condition::Any);
    }
    let Some(field) = raw.field else {
        r.error(
            p,
            "a condition needs `field` and one operator, or `all` / `any`",
        );
        return None;
    };
    let mut tests = Vec::new();
    if let Some(v) = raw.equals {
        tests.push(Test::Equals(v));
    }
    if let Some(v) = raw.not_equals {
        tests.push(Test::NotEquals(v));
    }
    if let Some(v) = raw.contains {
        tests.push(Test::Contains(v));
    }
    if let Some(v) = raw.greater_than {
        tests.push(Test::GreaterThan(v));
    }
    if let Some(v) = raw.greater_or_equal {
        tests.push(Test::GreaterOrEqual(v));
    }
    if let Some(v) = raw.less_than {
        tests.push(Test::LessThan(v));
    }
    if let Some(v) = raw.less_or_equal {
        tests.push(Test::LessOrEqual(v));
    }
    if let Some(v) = raw.between {
        match <[Value; 2]>::try_from(v) {
            Ok([low, high]) => tests.push(Test::Between(low, high)),
            Err(_) => {
                r.error(&format!("{p}.between"), "`between` takes [low, high]");
                return None;
            }
        }
    }
    if let Some(v) = raw.one_of {
        tests.push(Test::In(v));
    }
    if let Some(v) = raw.exists {
        tests.push(Test::Exists(v));
    }
    if let Some(v) = raw.regex {
        match regex::Regex::new(&v) {
            Ok(re) => tests.push(Test::Regex(Pattern(re))),
            Err(e) => {
                r.error(&format!("{p}.regex"), format!("bad regex: {e}"));
                return None;
            }
        }
    }
    if tests.len() != 1 {
        r.error(p, format!("a condition on `{field}` needs exactly one operator (equals, not_equals, contains, greater_than, greater_or_equal, less_than, less_or_equal, between, in, exists, regex); it has {}", tests.len()));
        return None;
    }
    Some(Condition::Field {
        field,
        test: tests.remove(0),
    })
}

fn destination(raw: DestinationRaw, r: &mut Reporter<'_>) -> Option<Destination> {
    let p = "destination";
    let url = raw.url.unwrap_or_else(|| "file://".into());
    if !(url.starts_with("file://") || url.starts_with("s3://") || url.starts_with("memory://")) {
        r.error(
            &format!("{p}.url"),
            "use file://, file:///absolute/path, s3://bucket/prefix or memory://",
        );
    }
    if url.split('/').any(|s| s == "..") {
        r.error(
            &format!("{p}.url"),
            "`..` is not allowed in the destination",
        );
    }
    let key = raw.key.unwrap_or_else(|| DEFAULT_TEMPLATE.to_string());
    if let Some(m) = check_template(&key) {
        r.error(&format!("{p}.key"), m);
    }
    let format = match raw.format.as_deref().unwrap_or("jsonl") {
        "jsonl" | "json_lines" => Format::JsonLines,
        "csv" => Format::Csv,
        "parquet" => Format::Parquet,
        other => {
            r.error(
                &format!("{p}.format"),
                format!("unknown format `{other}`: jsonl, csv or parquet"),
            );
            return None;
        }
    };
    let compression = match raw.compression.as_deref().unwrap_or("none") {
        "none" => Compression::None,
        "gzip" => Compression::Gzip,
        "zstd" => Compression::Zstd,
        other => {
            r.error(
                &format!("{p}.compression"),
                format!("unknown compression `{other}`: none, gzip or zstd"),
            );
            return None;
        }
    };
    if format == Format::Parquet && compression != Compression::None {
        r.error(
            &format!("{p}.compression"),
            "Parquet files compress their own pages (snappy); leave `compression` out",
        );
    }
    let schema = match raw.schema {
        None => None,
        Some(_) if format != Format::Parquet => {
            r.error(&format!("{p}.schema"), "`schema` is for format parquet");
            None
        }
        Some(columns) => Some(parquet_schema(&columns, &format!("{p}.schema"), r)?),
    };
    let s3 = match (raw.s3, url.strip_prefix("s3://")) {
        (None, Some(rest)) => {
            check_s3(rest, Default::default(), p, r);
            Default::default()
        }
        (None, None) => Default::default(),
        (Some(_), None) => {
            r.error(&format!("{p}.s3"), "`s3` is for an s3:// url");
            Default::default()
        }
        (Some(options), Some(rest)) => check_s3(rest, options, p, r),
    };
    Some(Destination {
        url,
        format,
        compression,
        key,
        max_file_size: raw.max_file_size.map_or(64 << 20, |b| b.0.max(1024)),
        s3,
        schema,
    })
}

/// The S3 options of `s3://BUCKET/prefix`, checked (`s3_options.rs`).
fn check_s3(
    rest: &str,
    options: std::collections::BTreeMap<String, Value>,
    p: &str,
    r: &mut Reporter<'_>,
) -> std::collections::BTreeMap<String, String> {
    let bucket = rest.split('/').next().unwrap_or("");
    if bucket.is_empty() {
        r.error(&format!("{p}.url"), "name the bucket: s3://bucket/prefix");
        return Default::default();
    }
    match super::s3_options::check(bucket, options) {
        Ok(options) => options,
        Err((key, message)) => {
            let at = if key.is_empty() {
                format!("{p}.s3")
            } else {
                format!("{p}.s3.{key}")
            };
            r.error(&at, message);
            Default::default()
        }
    }
}

/// Whether `{watermark}` is somewhere an `inject: template` can replace it.
fn has_placeholder(
    query: &std::collections::BTreeMap<String, String>,
    headers: &std::collections::BTreeMap<String, String>,
    body: &Option<serde_json::Value>,
) -> bool {
    fn in_json(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::String(s) => s.contains(WATERMARK_PLACEHOLDER),
            serde_json::Value::Array(items) => items.iter().any(in_json),
            serde_json::Value::Object(map) => map.values().any(in_json),
            _ => false,
        }
    }
    query
        .values()
        .chain(headers.values())
        .any(|v| v.contains(WATERMARK_PLACEHOLDER))
        || body.as_ref().is_some_and(in_json)
}

/// A declared Parquet schema (`parquet_schema.rs`), errors at their column.
fn parquet_schema(
    columns: &std::collections::BTreeMap<String, super::parquet_schema::ColumnRaw>,
    path: &str,
    r: &mut Reporter<'_>,
) -> Option<arrow_schema::SchemaRef> {
    match super::parquet_schema::parse(columns) {
        Ok(schema) => Some(schema),
        Err((column, message)) if column.is_empty() => {
            r.error(path, message);
            None
        }
        Err((column, message)) => {
            r.error(&format!("{path}.{column}"), message);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        assert_eq!(
            parse_schedule("rate(5 minutes)"),
            Ok(Schedule::Every(Duration::from_secs(300)))
        );
        assert_eq!(
            parse_schedule("0 */5 * * * *"),
            Ok(Schedule::Cron("0 */5 * * * *".into()))
        );
        assert!(parse_schedule("*/5 * * * *")
            .unwrap_err()
            .contains("six fields"));
        assert!(parse_schedule("0 99 * * * *")
            .unwrap_err()
            .contains("bad cron"));
        assert!(parse_schedule("rate(0 minutes)").is_err());
        assert!(parse_schedule("rate(5 fortnights)")
            .unwrap_err()
            .contains("unit"));
    }
}
