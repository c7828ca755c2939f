//! Presets: documented settings of the generic HTTP connector for known
//! SaaS APIs. A preset only fills what the flow file leaves unset, so every
//! part of it can be overridden; there is no preset-specific code path.

use super::flow_raw::{HttpSourceRaw, PaginationRaw};
use serde_json::json;

pub const NAMES: [&str; 6] = [
    "salesforce",
    "slack",
    "zendesk",
    "stripe",
    "github",
    "hubspot",
];

struct Preset {
    base_url: Option<&'static str>,
    path: Option<&'static str>,
    records: &'static str,
    pagination: PaginationRaw,
    /// Where an incremental watermark goes, and how it is written.
    inject: &'static str,
    format: &'static str,
    /// The field that orders changes, and the one that identifies a record.
    field: &'static str,
    id: &'static str,
    /// Where the response has the query's total count.
    total: Option<&'static str>,
    /// A search API's method and body (given whether the flow is
    /// incremental).
    search: Option<fn(bool) -> serde_json::Value>,
}

/// HubSpot's CRM search: sorted by modification time, from the watermark
/// (GTE: records modified in the same millisecond as the watermark are
/// read again, and written once per run by their id).
fn hubspot_search(incremental: bool) -> serde_json::Value {
    let mut body = json!({
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "limit": 100,
    });
    if incremental {
        body["filterGroups"] = json!([{"filters": [{
            "propertyName": "lastmodifieddate",
            "operator": "GTE",
            "value": "{watermark}",
        }]}]);
    }
    body
}

fn preset(name: &str) -> Option<Preset> {
    let p = |kind: &str| PaginationRaw {
        kind: Some(kind.into()),
        ..Default::default()
    };
    Some(match name {
        // Query API: GET /services/data/vXX.X/query?q=SOQL; then
        // nextRecordsUrl until done. The API takes no `since`: the
        // watermark goes into the SOQL's WHERE, where the flow writes
        // `{watermark}` (SOQL datetimes are unquoted RFC 3339).
        "salesforce" => Preset {
            base_url: None,
            path: Some("/services/data/v59.0/query"),
            records: "records",
            pagination: PaginationRaw {
                from: Some("nextRecordsUrl".into()),
                stop_field: Some("done".into()),
                stop_value: Some(json!(true)),
                ..p("next_url")
            },
            inject: "template",
            format: "rfc3339",
            field: "SystemModstamp",
            id: "Id",
            total: Some("totalSize"),
            search: None,
        },
        // conversations.history: response_metadata.next_cursor, `oldest` in unix seconds.
        "slack" => Preset {
            base_url: Some("https://slack.com/api"),
            path: Some("/conversations.history"),
            records: "messages",
            pagination: PaginationRaw {
                from: Some("response_metadata.next_cursor".into()),
                param: Some("cursor".into()),
                stop_field: Some("has_more".into()),
                stop_value: Some(json!(false)),
                ..p("cursor")
            },
            inject: "query:oldest",
            // `ts` is "1700000000.000200": seconds with a fraction.
            format: "unix_float",
            field: "ts",
            id: "ts",
            total: None,
            search: None,
        },
        // Incremental cursor export: after_cursor until end_of_stream.
        "zendesk" => Preset {
            base_url: None,
            path: Some("/api/v2/incremental/tickets/cursor.json"),
            records: "tickets",
            pagination: PaginationRaw {
                from: Some("after_cursor".into()),
                param: Some("cursor".into()),
                stop_field: Some("end_of_stream".into()),
                stop_value: Some(json!(true)),
                ..p("cursor")
            },
            inject: "query:start_time",
            format: "unix",
            field: "updated_at",
            id: "id",
            total: None,
            search: None,
        },
        // List APIs: has_more, starting_after = the last object's id.
        "stripe" => Preset {
            base_url: Some("https://api.stripe.com"),
            path: None,
            records: "data",
            pagination: PaginationRaw {
                from_last_record: Some("id".into()),
                param: Some("starting_after".into()),
                stop_field: Some("has_more".into()),
                stop_value: Some(json!(false)),
                ..p("cursor")
            },
            inject: "query:created[gte]",
            format: "unix",
            field: "created",
            id: "id",
            total: None,
            search: None,
        },
        // REST: a top-level array, Link rel="next", `since` in ISO 8601.
        "github" => Preset {
            base_url: Some("https://api.github.com"),
            path: None,
            records: ".",
            pagination: p("link_header"),
            inject: "query:since",
            format: "rfc3339",
            field: "updated_at",
            id: "id",
            total: None,
            search: None,
        },
        // CRM v3 search (POST .../search): paging.next.after, sent back in
        // the body as `after`. A search serves 10,000 results at most:
        // there it starts again from the highest `updatedAt` read.
        "hubspot" => Preset {
            base_url: Some("https://api.hubapi.com"),
            path: Some("/crm/v3/objects/contacts/search"),
            records: "results",
            pagination: PaginationRaw {
                from: Some("paging.next.after".into()),
                param: Some("body:after".into()),
                max_results: Some(10_000),
                ..p("cursor")
            },
            inject: "template",
            format: "unix_ms",
            field: "updatedAt",
            id: "id",
            total: Some("total"),
            search: Some(hubspot_search),
        },
        _ => return None,
    })
}

/// Fills what `raw` leaves unset from the preset.
pub fn apply(name: &str, mut raw: HttpSourceRaw) -> Result<HttpSourceRaw, String> {
    let Some(preset) = preset(name) else {
        return Err(format!(
            "unknown preset `{name}`; known: {}",
            NAMES.join(", ")
        ));
    };
    if raw.base_url.is_none() {
        raw.base_url = preset.base_url.map(str::to_string);
    }
    if raw.path.is_none() {
        raw.path = preset.path.map(str::to_string);
    }
    raw.records
        .get_or_insert_with(|| preset.records.to_string());
    if raw.pagination.is_none() {
        raw.pagination = Some(preset.pagination);
    }
    if let Some(search) = preset.search {
        raw.method.get_or_insert_with(|| "POST".to_string());
        let incremental = raw.incremental.is_some();
        raw.body.get_or_insert_with(|| search(incremental));
    }
    raw.id.get_or_insert_with(|| preset.id.to_string());
    if raw.total.is_none() {
        raw.total = preset.total.map(str::to_string);
    }
    if let Some(inc) = raw.incremental.as_mut() {
        if inc.inject.is_empty() {
            inc.inject = preset.inject.to_string();
        }
        inc.format.get_or_insert_with(|| preset.format.to_string());
        inc.field.get_or_insert_with(|| preset.field.to_string());
    }
    Ok(raw)
}
