//! SNS subscriptions with protocol `flow`: a message published to the topic
//! starts a run of a Gatehouse flow. The messaging engine knows flows only
//! through this trait (the flows engine implements it), so the two stay
//! separate; deliveries to a flow are stored and retried like http ones.

use std::future::Future;
use std::pin::Pin;

pub type Delivery = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

pub trait FlowTarget: Send + Sync {
    fn has_flow(&self, name: &str) -> bool;
    /// Runs the flow with the message as its payload; Ok once the run
    /// committed, so a failed run is retried (and dead-lettered) like a
    /// failed http delivery.
    fn deliver(&self, flow: &str, message: String) -> Delivery;
}
