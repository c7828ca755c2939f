//! The command line: `serve`, `validate`, `routes`, `schema`, `certs`, `keys`, `bench`.

use crate::config::{self, model::Integration};
use crate::server::{self, ServeOptions};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Edge gateway with built-in messaging and data ingestion"
)]
pub struct Cli {
    /// Folder with gatehouse.yaml, routes/, flows/ and certs/.
    #[arg(short = 'C', long = "dir", global = true, default_value = ".")]
    pub dir: PathBuf,
    /// Accept a folder with no gatehouse.yaml, routes/ or flows/ (run on
    /// the defaults alone) instead of treating it as a wrong `-C`.
    #[arg(long, global = true)]
    pub allow_empty: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the gateway (HTTP on 127.0.0.1:8080, admin on 127.0.0.1:9180 by default).
    Serve {
        /// Reload when config files change (SIGHUP always reloads).
        #[arg(long)]
        watch: bool,
        /// Take over the sockets of a running instance for a zero-downtime upgrade.
        #[arg(long)]
        upgrade: bool,
    },
    /// Check gatehouse.yaml, routes/ and flows/; print every error; exit 1 if any.
    Validate,
    /// Print the resolved route table, most specific first.
    Routes,
    /// Print the JSON Schema of a config file kind, for editor autocompletion.
    Schema {
        #[arg(value_enum, default_value = "route")]
        kind: SchemaKind,
    },
    /// Manage TLS certificates in certs/.
    Certs {
        #[command(subcommand)]
        command: CertsCommand,
    },
    /// Manage API keys in the data-dir store (the server picks changes up within 5s).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Flows in flows/: list them, run one now, show its history, preview records.
    Flow {
        #[command(subcommand)]
        command: FlowCommand,
    },
    /// Measure a running service with a load generator (release builds only).
    Bench {
        #[command(subcommand)]
        command: crate::bench::BenchCommand,
    },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key on a usage plan; the key is printed once and never stored.
    Create {
        #[arg(long)]
        plan: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// List keys (config-declared and created).
    List,
    /// Revoke a key by id or name.
    Revoke { key: String },
    /// Show a key's quota use in the current period (by key, id or name).
    Usage { key: String },
}

#[derive(Subcommand)]
pub enum FlowCommand {
    /// Every flow with its schedule, state and last run.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Run a flow now and wait for it (progress on a terminal); exit 1 if it fails.
    Run {
        name: String,
        /// A webhook flow's records: a JSON file.
        #[arg(long)]
        body: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Turn a flow's schedule back on after it was deactivated by failures.
    Activate { name: String },
    /// A flow's runs, newest first.
    History {
        name: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Fetch and transform records without writing anything (one JSON line each).
    Preview {
        name: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// A webhook flow's sample body: a JSON file.
        #[arg(long)]
        body: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SchemaKind {
    /// routes/<api>.yaml
    Route,
    /// gatehouse.yaml
    Gatehouse,
}

#[derive(Subcommand)]
pub enum CertsCommand {
    /// Write a self-signed development certificate for HOST into certs/.
    Generate {
        #[arg(long)]
        host: String,
    },
}

pub fn run(cli: Cli) -> ExitCode {
    let reads_config = matches!(
        cli.command,
        Command::Serve { .. }
            | Command::Validate
            | Command::Routes
            | Command::Keys { .. }
            | Command::Flow { .. }
    );
    if reads_config {
        if let Err(why) = check_config_dir(&cli.dir, cli.allow_empty) {
            eprintln!("gatehouse: {why}");
            return ExitCode::FAILURE;
        }
    }
    match cli.command {
        Command::Keys { command } => match crate::keys_cli::run(&cli.dir, command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("gatehouse: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Flow { command } => match crate::flows_cli::run(&cli.dir, command) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("gatehouse: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Bench { command } => match crate::bench::run(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("gatehouse: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Serve { watch, upgrade } => match server::serve(ServeOptions {
            root: cli.dir,
            watch,
            upgrade,
        }) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("gatehouse: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Validate => match config::load(&cli.dir) {
            Ok(loaded) => {
                let routes: usize = loaded.config.apis.iter().map(|a| a.routes.len()).sum();
                let c = &loaded.config;
                println!(
                    "ok: {}, {}, {}, {}",
                    crate::wording::count(c.apis.len(), "API"),
                    crate::wording::count(routes, "route"),
                    crate::wording::count(c.upstreams.len(), "upstream"),
                    crate::wording::count(c.flows.len(), "flow"),
                );
                ExitCode::SUCCESS
            }
            Err(diags) => {
                eprint!("{diags}");
                eprintln!("{} error(s)", diags.len());
                ExitCode::FAILURE
            }
        },
        Command::Routes => match config::load(&cli.dir) {
            Ok(loaded) => {
                print!("{}", route_table(&loaded.config));
                ExitCode::SUCCESS
            }
            Err(diags) => {
                eprint!("{diags}");
                ExitCode::FAILURE
            }
        },
        Command::Schema { kind } => {
            let schema = match kind {
                SchemaKind::Route => schemars::schema_for!(config::raw::ApiFile),
                SchemaKind::Gatehouse => schemars::schema_for!(config::raw::GatehouseFile),
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&schema).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Command::Certs {
            command: CertsCommand::Generate { host },
        } => match crate::tls::generate_self_signed(&cli.dir.join("certs"), &host) {
            Ok((cert, key)) => {
                println!("wrote {} and {}", cert.display(), key.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("gatehouse: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// A `-C` that names no Gatehouse folder is almost always a typo; left
/// alone, `keys create` would make a database the server never reads.
fn check_config_dir(dir: &std::path::Path, allow_empty: bool) -> Result<(), String> {
    if !dir.is_dir() {
        return Err(format!("no such folder: {}", dir.display()));
    }
    let has_config = dir.join("gatehouse.yaml").is_file()
        || dir.join("routes").is_dir()
        || dir.join("flows").is_dir();
    if has_config || allow_empty {
        return Ok(());
    }
    Err(format!(
        "{} holds no gatehouse.yaml, routes/ or flows/: is -C right? \
         (--allow-empty runs on the defaults alone)",
        dir.display()
    ))
}

/// Routes in the order the router tries them within each host tier.
pub fn route_table(config: &config::Config) -> String {
    let mut rows = vec![[
        "API".to_string(),
        "HOSTS".into(),
        "METHODS".into(),
        "PATH".into(),
        "ROUTE".into(),
        "INTEGRATION".into(),
    ]];
    let mut routes: Vec<_> = config
        .apis
        .iter()
        .flat_map(|api| api.routes.iter().map(move |r| (api, r)))
        .collect();
    routes.sort_by(|(a, x), (b, y)| {
        a.hosts
            .is_empty()
            .cmp(&b.hosts.is_empty())
            .then_with(|| x.template.specificity_cmp(&y.template))
    });
    for (api, route) in routes {
        let hosts = if api.hosts.is_empty() {
            "*".to_string()
        } else {
            api.hosts
                .iter()
                .map(|h| h.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let integration = match &route.integration {
            Integration::Http(h) => format!(
                "http -> {}{}",
                h.upstream,
                h.rewrite
                    .as_ref()
                    .map(|t| format!(" {}", t.source))
                    .unwrap_or_default()
            ),
            Integration::Mock(m) => format!("mock {}", m.status),
            Integration::Publish(p) => format!("{} -> {}", route.integration.kind(), p.target),
            Integration::Flow(f) => format!(
                "flow -> {}{}",
                f.flow,
                if f.signature.is_some() {
                    " (signed)"
                } else {
                    ""
                }
            ),
        };
        rows.push([
            api.id.clone(),
            hosts,
            route.methods.to_string(),
            route.template.source.clone(),
            route.id.clone(),
            integration,
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}
