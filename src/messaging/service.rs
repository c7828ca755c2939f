//! Starting the messaging engine inside `gatehouse serve`, in the order the
//! server calls: `bind` the listener, `open_broker` over the journal, then
//! `start` (the declared queues, the retention sweeper, the delivery worker
//! and the API, on a runtime of their own).

use super::api::{self, Api};
use super::broker::{Broker, BrokerOptions};
use super::names::Naming;
use super::sns::flow_target::FlowDoor;
use super::store::MessageStore;
use crate::config::model::Messaging;
use anyhow::Context;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

pub struct Running {
    pub broker: Broker,
    pub address: SocketAddr,
    /// Owns the listener's and sweeper's tasks: keep it alive.
    pub runtime: tokio::runtime::Runtime,
}

/// The listener's connection table and limits (shared with the gateway's
/// config: header and body deadlines follow reloads).
pub struct Listening {
    pub connections: Arc<crate::listener::connections::Connections>,
    pub limits: crate::listener::pingora_app::LimitsSource,
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

/// Loads the queues and topics from `journal` (see `store::open`).
pub fn open_broker(
    settings: &Messaging,
    bound: &Bound,
    journal: Box<dyn MessageStore>,
    flows: Option<FlowDoor>,
) -> anyhow::Result<Broker> {
    let naming = Naming {
        region: settings.region.clone(),
        account_id: settings.account_id.clone(),
        base_url: settings
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", bound.address)),
    };
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
    broker: Broker,
    threads: usize,
    listening: Listening,
) -> anyhow::Result<Running> {
    let Bound { listener, address } = bound;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name("gatehouse-messaging")
        .enable_all()
        .build()?;
    runtime.block_on(declare(&broker, settings))?;
    broker.spawn_sweeper(runtime.handle());
    super::sns::delivery::spawn_worker(
        super::sns::delivery::Deliverer::of_broker(&broker),
        runtime.handle(),
    );
    let api = Arc::new(Api {
        queues: Arc::new(broker.clone()),
        topics: Arc::new(broker.clone()),
        limits: listening.limits.clone(),
        metrics: listening.connections.metrics().clone(),
        secrets: settings
            .access_keys
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    });
    let listener = {
        let _guard = runtime.enter();
        tokio::net::TcpListener::from_std(listener)?
    };
    runtime.spawn(crate::listener::hyper_app::serve(
        listener,
        api::router(api),
        listening.connections,
        listening.limits,
    ));
    Ok(Running {
        broker,
        address,
        runtime,
    })
}

/// Creates the declared queues, or brings existing ones to the declared
/// attributes. Redrive policies go last, once their dead-letter queues exist.
async fn declare(broker: &Broker, settings: &Messaging) -> anyhow::Result<()> {
    for q in &settings.queues {
        let mut attributes = q.attributes.clone();
        attributes.remove("RedrivePolicy");
        match broker.queue_by_name(&q.name) {
            Ok(cell) => broker.set_attributes(&cell, attributes).await,
            Err(_) => broker
                .create_queue(&q.name, attributes, q.tags.clone())
                .await
                .map(|_| ()),
        }
        .map_err(|e| anyhow::anyhow!("declaring queue {}: {}", q.name, e.message))?;
    }
    for q in &settings.queues {
        if let Some(policy) = q.attributes.get("RedrivePolicy") {
            let cell = broker
                .queue_by_name(&q.name)
                .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            let attrs = BTreeMap::from([("RedrivePolicy".to_string(), policy.clone())]);
            broker
                .set_attributes(&cell, attrs)
                .await
                .map_err(|e| anyhow::anyhow!("declaring queue {}: {}", q.name, e.message))?;
        }
    }
    for t in &settings.topics {
        let arn = broker.naming().topic_arn(&t.name);
        if broker.topic(&arn).is_ok() {
            for (k, v) in &t.attributes {
                broker
                    .set_topic_attribute(&arn, k, v.clone())
                    .await
                    .map_err(|e| anyhow::anyhow!("declaring topic {}: {}", t.name, e.message))?;
            }
        } else {
            broker
                .create_topic(&t.name, t.attributes.clone(), t.tags.clone())
                .await
                .map_err(|e| anyhow::anyhow!("declaring topic {}: {}", t.name, e.message))?;
        }
        for s in &t.subscriptions {
            let endpoint = match s.protocol.as_str() {
                "sqs" => broker.naming().queue_arn(&s.endpoint),
                _ => s.endpoint.clone(),
            };
            broker
                .subscribe(&arn, &s.protocol, &endpoint, s.attributes.clone())
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "declaring a subscription of topic {}: {}",
                        t.name,
                        e.message
                    )
                })?;
        }
    }
    Ok(())
}
