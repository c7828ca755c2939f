//! SNS: topics and subscriptions (`topics`), publishing and fan-out with
//! filter policies (`publish`, `filter_policy`), and the durable deliveries
//! to http(s) endpoints and flows, with retries and dead-letter queues
//! (`delivery`, `flow_target`). Deliveries to SQS queues go through the
//! broker's queues. Envelopes are signed as AWS signs them (`signing`).

pub mod delivery;
pub mod filter_policy;
pub mod flow_target;
pub mod publish;
pub mod signing;
pub mod topics;
