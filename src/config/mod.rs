//! Config: files on disk -> positioned YAML -> raw serde types -> validated model.
//!
//! `load` reads `gatehouse.yaml` (optional), `routes/*.yaml` (one API per
//! file, the file name is the API id), `flows/*.yaml` (the file name is the
//! flow id), `workers/*.yaml` (the file name is the worker id), and loads
//! `certs/`. It returns the model or every problem found, as `file:line:col`.

pub mod body_template;
pub mod command;
pub mod crs;
pub mod de;
pub mod diagnostics;
pub mod flow_integration;
pub mod flow_presets;
pub mod flow_raw;
pub mod flow_spec;
pub mod flow_tasks;
pub mod flows;
pub mod jobs;
pub mod jwt;
pub mod key_template;
pub mod large_payloads;
pub mod messaging;
pub mod model;
pub mod parquet_schema;
pub mod path_template;
pub mod plans;
pub mod policies;
pub mod publish;
pub mod queue_settings;
pub mod raw;
pub mod route_table;
pub mod s3_options;
pub mod signature;
pub mod store;
pub mod units;
pub mod validate;
pub mod waf;
pub mod websocket;
pub mod worker_raw;
pub mod workers;
pub mod yaml;

pub use diagnostics::{Diagnostic, Diagnostics};
pub use model::Config;

use crate::tls::CertStore;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use validate::Parsed;
use yaml::Pos;

/// Everything loaded from a config folder: the model and the certificates.
#[derive(Clone)]
pub struct Loaded {
    pub config: Arc<Config>,
    pub certs: Arc<CertStore>,
}

pub fn load(root: &Path) -> Result<Loaded, Diagnostics> {
    load_with_env(root, &|name| std::env::var(name).ok())
}

pub fn load_with_env(
    root: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, Diagnostics> {
    let mut diags = Diagnostics::default();

    let main_path = root.join("gatehouse.yaml");
    let main = main_path
        .is_file()
        .then(|| read_file::<raw::GatehouseFile>(root, &main_path, env, &mut diags))
        .flatten();

    let (certs, cert_errors) = CertStore::load(&root.join("certs"));
    for (file, message) in cert_errors {
        diags.push(&relative(root, &file), Pos { line: 1, col: 1 }, "", message);
    }

    let mut config = validate::settings(root, main.as_ref(), !certs.is_empty(), &mut diags);
    if let Some(url) = env("GATEHOUSE_STORE_URL").filter(|u| !u.is_empty()) {
        match store::store_from_env(config.store.clone(), &url) {
            Ok(store) => config.store = store,
            Err(why) => diags.push(
                Path::new("$GATEHOUSE_STORE_URL"),
                Pos { line: 1, col: 1 },
                "",
                why,
            ),
        }
    }

    // Flows first: routes' `flow` integrations name them. Every id is known
    // before any file is checked: `trigger.after` may name a later one.
    let flow_files: Vec<(String, PathBuf)> = yaml_files(&root.join("flows"), &mut diags, root)
        .into_iter()
        .map(|file| (file_id(&file), file))
        .collect();
    for (id, file) in &flow_files {
        if checked_id(root, file, "flow", &mut diags) {
            config.flow_ids.insert(id.clone());
        }
    }
    let mut chained = Vec::new();
    for (id, file) in &flow_files {
        if !valid_id(id) {
            continue;
        }
        if let Some(parsed) = read_file::<flow_raw::FlowFile>(root, file, env, &mut diags) {
            let mut reporter = diagnostics::Reporter::new(&parsed.file, &parsed.node, &mut diags);
            if let Some(spec) =
                flows::flow(id, parsed.raw, config.messaging.as_ref(), &mut reporter)
            {
                if spec.after.is_some() {
                    chained.push((id.clone(), parsed.file.clone(), parsed.node.clone()));
                }
                config.flows.insert(id.clone(), Arc::new(spec));
            }
        }
    }
    for (id, file, node) in &chained {
        let mut r = diagnostics::Reporter::new(file, node, &mut diags);
        flows::check_after(id, &config.flows, &config.flow_ids, &mut r);
    }

    // Job definitions before routes and workers: both name them.
    for file in yaml_files(&root.join("jobs"), &mut diags, root) {
        let id = file_id(&file);
        if !checked_id(root, &file, "job definition", &mut diags) {
            continue;
        }
        if let Some(parsed) = read_file::<jobs::JobDefinitionFile>(root, &file, env, &mut diags) {
            let mut reporter = diagnostics::Reporter::new(&parsed.file, &parsed.node, &mut diags);
            if let Some(def) = jobs::definition(&id, parsed.raw, root, &config, &mut reporter) {
                config.job_definitions.insert(id, Arc::new(def));
            }
        }
    }

    let mut parsed_apis = BTreeMap::new();
    for file in yaml_files(&root.join("routes"), &mut diags, root) {
        let id = file_id(&file);
        if !checked_id(root, &file, "API", &mut diags) {
            continue;
        }
        if let Some(parsed) = read_file::<raw::ApiFile>(root, &file, env, &mut diags) {
            parsed_apis.insert(id, parsed);
        }
    }
    config.apis = parsed_apis
        .iter()
        .map(|(id, parsed)| validate::api(root, id, parsed, &config, &mut diags))
        .collect();
    validate::conflicts(&config.apis, &parsed_apis, &mut diags);

    if let (Some(main), Some(messaging)) = (&main, &config.messaging) {
        let mut r = diagnostics::Reporter::new(&main.file, &main.node, &mut diags);
        flow_integration::check_subscriptions(messaging, &config.flow_ids, &mut r);
    }

    for file in yaml_files(&root.join("workers"), &mut diags, root) {
        let id = file_id(&file);
        if !checked_id(root, &file, "worker", &mut diags) {
            continue;
        }
        if let Some(parsed) = read_file::<worker_raw::WorkerFile>(root, &file, env, &mut diags) {
            let mut reporter = diagnostics::Reporter::new(&parsed.file, &parsed.node, &mut diags);
            if let Some(spec) = workers::worker(&id, parsed.raw, root, &config, &mut reporter) {
                config.workers.insert(id, Arc::new(spec));
            }
        }
    }

    if diags.is_empty() {
        Ok(Loaded {
            config: Arc::new(config),
            certs: Arc::new(certs),
        })
    } else {
        Err(diags)
    }
}

/// Whether `file`'s name is a valid id for a `kind`; the error if not.
fn checked_id(root: &Path, file: &Path, kind: &str, diags: &mut Diagnostics) -> bool {
    let id = file_id(file);
    if !valid_id(&id) {
        diags.push(
            &relative(root, file),
            Pos { line: 1, col: 1 },
            "",
            format!("bad {kind} id `{id}` (the file name): use letters, digits, `-` and `_`"),
        );
    }
    valid_id(&id)
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn file_id(file: &Path) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn relative(root: &Path, file: &Path) -> PathBuf {
    file.strip_prefix(root).unwrap_or(file).to_path_buf()
}

/// `*.yaml` and `*.yml` in `dir`, sorted so ids and diagnostics are stable.
fn yaml_files(dir: &Path, diags: &mut Diagnostics, root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
        })
        .collect();
    files.sort();
    for pair in files.windows(2) {
        if file_id(&pair[0]) == file_id(&pair[1]) {
            diags.push(
                &relative(root, &pair[1]),
                Pos { line: 1, col: 1 },
                "",
                format!("`{}` is defined twice (.yaml and .yml)", file_id(&pair[1])),
            );
        }
    }
    files
}

