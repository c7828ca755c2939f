//! A mock SaaS on 127.0.0.1:0 (axum, in-process) that speaks each preset's
//! dialect over one shared set of records: Stripe, GitHub, Salesforce (with
//! an OAuth2 token endpoint), Slack, Zendesk and HubSpot, plus generic
//! offset/page endpoints and a cursor that loops. Tests insert and update
//! records between runs, queue faults (429 with Retry-After, 503), and read
//! back every request the flows made.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::Router;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub const TOKEN: &str = "saas-test-token";
pub const CLIENT_ID: &str = "flow-client";
pub const CLIENT_SECRET: &str = "flow-client-secret";

/// Seconds of 2026-11-01T00:00:00Z: record n is updated n minutes later.
pub const EPOCH: i64 = 1_793_491_200;

#[derive(Clone, Debug)]
pub struct Record {
    pub id: u64,
    pub name: String,
    pub amount: i64,
    pub status: &'static str,
    /// Unix seconds.
    pub updated: i64,
    /// More fields (an object, or null for none): nulls on whole pages,
    /// fields that appear late, empty objects.
    pub extra: Value,
}

impl Record {
    pub fn rfc3339(&self) -> String {
        chrono::DateTime::from_timestamp(self.updated, 0)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    /// Slack's `ts`: seconds with a six-digit fraction, unique per message.
    pub fn slack_ts(&self) -> f64 {
        format!("{}.{:06}", self.updated, self.id % 1_000_000)
            .parse()
            .unwrap()
    }

    pub fn json(&self) -> Value {
        let mut out = json!({
            "id": self.id,
            "name": self.name,
            "amount": self.amount,
            "status": self.status,
            "updated_at": self.rfc3339(),
            "updated": self.updated,
        });
        if let (Value::Object(out), Value::Object(extra)) = (&mut out, &self.extra) {
            out.extend(extra.clone());
        }
        out
    }
}

/// HubSpot's search serves this many results per query at most.
pub const HUBSPOT_MAX_RESULTS: usize = 10_000;

/// The time after `WHERE updated_at >=` (or `>`) in a SOQL query, in unix
/// seconds; None without a WHERE.
fn soql_since(q: &str) -> Result<Option<i64>, String> {
    let Some((_, condition)) = q.split_once(" WHERE ") else {
        return Ok(None);
    };
    let rest = condition
        .trim()
        .strip_prefix("updated_at")
        .ok_or("MALFORMED_QUERY: unknown field in WHERE")?
        .trim();
    let (inclusive, value) = match rest.strip_prefix(">=") {
        Some(v) => (true, v),
        None => (
            false,
            rest.strip_prefix('>')
                .ok_or("MALFORMED_QUERY: expected > or >=")?,
        ),
    };
    let value = value.split_whitespace().next().unwrap_or("");
    let at = chrono::DateTime::parse_from_rfc3339(value)
        .map_err(|_| format!("MALFORMED_QUERY: `{value}` is not a datetime literal"))?
        .timestamp();
    Ok(Some(if inclusive { at } else { at + 1 }))
}

#[derive(Clone, Debug)]
pub enum Fault {
    /// 429 with `Retry-After: secs`.
    TooMany(u64),
    /// 503.
    Unavailable,
}

/// A change at the source while a run reads it.
#[derive(Clone, Debug)]
pub enum Change {
    /// A new record, updated after every other.
    Insert,
    /// A record's amount changes and its update time moves past all others.
    Update { id: u64, amount: i64 },
    /// Not a change: the next request is answered 503.
    Fail,
}

#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Default)]
struct State {
    records: Vec<Record>,
    faults: VecDeque<Fault>,
    seen: Vec<Seen>,
    tokens_issued: u64,
    /// Of those, how many were asked for with the credentials in the form.
    tokens_for_form: u64,
    /// Changes to make once so many data requests have been answered.
    changes: Vec<(usize, Change)>,
    /// The latest update time of any record.
    latest: i64,
}

impl State {
    fn insert(&mut self) -> Record {
        let id = self.records.len() as u64 + 1;
        let updated = self.latest() + 60;
        let record = Record {
            id,
            name: format!("customer {id}"),
            amount: (id as i64 * 37) % 1000 - 100,
            status: if id.is_multiple_of(3) {
                "closed"
            } else {
                "open"
            },
            updated,
            extra: Value::Null,
        };
        self.records.push(record.clone());
        self.latest = updated;
        record
    }

    fn latest(&self) -> i64 {
        self.latest.max(EPOCH)
    }

