//! Queue lifecycle and settings: create (idempotent), delete, attributes,
//! tags, and which queues use one as their dead-letter queue.

use super::*;

impl Broker {
    /// Creates a queue, or returns the existing one when every given
    /// attribute matches (CreateQueue is idempotent in SQS).
    pub async fn create_queue(
        &self,
        name: &str,
        attributes: AttributeMap,
        tags: BTreeMap<String, String>,
    ) -> ApiResult<String> {
        let fifo = check_new_queue(name, &attributes)?;
        self.check_redrive(&attributes, fifo)?;
        check_tags(&tags)?;
        let url = self.queue_url(name);
        let committed = self.insert_queue(name, fifo, attributes, tags)?;
        if let Some(committed) = committed {
            committed.wait().await.map_err(journal_failed)?;
        }
        Ok(url)
    }

    /// Adds the queue unless it exists; `None` when it already did.
    fn insert_queue(
        &self,
        name: &str,
        fifo: bool,
        attributes: AttributeMap,
        tags: BTreeMap<String, String>,
    ) -> ApiResult<Option<crate::messaging::journal::Committed>> {
        let mut queues = self.inner.queues.write();
        if let Some(existing) = queues.get(name) {
            let differs = existing.unjournaled(|q| {
                attributes
                    .iter()
                    .find(|(k, v)| q.attributes.get(*k) != Some(*v))
                    .map(|(k, _)| k.clone())
            });
            if let Some(k) = differs {
                return Err(ApiError::new(
                    ErrorKind::QueueNameExists,
                    format!("A queue already exists with the same name and a different value for attribute {k}"),
                ));
            }
            return Ok(None);
        }
        let mut all = settings::defaults(fifo);
        all.extend(attributes);
        let now = unix_secs();
        let record = QueueRecord {
            id: self.inner.next_queue_id.fetch_add(1, Ordering::SeqCst),
            name: name.to_string(),
            attributes: all,
            tags,
            created_at: now,
            modified_at: now,
        };
        let committed = self
            .inner
            .journal
            .commit(vec![Op::PutQueue(record.clone())]);
        let cell = self.cell(Queue::new(record, self.inner.naming.queue_arn(name)));
        queues.insert(name.to_string(), cell);
        Ok(Some(committed))
    }

    /// A redrive policy must name an existing queue of the same type.
    fn check_redrive(&self, attributes: &AttributeMap, fifo: bool) -> ApiResult<()> {
        let Some(policy) = redrive_in(attributes)? else {
            return Ok(());
        };
        let dlq_fifo = self
            .queue_by_arn(&policy.dead_letter_target_arn)
            .map(|q| q.unjournaled(|q| q.is_fifo()));
        check_redrive_target(&policy, fifo, dlq_fifo)
    }

    pub fn list_queues(&self, prefix: Option<&str>) -> Vec<String> {
        let mut names: Vec<String> = self
            .inner
            .queues
            .read()
            .keys()
            .filter(|n| prefix.is_none_or(|p| n.starts_with(p)))
            .cloned()
            .collect();
        names.sort();
        names
    }

    pub async fn delete_queue(&self, cell: &QueueCell) -> ApiResult<()> {
        let (_, committed) = {
            let mut queues = self.inner.queues.write();
            if queues.get(&cell.name).is_some_and(|c| c.id == cell.id) {
                queues.remove(&cell.name);
            }
            // Under the queue's lock: a send that got the cell before the
            // delete either records its insert before DeleteQueue or sees
            // `deleted` and fails, so no message outlives its queue.
            cell.change_committed(&self.inner.journal, |_, ops| {
                cell.deleted.store(true, Ordering::SeqCst);
                ops.push(Op::DeleteQueue(cell.id));
            })
        };
        cell.notify.notify_waiters();
        wait(committed).await
    }

    /// The attribute map plus the computed ones, filtered by `names` (`All`
    /// for every one). Unknown names are an error.
    pub fn get_attributes(&self, cell: &QueueCell, names: &[String]) -> ApiResult<AttributeMap> {
        for n in names {
            if !settings::is_known(n) {
                return Err(ApiError::new(
                    ErrorKind::InvalidAttributeName,
                    format!("Unknown Attribute {n}."),
                ));
            }
        }
        cell.unjournaled(|q| Self::attributes_of(q, names))
    }

    fn attributes_of(q: &mut Queue, names: &[String]) -> ApiResult<AttributeMap> {
        let counts: Counts = q.counts(now_ms());
        let mut all = q.attributes.clone();
        all.insert("QueueArn".into(), q.arn.clone());
        all.insert(
            "ApproximateNumberOfMessages".into(),
            counts.ready.to_string(),
        );
        all.insert(
            "ApproximateNumberOfMessagesNotVisible".into(),
            counts.inflight.to_string(),
        );
        all.insert(
            "ApproximateNumberOfMessagesDelayed".into(),
            counts.delayed.to_string(),
        );
        all.insert("CreatedTimestamp".into(), q.created_at.to_string());
        all.insert("LastModifiedTimestamp".into(), q.modified_at.to_string());
        if names.iter().any(|n| n == "All") {
            return Ok(all);
        }
        Ok(all.into_iter().filter(|(k, _)| names.contains(k)).collect())
    }