/// Reads, parses, substitutes `${ENV}` and deserializes one file. Structural
/// errors are all collected: an unknown field is dropped, and a bad value is
/// pruned with its entry (and a map left without a required field with it),
/// then deserializing starts again. A file with structural errors is still
/// returned, pruned, so that its references are checked too; the errors
/// already recorded fail the load.
fn read_file<T: DeserializeOwned>(
    root: &Path,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    diags: &mut Diagnostics,
) -> Option<Parsed<T>> {
    let file = relative(root, path);
    let source = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) => {
            diags.push(
                &file,
                Pos { line: 1, col: 1 },
                "",
                format!("cannot read file: {e}"),
            );
            return None;
        }
    };
    let mut node = match yaml::parse(&source) {
        Ok(n) => n,
        Err(e) => {
            diags.push(&file, e.pos, "", format!("invalid YAML: {}", e.message));
            return None;
        }
    };
    let env_errors = yaml::substitute_env(&mut node, env);
    let had_env_errors = !env_errors.is_empty();
    for e in env_errors {
        diags.push(&file, e.pos, "", e.message);
    }
    let pristine = node.clone();
    // What was pruned: a later "missing field" for it is our doing.
    let mut pruned: Vec<(Pos, String)> = Vec::new();
    // Bounded: each retry removes one entry from the tree.
    for _ in 0..64 {
        match serde_path_to_error::deserialize::<_, T>(&node) {
            Ok(raw) => {
                // Unset variables leave empty values whose checks would only
                // repeat the variable's error.
                return (!had_env_errors).then_some(Parsed {
                    file,
                    node: pristine,
                    raw,
                });
            }
            Err(e) => {
                let path = field_path(&e);
                let inner = e.into_inner();
                let pos = inner.pos.unwrap_or(Pos { line: 1, col: 1 });
                let ours = missing_field(&inner.message)
                    .is_some_and(|field| pruned.iter().any(|(p, k)| *p == pos && k == field));
                if !ours {
                    diags.push(&file, pos, path, inner.message.clone());
                }
                if inner.unknown_field && node.remove_key_at(pos) {
                    continue;
                }
                match node.prune_at(pos) {
                    Some(removed) => pruned.push(removed),
                    None => return None,
                }
            }
        }
    }
    None
}

/// The field a "missing required field" message names.
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing required field `")?
        .strip_suffix('`')
}

fn field_path(e: &serde_path_to_error::Error<de::DeError>) -> String {
    let path = e.path().to_string();
    if path == "." || path == "?" {
        String::new()
    } else {
        path
    }
}
