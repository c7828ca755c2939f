//! The keys API on the admin listener: create (the plain key is in the
//! answer, once), list, revoke, usage.

use crate::gateway::policy::quota::period_bounds;
use crate::gateway::State;
use crate::keys::{new_key, unix_now, KeyRecord};
use crate::store::StoreError;
use http::StatusCode;
use serde_json::{json, Value};

pub enum Request<'a> {
    List,
    Create(Value),
    Revoke(&'a str),
    Usage(&'a str),
}

/// Status and JSON body for a keys request.
pub async fn handle(state: &State, req: Request<'_>) -> (StatusCode, Value) {
    let store = state.keys.store();
    let result = match req {
        Request::List => store.list_keys().await.map(|keys| {
            let mut all: Vec<Value> = state
                .runtime
                .load()
                .config
                .api_keys
                .iter()
                .map(|k| describe(k, "config"))
                .collect();
            all.extend(keys.iter().map(|k| describe(k, "store")));
            (StatusCode::OK, json!({ "keys": all }))
        }),
        Request::Create(body) => create(state, &body).await,
        Request::Revoke(id) => revoke(state, id).await,
        Request::Usage(id) => usage(state, id).await,
    };
    match result {
        Ok(answer) => answer,
        Err(StoreError::NotFound(m)) => (
            StatusCode::NOT_FOUND,
            json!({ "message": m, "code": "NotFound" }),
        ),
        Err(StoreError::Conflict(m)) => (
            StatusCode::CONFLICT,
            json!({ "message": m, "code": "Conflict" }),
        ),
        Err(e @ StoreError::Unavailable(_)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "message": e.to_string(), "code": "ServiceUnavailable" }),
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "message": e.to_string(), "code": "InternalError" }),
        ),
    }
}

fn describe(k: &KeyRecord, source: &str) -> Value {
    json!({
        "id": k.id, "name": k.name, "plan": k.plan, "source": source,
        "created_at": k.created_at, "revoked_at": k.revoked_at,
    })
}

fn bad_request(message: &str) -> (StatusCode, Value) {
    (
        StatusCode::BAD_REQUEST,
        json!({ "message": message, "code": "BadRequest" }),
    )
}

async fn revoke(state: &State, id: &str) -> Result<(StatusCode, Value), StoreError> {
    let store = state.keys.store();
    let revoked = store.revoke_key(id, unix_now()).await?;
    let record = store.find(id).await?;
    if let Some(k) = &record {
        state.keys.forget(&k.hash);
    }
    Ok((
        StatusCode::OK,
        json!({ "id": record.map(|k| k.id), "revoked": revoked }),
    ))
}

async fn create(state: &State, body: &Value) -> Result<(StatusCode, Value), StoreError> {
    let Some(plan) = body.get("plan").and_then(Value::as_str) else {
        return Ok(bad_request("`plan` is required"));
    };
    if !state.runtime.load().config.usage_plans.contains_key(plan) {
        return Ok(bad_request(&format!("unknown usage plan `{plan}`")));
    }
    let new = new_key("", plan, unix_now()).map_err(|e| StoreError::Database(e.to_string()))?;
    let mut record = new.record;
    record.name = match body.get("name").and_then(Value::as_str) {
        Some(n) if !n.trim().is_empty() && n.len() <= 100 => n.trim().to_string(),
        Some(_) => return Ok(bad_request("`name` must be 1-100 characters")),
        None => format!("key-{}", record.id),
    };
    state.keys.store().insert_key(&record).await?;
    let mut answer = describe(&record, "store");
    answer["key"] = Value::String(new.plain);
    Ok((StatusCode::CREATED, answer))
}

async fn usage(state: &State, id: &str) -> Result<(StatusCode, Value), StoreError> {
    let runtime = state.runtime.load_full();
    let declared = runtime
        .config
        .api_keys
        .iter()
        .find(|k| k.id == id || k.name == id)
        .cloned();
    let stored = match declared {
        Some(_) => None,
        None => state.keys.store().find(id).await?,
    };
    let Some(key) = declared.or(stored) else {
        return Err(StoreError::NotFound(format!("no key `{id}`")));
    };
    let quota = runtime
        .config
        .usage_plans
        .get(&key.plan)
        .and_then(|p| p.quota);
    let Some(quota) = quota else {
        return Ok((
            StatusCode::OK,
            json!({ "id": key.id, "plan": key.plan, "quota": null }),
        ));
    };
    let now = unix_now();
    let (start, end) = period_bounds(quota.period, now);
    let used = state.keys.current_usage(&key.id, start).await;
    Ok((
        StatusCode::OK,
        json!({
            "id": key.id, "plan": key.plan, "limit": quota.limit, "used": used,
            "remaining": quota.limit.saturating_sub(used), "period_start": start, "resets_at": end,
        }),
    ))
}
