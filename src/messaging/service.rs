//! Starting the messaging engine inside `gatehouse serve`, in the order the
//! server calls: `bind` the listener, `open_broker` over the journal, then
//! `start` (the declared queues, the retention sweeper, the delivery worker
//! and the API, on a runtime of their own).

use super::api::{self, Api};
use super::broker::{Broker, BrokerOptions};
use super::names::Naming;
use super::pubsub::Topics;
use super::queues::Queues;
use super::sns::delivery::Deliverer;
use super::sns::flow_target::FlowDoor;
use super::store::MessageStore;
use crate::config::model::Messaging;
use anyhow::Context;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

pub struct Running {
    /// The embedded broker, for shutdown (None on a shared store).
    pub broker: Option<Broker>,
    pub address: SocketAddr,
    /// Owns the listener's and sweeper's tasks: keep it alive.
    pub runtime: tokio::runtime::Runtime,
}

/// The messaging engine, wherever its state lives: the queues and topics
/// the API serves, the delivery worker's view, and the background chores
/// (retention sweeps) to start on the messaging runtime.
pub struct Engine {
    pub queues: Arc<dyn Queues>,
    pub topics: Arc<dyn Topics>,
    pub deliverer: Deliverer,
    /// The embedded broker (closing, the durability barrier); None on a
    /// shared store.
    pub broker: Option<Broker>,
    pub chores: Box<dyn FnOnce(&tokio::runtime::Handle) + Send>,
}

impl Engine {
    /// The embedded broker as the engine.
    pub fn of_broker(broker: Broker) -> Engine {
        let sweeper = broker.clone();
        Engine {
            queues: Arc::new(broker.clone()),
            topics: Arc::new(broker.clone()),
            deliverer: Deliverer::of_broker(&broker),
            broker: Some(broker),
            chores: Box::new(move |handle| sweeper.spawn_sweeper(handle)),
        }
    }
}

/// The listener's connection table and limits (shared with the gateway's
/// config: header and body deadlines follow reloads).
pub struct Listening {
    pub connections: Arc<crate::listener::connections::Connections>,
    pub limits: crate::listener::pingora_app::LimitsSource,
    /// The certificates to serve TLS with (`messaging.tls`): the gateway's,
    /// from `certs/`, reloaded with them.
    pub tls: Option<Arc<dyn rustls::server::ResolvesServerCert>>,
    /// More routes served beside the SQS/SNS API (the gateway's
    /// `@connections` API), under the same listener and limits.
    pub beside: Option<axum::Router>,
}

/// The messaging API's socket, bound first: queue URLs name its address.
pub struct Bound {
    listener: std::net::TcpListener,
    pub address: SocketAddr,
}

pub fn bind(settings: &Messaging) -> anyhow::Result<Bound> {
    let listener = std::net::TcpListener::bind(settings.address)
        .with_context(|| format!("binding the messaging API on {}", settings.address))?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    Ok(Bound { listener, address })
}

/// How queue URLs and ARNs are made on this endpoint.
pub fn naming(settings: &Messaging, bound: &Bound) -> Naming {
    Naming {
        region: settings.region.clone(),
        account_id: settings.account_id.clone(),
        base_url: settings.public_url.clone().unwrap_or_else(|| {
            let scheme = if settings.tls { "https" } else { "http" };
            format!("{scheme}://{}", bound.address)
        }),
        signer: None,
    }
}

/// `naming` with the SNS signer whose key pair lives in `data_dir` (made
/// there on first start).
pub fn signed_naming(
    settings: &Messaging,
    bound: &Bound,
    data_dir: &std::path::Path,
) -> anyhow::Result<Naming> {
    let mut naming = naming(settings, bound);
    let signer = super::sns::signing::Signer::load_or_create(data_dir, &naming.base_url)
        .context("the SNS signing key")?;
    naming.signer = Some(Arc::new(signer));
    Ok(naming)
}

/// Loads the queues and topics from `journal` (see `store::open`).
pub fn open_broker(
    settings: &Messaging,
    naming: Naming,
    journal: Box<dyn MessageStore>,
    flows: Option<FlowDoor>,
) -> anyhow::Result<Broker> {
    Broker::open(
        journal,
        BrokerOptions {
            naming,
            allow_private_endpoints: settings.allow_private_endpoints,
            flows,
        },
    )
}

