//! `gatehouse bench`: load generators that measure a running service from
//! the outside, over the same wire a real client uses.
//!
//! - `sqs_load`: producers and consumers against any SQS endpoint (Gatehouse,
//!   moto, AWS), the messaging benchmark in BENCHMARKS.md
//! - `sqs_client`: the smallest signed SQS JSON client the load needs
//! - `latency`: percentiles from recorded samples
//! - `saas_source`: a synthetic paginated list API, the flows benchmark's source
//! - `waf`: the CRS engine's cost per request, in process
//! - `signing`: SNS message signing's cost per notification, in process
//! - `console`: the console history's cost per sample, in process
//! - `websocket`: messages per second through a managed WebSocket API

pub mod console;
pub mod latency;
pub mod saas_source;
pub mod signing;
pub mod sqs_client;
pub mod sqs_load;
pub mod waf;
pub mod websocket;

use crate::bench::sqs_client::Keys;
use std::time::Duration;

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Producers and consumers against an SQS endpoint (Gatehouse, moto, AWS):
    /// batches of sends, receives and deletes; reports messages/s and latency.
    Sqs(SqsArgs),
    /// Serve a synthetic SaaS list API (cursor pagination, ten fields per
    /// record) for the flows benchmark: GET /records?cursor=N&limit=L.
    Source(SourceArgs),
    /// The CRS engine's cost per request, in process (no network).
    Waf(waf::WafArgs),
    /// SNS message signing's cost per notification, in process.
    Signing(signing::SigningArgs),
    /// The console history's cost per sample (taken once a second), in process.
    Console(console::ConsoleArgs),
    /// Messages per second through a managed WebSocket API: clients each
    /// keeping a window of messages in flight; reports messages/s and latency.
    #[command(name = "websocket")]
    WebSocket(websocket::WebSocketArgs),
}

#[derive(clap::Args)]
pub struct SourceArgs {
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
    /// Records in the dataset.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

#[derive(clap::Args)]
pub struct SqsArgs {
    /// The SQS endpoint, e.g. http://127.0.0.1:9324; several, comma-separated,
    /// for nodes of one fleet (producers and consumers spread over them).
    #[arg(long, default_value = "http://127.0.0.1:9324")]
    pub endpoint: String,
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// Sign requests with this access key (or AWS_ACCESS_KEY_ID); unsigned without one.
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    pub access_key: Option<String>,
    /// The key's secret (or AWS_SECRET_ACCESS_KEY).
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Use a FIFO queue (groups spread over the producers, explicit dedup ids).
    #[arg(long)]
    pub fifo: bool,
    #[arg(long, default_value_t = 64)]
    pub groups: usize,
    #[arg(long, default_value_t = 4)]
    pub producers: usize,
    #[arg(long, default_value_t = 4)]
    pub consumers: usize,
    /// Messages per send, receive and delete call (1-10).
    #[arg(long, default_value_t = 10)]
    pub batch: usize,
    /// How long the producers send, e.g. 10s.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Total messages per second; flat out if unset.
    #[arg(long)]
    pub rate: Option<u64>,
    #[arg(long, default_value_t = 256)]
    pub body_size: usize,
    /// Producers pause when this many messages are sent but not yet received.
    #[arg(long, default_value_t = 1000)]
    pub max_backlog: usize,
    /// ReceiveMessage long-poll wait in seconds.
    #[arg(long, default_value_t = 1)]
    pub wait_seconds: u32,
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub drain_timeout: Duration,
    /// Worker threads of the load generator.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    let args = match command {
        BenchCommand::Sqs(args) => args,
        BenchCommand::Waf(args) => return waf::run(args),
        BenchCommand::Signing(args) => return signing::run(args),
        BenchCommand::Console(args) => return console::run(args),
        BenchCommand::WebSocket(args) => return websocket::run(args),
        BenchCommand::Source(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(args.threads.max(1))
                .enable_all()
                .build()?;
            return runtime.block_on(saas_source::serve(args.listen, args.records));
        }
    };
    let keys = match (args.access_key, args.secret_key) {
        (Some(access_key), Some(secret)) => Some(Keys { access_key, secret }),
        (None, _) => None,
        (Some(_), None) => anyhow::bail!("--access-key needs --secret-key"),
    };
    let options = sqs_load::LoadOptions {
        endpoint: args.endpoint,
        region: args.region,
        keys,
        fifo: args.fifo,
        groups: args.groups,
        producers: args.producers,
        consumers: args.consumers,
        batch: args.batch,
        duration: args.duration,
        rate: args.rate,
        body_size: args.body_size,
        max_backlog: args.max_backlog,
        wait_seconds: args.wait_seconds,
        drain_timeout: args.drain_timeout,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    let report = runtime.block_on(sqs_load::run(options))?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.human());
    }
    Ok(())
}
