//! `gatehouse bench websocket`: messages per second through a managed
//! WebSocket API. Each of `connections` clients keeps `window` messages in
//! flight (a reply frees a slot), for `duration`; every message must get
//! exactly one reply, in order. Reports messages/s and reply latency.

use super::latency::{Samples, Summary};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[derive(clap::Args)]
pub struct WebSocketArgs {
    /// The WebSocket API, e.g. ws://127.0.0.1:8080/chat.
    #[arg(long)]
    pub url: String,
    /// The message every client sends.
    #[arg(long, default_value = r#"{"action":"echo"}"#)]
    pub body: String,
    /// Extra upgrade request headers, `name: value` (an API key, say).
    #[arg(long = "header")]
    pub headers: Vec<String>,
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Messages in flight per connection.
    #[arg(long, default_value_t = 8)]
    pub window: usize,
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Worker threads of the load generator.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

#[derive(Serialize)]
struct Report {
    connections: usize,
    window: usize,
    seconds: f64,
    messages: u64,
    messages_per_second: f64,
    latency: Summary,
    errors: u64,
}

struct Outcome {
    replies: u64,
    samples: Samples,
    error: Option<String>,
}

pub fn run(args: WebSocketArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    let report = runtime.block_on(load(&args))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

async fn load(args: &WebSocketArgs) -> anyhow::Result<Report> {
    let mut clients = Vec::new();
    for _ in 0..args.connections {
        let mut request = args.url.as_str().into_client_request()?;
        for h in &args.headers {
            let (name, value) = h
                .split_once(':')
                .ok_or_else(|| anyhow::anyhow!("--header {h}: expected `name: value`"))?;
            request.headers_mut().insert(
                http::HeaderName::from_bytes(name.trim().as_bytes())?,
                value.trim().parse()?,
            );
        }
        let (ws, _) = tokio_tungstenite::connect_async(request).await?;
        clients.push(ws);
    }
    let started = Instant::now();
    let until = started + args.duration;
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|ws| tokio::spawn(client(ws, args.body.clone(), args.window.max(1), until)))
        .collect();
    let mut samples = Samples::default();
    let (mut messages, mut errors) = (0, 0);
    for t in tasks {
        let outcome = t.await?;
        messages += outcome.replies;
        samples.merge(outcome.samples);
        if let Some(e) = outcome.error {
            errors += 1;
            eprintln!("a client failed: {e}");
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(Report {
        connections: args.connections,
        window: args.window,
        seconds,
        messages,
        messages_per_second: messages as f64 / seconds,
        latency: samples.summary(),
        errors,
    })
}

async fn client(
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    body: String,
    window: usize,
    until: Instant,
) -> Outcome {
    let (mut sink, mut stream) = ws.split();
    let mut sent: VecDeque<Instant> = VecDeque::with_capacity(window);
    let mut outcome = Outcome {
        replies: 0,
        samples: Samples::default(),
        error: None,
    };
    let result: anyhow::Result<()> = async {
        for _ in 0..window {
            sink.send(Message::text(body.clone())).await?;
            sent.push_back(Instant::now());
        }
        while let Some(frame) = stream.next().await {
            match frame? {
                Message::Text(_) | Message::Binary(_) => {}
                Message::Close(c) => anyhow::bail!("closed by the server: {c:?}"),
                _ => continue,
            }
            let at = sent
                .pop_front()
                .ok_or_else(|| anyhow::anyhow!("a reply nobody asked for"))?;
            outcome.samples.record(at.elapsed().as_micros() as u64);
            outcome.replies += 1;
            if Instant::now() < until {
                sink.send(Message::text(body.clone())).await?;
                sent.push_back(Instant::now());
            } else if sent.is_empty() {
                break;
            }
        }
        let _ = sink.close().await;
        Ok(())
    }
    .await;
    outcome.error = result.err().map(|e| e.to_string());
    outcome
}