/// Declares the configured queues and topics, then serves the API and runs
/// the sweeper and the delivery worker on a runtime of their own.
pub fn start(
    settings: &Messaging,
    bound: Bound,
    engine: Engine,
    threads: usize,
    listening: Listening,
) -> anyhow::Result<Running> {
    let Bound { listener, address } = bound;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name("gatehouse-messaging")
        .enable_all()
        .build()?;
    let Engine {
        queues,
        topics,
        deliverer,
        broker,
        chores,
    } = engine;
    runtime.block_on(declare(queues.as_ref(), topics.as_ref(), settings))?;
    chores(runtime.handle());
    super::sns::delivery::spawn_worker(deliverer, runtime.handle());
    let api = Arc::new(Api {
        queues,
        topics,
        limits: listening.limits.clone(),
        metrics: listening.connections.metrics().clone(),
        secrets: settings
            .access_keys
            .iter()
            .map(|(k, v)| (k.clone(), v.secret.clone()))
            .collect(),
        access: super::access::Access::new(&settings.access_keys, &settings.account_id),
        key_ring: settings.key_ring.clone(),
    });
    let listener = {
        let _guard = runtime.enter();
        tokio::net::TcpListener::from_std(listener)?
    };
    let tls = listening.tls.map(|certs| {
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_cert_resolver(certs);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    let router = match listening.beside {
        Some(beside) => api::router(api).merge(beside),
        None => api::router(api),
    };
    runtime.spawn(crate::listener::hyper_app::serve(
        listener,
        router,
        listening.connections,
        listening.limits,
        tls,
    ));
    Ok(Running {
        broker,
        address,
        runtime,
    })
}

/// Creates the declared queues, or brings existing ones to the declared
/// attributes. Redrive policies go last, once their dead-letter queues exist.
/// Nodes of a fleet declare the same things at once: creating is idempotent.
async fn declare(
    queues: &dyn Queues,
    topics: &dyn Topics,
    settings: &Messaging,
) -> anyhow::Result<()> {
    let failed = |what: &str, name: &str, e: super::error::ApiError| {
        anyhow::anyhow!("declaring {what} {name}: {}", e.message)
    };
    for q in &settings.queues {
        let mut attributes = q.attributes.clone();
        attributes.remove("RedrivePolicy");
        match queues.check_queue(&q.name).await {
            Ok(()) => {
                // Fixed at creation (the name says it too): SetQueueAttributes
                // refuses it, so a restart must not send it again.
                attributes.remove("FifoQueue");
                queues.set_attributes(&q.name, attributes).await
            }
            Err(_) => queues
                .create_queue(&q.name, attributes, q.tags.clone())
                .await
                .map(|_| ()),
        }
        .map_err(|e| failed("queue", &q.name, e))?;
    }
    for q in &settings.queues {
        if let Some(policy) = q.attributes.get("RedrivePolicy") {
            let attrs = BTreeMap::from([("RedrivePolicy".to_string(), policy.clone())]);
            queues
                .set_attributes(&q.name, attrs)
                .await
                .map_err(|e| failed("queue", &q.name, e))?;
        }
    }
    for t in &settings.topics {
        let arn = topics.naming().topic_arn(&t.name);
        if topics.topic(&arn).await.is_ok() {
            for (k, v) in &t.attributes {
                topics
                    .set_topic_attribute(&arn, k, v.clone())
                    .await
                    .map_err(|e| failed("topic", &t.name, e))?;
            }
        } else {
            topics
                .create_topic(&t.name, t.attributes.clone(), t.tags.clone())
                .await
                .map_err(|e| failed("topic", &t.name, e))?;
        }
        for s in &t.subscriptions {
            let endpoint = match s.protocol.as_str() {
                "sqs" => topics.naming().queue_arn(&s.endpoint),
                _ => s.endpoint.clone(),
            };
            topics
                .subscribe(&arn, &s.protocol, &endpoint, s.attributes.clone())
                .await
                .map_err(|e| failed("a subscription of topic", &t.name, e))?;
        }
    }
    Ok(())
}
