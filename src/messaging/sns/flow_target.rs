//! SNS subscriptions with protocol `flow`: a message published to the topic
//! starts a run of a Gatehouse flow. The messaging engine reaches flows only
//! through this door, a channel built before either engine (so neither holds
//! the other and the server wires them in order); the flows engine answers
//! the calls. Deliveries to a flow are stored and retried like http ones.

use tokio::sync::{mpsc, oneshot};

/// Calls waiting for the flows engine; senders wait beyond this.
const BACKLOG: usize = 64;

pub enum FlowCall {
    /// Is there a flow of this name (in the current config generation)?
    Exists {
        flow: String,
        reply: oneshot::Sender<bool>,
    },
    /// Run the flow with the message as its payload; Ok once the run
    /// committed, so a failed run is retried (and dead-lettered) like a
    /// failed http delivery.
    Run {
        flow: String,
        message: String,
        reply: oneshot::Sender<Result<(), String>>,
    },
}

/// The messaging side: cheap to clone.
#[derive(Clone)]
pub struct FlowDoor {
    calls: mpsc::Sender<FlowCall>,
}

/// The flows side: take calls until every door is dropped.
pub struct FlowCalls {
    calls: mpsc::Receiver<FlowCall>,
}

pub fn door() -> (FlowDoor, FlowCalls) {
    let (tx, rx) = mpsc::channel(BACKLOG);
    (FlowDoor { calls: tx }, FlowCalls { calls: rx })
}

const NOT_RUNNING: &str = "flows are not running in this process";

impl FlowDoor {
    pub async fn has_flow(&self, flow: &str) -> bool {
        let (reply, answer) = oneshot::channel();
        let call = FlowCall::Exists {
            flow: flow.to_string(),
            reply,
        };
        self.calls.send(call).await.is_ok() && answer.await.unwrap_or(false)
    }

    pub async fn deliver(&self, flow: &str, message: String) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        let call = FlowCall::Run {
            flow: flow.to_string(),
            message,
            reply,
        };
        self.calls.send(call).await.map_err(|_| NOT_RUNNING)?;
        answer.await.unwrap_or_else(|_| Err(NOT_RUNNING.into()))
    }
}

impl FlowCalls {
    pub async fn next(&mut self) -> Option<FlowCall> {
        self.calls.recv().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_door_without_a_flows_engine_says_so() {
        let (door, calls) = door();
        drop(calls);
        assert!(!door.has_flow("orders").await);
        assert_eq!(
            door.deliver("orders", "{}".into()).await,
            Err(NOT_RUNNING.to_string())
        );
    }

    #[tokio::test]
    async fn calls_reach_the_other_side() {
        let (door, mut calls) = door();
        tokio::spawn(async move {
            while let Some(call) = calls.next().await {
                match call {
                    FlowCall::Exists { flow, reply } => {
                        let _ = reply.send(flow == "orders");
                    }
                    FlowCall::Run { flow, reply, .. } => {
                        let _ = reply.send(Err(format!("{flow} failed")));
                    }
                }
            }
        });
        assert!(door.has_flow("orders").await);
        assert!(!door.has_flow("other").await);
        assert_eq!(
            door.deliver("orders", "{}".into()).await,
            Err("orders failed".to_string())
        );
    }
}
