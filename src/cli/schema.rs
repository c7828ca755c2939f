//! `gatehouse schema`: the JSON Schema of a config file kind.

use super::SchemaKind;
use crate::config;

pub fn run(kind: SchemaKind) -> bool {
    let schema = match kind {
        SchemaKind::Route => schemars::schema_for!(config::raw::ApiFile),
        SchemaKind::Gatehouse => schemars::schema_for!(config::raw::GatehouseFile),
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&schema).unwrap_or_default()
    );
    true
}