    pub async fn set_attributes(
        &self,
        cell: &QueueCell,
        attributes: AttributeMap,
    ) -> ApiResult<()> {
        let fifo = cell.unjournaled(|q| q.is_fifo());
        for (k, v) in &attributes {
            settings::check(k, v, fifo, false)?;
        }
        self.check_redrive(&attributes, fifo)?;
        let (_, committed) = cell.change_committed(&self.inner.journal, |q, ops| {
            let mut all = q.attributes.clone();
            apply_attribute_changes(&mut all, attributes);
            q.set_attributes(all, unix_secs());
            ops.push(Op::PutQueue(q.record()));
        });
        // A shorter wait or delay may concern waiting receivers.
        cell.notify.notify_waiters();
        wait(committed).await
    }

    pub async fn tag(&self, cell: &QueueCell, tags: BTreeMap<String, String>) -> ApiResult<()> {
        check_tags(&tags)?;
        self.update_tags(cell, |t| t.extend(tags)).await
    }

    pub async fn untag(&self, cell: &QueueCell, keys: &[String]) -> ApiResult<()> {
        self.update_tags(cell, |t| t.retain(|k, _| !keys.contains(k)))
            .await
    }

    async fn update_tags(
        &self,
        cell: &QueueCell,
        change: impl FnOnce(&mut BTreeMap<String, String>),
    ) -> ApiResult<()> {
        let (changed, committed) = cell.change_committed(&self.inner.journal, |q, ops| {
            let mut tags = q.tags.clone();
            change(&mut tags);
            if tags.len() > 50 {
                return Err(ApiError::invalid("Too many tags: a queue has at most 50."));
            }
            q.tags = tags;
            ops.push(Op::PutQueue(q.record()));
            Ok(())
        });
        changed?;
        wait(committed).await
    }

    /// Queues whose redrive policy names this one.
    pub fn dead_letter_sources(&self, cell: &QueueCell) -> Vec<String> {
        let arn = cell.unjournaled(|q| q.arn.clone());
        let queues: Vec<Arc<QueueCell>> = self.inner.queues.read().values().cloned().collect();
        let mut names: Vec<String> = queues
            .iter()
            .filter(|c| {
                c.state
                    .lock()
                    .settings
                    .redrive
                    .as_ref()
                    .is_some_and(|r| r.dead_letter_target_arn == arn)
            })
            .map(|c| c.name.clone())
            .collect();
        names.sort();
        names
    }
}

/// The redrive policy among attributes being set, parsed; None when there
/// is none (or it is being removed).
pub fn redrive_in(attributes: &AttributeMap) -> ApiResult<Option<settings::RedrivePolicy>> {
    let Some(policy) = attributes.get("RedrivePolicy").filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    settings::parse_redrive(policy)
        .map(Some)
        .map_err(|why| ApiError::new(ErrorKind::InvalidAttributeValue, why))
}

/// A redrive policy's target must exist (`dlq_fifo` is None when it does
/// not) and be of the source queue's type.
pub fn check_redrive_target(
    policy: &settings::RedrivePolicy,
    fifo: bool,
    dlq_fifo: Option<bool>,
) -> ApiResult<()> {
    let invalid = |why: &str| {
        ApiError::new(
            ErrorKind::InvalidAttributeValue,
            format!("Value {{\"deadLetterTargetArn\":\"{}\",\"maxReceiveCount\":\"{}\"}} for parameter RedrivePolicy is invalid. Reason: {why}",
                policy.dead_letter_target_arn, policy.max_receive_count),
        )
    };
    match dlq_fifo {
        None => Err(invalid("Dead letter target does not exist.")),
        Some(dlq_fifo) if dlq_fifo != fifo => Err(invalid(
            "Dead-letter target owner queue and source queue must be of the same type (standard or FIFO).",
        )),
        Some(_) => Ok(()),
    }
}

/// SetQueueAttributes' changes applied to a queue's attributes: an empty
/// `RedrivePolicy`, `RedriveAllowPolicy` or `Policy` removes it.
pub fn apply_attribute_changes(all: &mut AttributeMap, changes: AttributeMap) {
    for (k, v) in changes {
        if v.is_empty()
            && matches!(
                k.as_str(),
                "RedrivePolicy" | "RedriveAllowPolicy" | "Policy"
            )
        {
            all.remove(&k);
        } else {
            all.insert(k, v);
        }
    }
}

/// A new queue's name and attributes, wherever the queue will live; true
/// for a FIFO queue.
pub fn check_new_queue(name: &str, attributes: &AttributeMap) -> ApiResult<bool> {
    let fifo = settings::check_queue_name(name).map_err(ApiError::invalid)?;
    if let Some(v) = attributes.get("FifoQueue") {
        if (v == "true") != fifo {
            return Err(ApiError::invalid(
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.",
            ));
        }
    }
    for (k, v) in attributes {
        settings::check(k, v, fifo, true)?;
    }
    Ok(fifo)
}

/// Queue tags: at most 50, keys 1-128 characters, values at most 256.
pub fn check_tags(tags: &BTreeMap<String, String>) -> ApiResult<()> {
    if tags.len() > 50 {
        return Err(ApiError::invalid("Too many tags: a queue has at most 50."));
    }
    for (k, v) in tags {
        if k.is_empty() || k.len() > 128 || v.len() > 256 {
            return Err(ApiError::invalid(format!(
                "Tag {k}: keys are 1-128 characters and values at most 256."
            )));
        }
    }
    Ok(())
}
