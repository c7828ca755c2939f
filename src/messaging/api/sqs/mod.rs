//! SQS: every action is a `Command`, parsed from its input (one JSON shape
//! for both protocols), applied to the queues (any `Queues` backend), and
//! answered with its typed `Output`, which the caller encodes as JSON or XML.
//! `commands!` below is the one list of actions: the names the protocol
//! detection knows, the parser and the dispatch all come from it.

mod actions;
pub mod output;
mod permissions;

use crate::messaging::error::ApiResult;
use crate::messaging::queues::Queues;
use actions::*;
use permissions::*;
use serde_json::{Map, Value};

commands! {
    dyn Queues;
    CreateQueue(CreateQueue) -> output::QueueUrl = create_queue;
    GetQueueUrl(GetQueueUrl) -> output::QueueUrl = get_queue_url;
    ListQueues(ListQueues) -> output::QueueList = list_queues;
    DeleteQueue(QueueUrl) -> output::Nothing = delete_queue;
    GetQueueAttributes(GetAttributes) -> output::Attributes = get_attributes;
    SetQueueAttributes(SetAttributes) -> output::Nothing = set_attributes;
    SendMessage(SendMessage) -> output::Sent = send_message;
    SendMessageBatch(SendBatch) -> output::Batch<output::SentEntry> = send_batch;
    ReceiveMessage(Receive) -> output::Messages = receive;
    DeleteMessage(DeleteMessage) -> output::Nothing = delete_message;
    DeleteMessageBatch(HandleBatch) -> output::Batch<output::DoneEntry> = delete_batch;
    ChangeMessageVisibility(ChangeVisibility) -> output::Nothing = change_visibility;
    ChangeMessageVisibilityBatch(HandleBatch) -> output::Batch<output::DoneEntry> = change_visibility_batch;
    PurgeQueue(QueueUrl) -> output::Nothing = purge_queue;
    TagQueue(TagQueue) -> output::Nothing = tag_queue;
    UntagQueue(TagQueue) -> output::Nothing = untag_queue;
    ListQueueTags(QueueUrl) -> output::Tags = list_queue_tags;
    ListDeadLetterSourceQueues(DeadLetterSources) -> output::DeadLetterSources = dead_letter_sources;
    StartMessageMoveTask(MoveTask) -> output::TaskHandle = start_move;
    ListMessageMoveTasks(MoveTask) -> output::MoveTasks = list_moves;
    CancelMessageMoveTask(MoveTask) -> output::Cancelled = cancel_move;
    AddPermission(AddPermission) -> output::Nothing = add_permission;
    RemovePermission(RemovePermission) -> output::Nothing = remove_permission;
}

/// Parses, applies and encodes one action.
pub async fn apply(
    queues: &dyn Queues,
    action: &str,
    input: Value,
) -> ApiResult<Map<String, Value>> {
    let command = Command::parse(action, input)?;
    Ok(command.apply(queues).await?.encode())
}
