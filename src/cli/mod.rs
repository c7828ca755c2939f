//! The command line: `serve`, `validate`, `routes`, `schema`, `certs`, `keys`,
//! `flow`, `jobs`, `bench`. The arguments are here; each command's work is in its file.

mod certs;
mod flow;
mod jobs;
mod keys;
mod routes;
mod schema;
mod serve;
mod validate;

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
    /// Jobs (definitions in jobs/): submit, list, describe, cancel.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
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
    /// flows/<flow>.yaml
    Flow,
    /// workers/<worker>.yaml
    Worker,
}

#[derive(Subcommand)]
pub enum JobsCommand {
    /// Submit a job of a definition; prints its id (an array job: its children's).
    Submit {
        definition: String,
        /// A parameter for `Ref::NAME` in the command's arguments.
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// An array job of N children (AWS_BATCH_JOB_ARRAY_INDEX 0..N).
        #[arg(long)]
        array: Option<u32>,
        /// Instead of the definition's priority (higher runs first).
        #[arg(long)]
        priority: Option<i32>,
    },
    /// Jobs, newest first.
    List {
        /// SUBMITTED, RUNNABLE, RUNNING, SUCCEEDED or FAILED.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// One job as JSON: its state, attempts, exit code, reason and output.
    Describe { id: String },
    /// Cancel a job: one that has not started fails at once; a running one
    /// is killed (its process group).
    Cancel {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
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
            | Command::Jobs { .. }
    );
    if reads_config {
        if let Err(why) = check_config_dir(&cli.dir, cli.allow_empty) {
            eprintln!("gatehouse: {why}");
            return ExitCode::FAILURE;
        }
    }
    // Ok(false): the command ran and said why it failed (validate's errors,
    // a failed flow run); Err: it could not run.
    let outcome = match cli.command {
        Command::Keys { command } => keys::run(&cli.dir, command).map(|()| true),
        Command::Flow { command } => flow::run(&cli.dir, command),
        Command::Jobs { command } => jobs::run(&cli.dir, command),
        Command::Bench { command } => crate::bench::run(command).map(|()| true),
        Command::Serve { watch, upgrade } => serve::run(cli.dir, watch, upgrade),
        Command::Validate => Ok(validate::run(&cli.dir)),
        Command::Routes => Ok(routes::run(&cli.dir)),
        Command::Schema { kind } => Ok(schema::run(kind)),
        Command::Certs {
            command: CertsCommand::Generate { host },
        } => certs::generate(&cli.dir, &host),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("gatehouse: {e:#}");
            ExitCode::FAILURE
        }
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
