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
}

fn preset(name: &str) -> Option<Preset> {
    let p = |kind: &str| PaginationRaw {
        kind: Some(kind.into()),
        ..Default::default()
    };
    Some(match name {
        // Query API: GET /services/data/vXX.X/query?q=SOQL; then nextRecordsUrl until done.
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
            inject: "query:since",
            format: "rfc3339",
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
            format: "unix",
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
        },
        // REST: a top-level array, Link rel="next", `since` in ISO 8601.
        "github" => Preset {
            base_url: Some("https://api.github.com"),
            path: None,
            records: ".",
            pagination: p("link_header"),
            inject: "query:since",
            format: "rfc3339",
        },
        // CRM v3 search (POST .../search): paging.next.after, sent back in
        // the body as `after`.
        "hubspot" => Preset {
            base_url: Some("https://api.hubapi.com"),
            path: None,
            records: "results",
            pagination: PaginationRaw {
                from: Some("paging.next.after".into()),
                param: Some("body:after".into()),
                ..p("cursor")
            },
            inject: "body:filterGroups.0.filters.0.value",
            format: "unix_ms",
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
    if let Some(inc) = raw.incremental.as_mut() {
        if inc.inject.is_empty() {
            inc.inject = preset.inject.to_string();
        }
        inc.format.get_or_insert_with(|| preset.format.to_string());
    }
    Ok(raw)
}