    fn update(&mut self, id: u64, amount: i64) {
        let updated = self.latest() + 60;
        let r = self.records.iter_mut().find(|r| r.id == id).unwrap();
        r.amount = amount;
        r.updated = updated;
        self.latest = updated;
    }

    /// A change while a run reads: stamped with the time it happens, as a
    /// real source stamps a commit (later than any record so far).
    fn apply(&mut self, change: Change) {
        self.latest = self.latest().max(chrono::Utc::now().timestamp() - 60);
        match change {
            Change::Insert => {
                self.insert();
            }
            Change::Update { id, amount } => self.update(id, amount),
            Change::Fail => self.faults.push_front(Fault::Unavailable),
        }
    }
}

#[derive(Clone)]
pub struct Saas {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl Saas {
    pub async fn start(count: u64) -> Saas {
        let state = Arc::new(Mutex::new(State::default()));
        let saas = Saas {
            addr: "127.0.0.1:0".parse().unwrap(),
            state: state.clone(),
        };
        for _ in 0..count {
            saas.insert();
        }
        let app = Router::new()
            .route("/services/oauth2/token", post(token))
            .fallback(any(serve))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Saas { addr, ..saas }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A new record, updated after every other.
    pub fn insert(&self) -> Record {
        self.state.lock().unwrap().insert()
    }

    /// Changes a record's amount and moves its update time past all others.
    pub fn update(&self, id: u64, amount: i64) {
        self.state.lock().unwrap().update(id, amount)
    }

    /// Sets record `id`'s extra fields (an object; see `Record::extra`).
    pub fn set_extra(&self, id: u64, extra: Value) {
        let mut s = self.state.lock().unwrap();
        s.records.iter_mut().find(|r| r.id == id).unwrap().extra = extra;
    }

    /// Makes `change` once `answered` data requests have been answered,
    /// before the next is: a run sees the source change between its pages.
    pub fn during(&self, answered: usize, change: Change) {
        self.state.lock().unwrap().changes.push((answered, change));
    }

    pub fn records(&self) -> Vec<Record> {
        self.state.lock().unwrap().records.clone()
    }

    pub fn fault(&self, fault: Fault) {
        self.state.lock().unwrap().faults.push_back(fault);
    }

    /// Requests to data endpoints (not the token endpoint), in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn tokens_issued(&self) -> u64 {
        self.state.lock().unwrap().tokens_issued
    }

