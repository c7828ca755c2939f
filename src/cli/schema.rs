//! `gatehouse schema`: the JSON Schema of a config file kind.

use super::SchemaKind;
use crate::config;

pub fn run(kind: SchemaKind) -> bool {
    let schema = match kind {
        SchemaKind::Route => schemars::schema_for!(config::raw::ApiFile),
        SchemaKind::Gatehouse => schemars::schema_for!(config::raw::GatehouseFile),
        SchemaKind::Flow => schemars::schema_for!(config::flow_raw::FlowFile),
        SchemaKind::Worker => schemars::schema_for!(config::worker_raw::WorkerFile),
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&schema).unwrap_or_default()
    );
    true
}