    pub fn tokens_for_form(&self) -> u64 {
        self.state.lock().unwrap().tokens_for_form
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// Client credentials in the form or (RFC 6749's preferred way) in a Basic
/// header.
async fn token(
    axum::extract::State(state): axum::extract::State<Arc<Mutex<State>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{CLIENT_ID}:{CLIENT_SECRET}")
        )
    );
    let in_header =
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(basic.as_str());
    let in_form = form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET);
    let ok = form.get("grant_type").map(String::as_str) == Some("client_credentials")
        && (in_header || in_form);
    if !ok {
        return error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let mut s = state.lock().unwrap();
    s.tokens_issued += 1;
    if in_form {
        s.tokens_for_form += 1;
    }
    drop(s);
    axum::Json(json!({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600}))
        .into_response()
}

async fn serve(
    axum::extract::State(state): axum::extract::State<Arc<Mutex<State>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query: HashMap<String, String> = uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if uri.path() == "/generic/slow" {
        // A slow API: runs of a flow on a 1-second schedule overlap ticks.
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    }
    let mut s = state.lock().unwrap();
    s.seen.push(Seen {
        method: method.clone(),
        path: uri.path().to_string(),
        query: query.clone(),
        headers: headers.clone(),
        body: body.clone(),
    });
    let answered = s.seen.len() - 1;
    let due: Vec<Change> = s
        .changes
        .iter()
        .filter(|(n, _)| *n == answered)
        .map(|(_, c)| c.clone())
        .collect();
    s.changes.retain(|(n, _)| *n != answered);
    for change in due {
        s.apply(change);
    }
    match s.faults.pop_front() {
        Some(Fault::TooMany(secs)) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", secs.to_string())],
                "slow down",
            )
                .into_response()
        }
        Some(Fault::Unavailable) => return error(StatusCode::SERVICE_UNAVAILABLE, "try again"),
        None => {}
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let bearer = auth == format!("Bearer {TOKEN}");
    let mut records = s.records.clone();
    records.sort_by_key(|r| (r.updated, r.id));
    let since = |from: Option<i64>| -> Vec<Record> {
        records
            .iter()
            .filter(|r| from.is_none_or(|f| r.updated >= f))
            .cloned()
            .collect()
    };
    let num = |k: &str| query.get(k).and_then(|v| v.parse::<i64>().ok());
    let rfc = |k: &str| {
        query
            .get(k)
            .and_then(|v| chrono::DateTime::parse_from_rfc3339(v).ok())
            .map(|t| t.timestamp())
    };
    let path = uri.path();
    match path {
        // Stripe: has_more, starting_after = the last id, created[gte].
        "/v1/customers" => {
            if !bearer {
                return error(StatusCode::UNAUTHORIZED, "bad key");
            }
            let all = since(num("created[gte]"));
            let start = match query.get("starting_after") {
                Some(after) => match all.iter().position(|r| r.id.to_string() == *after) {
                    Some(i) => i + 1,
                    None => return error(StatusCode::BAD_REQUEST, "no such object"),
                },
                None => 0,
            };
            let limit = num("limit").unwrap_or(10) as usize;
            let page: Vec<Value> = all
                .iter()
                .skip(start)
                .take(limit)
                .map(Record::json)
                .collect();
            let has_more = start + limit < all.len();
            axum::Json(json!({"object": "list", "data": page, "has_more": has_more}))
                .into_response()
        }
        // GitHub: a top-level array, Link rel="next", since.
        "/repos/acme/shop/issues" => {
            if !bearer {
                return error(StatusCode::UNAUTHORIZED, "Bad credentials");
            }
            let mut all = since(rfc("since"));
            // GitHub's order: `sort` created (default) or updated,
            // `direction` desc (default) or asc.
            match query.get("sort").map(String::as_str) {
                Some("updated") => all.sort_by_key(|r| (r.updated, r.id)),
                _ => all.sort_by_key(|r| r.id),
            }
            if query.get("direction").map(String::as_str) != Some("asc") {
                all.reverse();
            }
            let per_page = num("per_page").unwrap_or(30) as usize;
            let page = num("page").unwrap_or(1).max(1) as usize;
            let items: Vec<Value> = all
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(Record::json)
                .collect();
            let mut response = axum::Json(Value::Array(items)).into_response();
            if page * per_page < all.len() {
                let mut next = query.clone();
                next.insert("page".into(), (page + 1).to_string());
                let q: String = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(next.iter())
                    .finish();
                let host = headers
                    .get("host")
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("");
                let link = format!("<http://{host}{path}?{q}>; rel=\"next\", <http://{host}{path}?page=1>; rel=\"first\"");
                response.headers_mut().insert("link", link.parse().unwrap());
            }
            response
        }
        // Salesforce: records, done, nextRecordsUrl (relative).
        p if p.starts_with("/services/data/v59.0/query") => {
            if !bearer {
                return error(StatusCode::UNAUTHORIZED, "INVALID_SESSION_ID");
            }
            // The query API reads only the SOQL: `?since=` means nothing to
            // it. A `WHERE updated_at >= 2026-...Z` (or `>`) filters.
            let (from, offset) = match p.strip_prefix("/services/data/v59.0/query/") {
                Some(locator) => {
                    let (from, offset) = locator.split_once('_').unwrap();
                    let from = from.parse::<i64>().unwrap();
                    (
                        (from != i64::MIN).then_some(from),
                        offset.parse::<usize>().unwrap(),
                    )
                }
                None => match soql_since(query.get("q").map(String::as_str).unwrap_or("")) {
                    Ok(from) => (from, 0),
                    Err(why) => return error(StatusCode::BAD_REQUEST, &why),
                },
            };
            let all = since(from);
            let size = 4;
            let records: Vec<Value> = all
                .iter()
                .skip(offset)
                .take(size)
                .map(Record::json)
                .collect();
            let done = offset + size >= all.len();
            let mut out = json!({"totalSize": all.len(), "done": done, "records": records});
            if !done {
                out["nextRecordsUrl"] = format!(
                    "/services/data/v59.0/query/{}_{}",
                    from.unwrap_or(i64::MIN),
                    offset + size
                )
                .into();
            }
            axum::Json(out).into_response()
        }
        // Slack: messages, has_more, response_metadata.next_cursor, oldest.
        "/api/conversations.history" => {
            if !bearer {
                return axum::Json(json!({"ok": false, "error": "invalid_auth"})).into_response();
            }
            // `oldest` is exclusive and may have a fraction, as `ts` does.
            let oldest = query.get("oldest").map(|o| o.parse::<f64>().unwrap());
            let all: Vec<Record> = records
                .iter()
                .filter(|r| oldest.is_none_or(|o| r.slack_ts() > o))
                .cloned()
                .collect();
            let offset: usize = query
                .get("cursor")
                .map(|c| c.strip_prefix("c_").unwrap().parse().unwrap())
                .unwrap_or(0);
            let limit = num("limit").unwrap_or(5) as usize;
            let messages: Vec<Value> = all
                .iter()
                .skip(offset)
                .take(limit)
                .map(|r| {
                    let mut m = r.json();
                    m["ts"] = format!("{}.{:06}", r.updated, r.id % 1_000_000).into();
                    m
                })
                .collect();
            let has_more = offset + limit < all.len();
            let next = if has_more {
                format!("c_{}", offset + limit)
            } else {
                String::new()
            };
            axum::Json(
                json!({"ok": true, "messages": messages, "has_more": has_more,
                "response_metadata": {"next_cursor": next}}),
            )
            .into_response()
        }
        // Zendesk: tickets, after_cursor, end_of_stream, start_time; basic auth.
        "/api/v2/incremental/tickets/cursor.json" => {
            let expected = format!(
                "Basic {}",
                base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    "agent@acme.test/token:zd-secret"
                )
            );
            if auth != expected {
                return error(StatusCode::UNAUTHORIZED, "Couldn't authenticate you");
            }
            let all = since(num("start_time"));
            let offset: usize = query.get("cursor").map(|c| c.parse().unwrap()).unwrap_or(0);
            let size = 3;
            let tickets: Vec<Value> = all
                .iter()
                .skip(offset)
                .take(size)
                .map(Record::json)
                .collect();
            let end = offset + size >= all.len();
            axum::Json(
                json!({"tickets": tickets, "after_cursor": (offset + size).to_string(),
                "end_of_stream": end}),
            )
            .into_response()
        }
        // HubSpot search: POST, filter value in ms, `after` in the body.
        "/crm/v3/objects/contacts/search" => {
            if auth != format!("Bearer {TOKEN}") || method != Method::POST {
                return error(StatusCode::UNAUTHORIZED, "authentication required");
            }
            let from_ms = body
                .pointer("/filterGroups/0/filters/0/value")
                .and_then(|v| v.as_str())
                .and_then(|v| v.parse::<i64>().ok());
            let all = since(from_ms.map(|ms| ms / 1000));
            let after: usize = body
                .get("after")
                .and_then(|a| a.as_str())
                .map(|a| a.parse().unwrap())
                .unwrap_or(0);
            let limit = body.get("limit").and_then(|l| l.as_u64()).unwrap_or(10) as usize;
            if after >= HUBSPOT_MAX_RESULTS {
                // As HubSpot: a search serves 10,000 results at most.
                return error(
                    StatusCode::BAD_REQUEST,
                    "VALIDATION_ERROR: paging past 10000 results",
                );
            }
            let results: Vec<Value> = all
                .iter()
                .skip(after)
                .take(limit)
                .map(Record::json)
                .collect();
            let mut out = json!({"total": all.len(), "results": results});
            // `paging.next` even at the cap: HubSpot announces a page it
            // will then refuse.
            if after + limit < all.len() {
                out["paging"] = json!({"next": {"after": (after + limit).to_string()}});
            }
            axum::Json(out).into_response()
        }
        // Generic offset/limit (slowly, too).
        "/generic/items" | "/generic/slow" => {
            // `order=desc`: newest first, as many list APIs; an insert then
            // shifts every later page by one.
            if query.get("order").map(String::as_str) == Some("desc") {
                records.sort_by_key(|r| std::cmp::Reverse(r.id));
            }
            let offset = num("offset").unwrap_or(0) as usize;
            let limit = num("limit").unwrap_or(10) as usize;
            let items: Vec<Value> = records
                .iter()
                .skip(offset)
                .take(limit)
                .map(Record::json)
                .collect();
            axum::Json(json!({"items": items})).into_response()
        }
        // Generic page numbers.
        "/generic/pages" => {
            let page = num("page").unwrap_or(1).max(1) as usize;
            let size = num("per_page").unwrap_or(10) as usize;
            let items: Vec<Value> = records
                .iter()
                .skip((page - 1) * size)
                .take(size)
                .map(Record::json)
                .collect();
            axum::Json(json!({"items": items})).into_response()
        }
        // A broken API: a new page each time, but always the same cursor.
        "/generic/loop" => {
            let n = s.seen.len() as u64;
            axum::Json(json!({"items": [{"id": n}], "next": "same-cursor"})).into_response()
        }
        _ => error(StatusCode::NOT_FOUND, "no such endpoint"),
    }
}
