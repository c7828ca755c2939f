//! Messages: send, receive (with long polling and the dead-letter count),
//! delete, change visibility, purge. Each changes a queue through
//! `QueueCell::change`, so the journal sees every change under its lock.

use super::*;

impl Broker {
    /// Sends a batch; each entry succeeds or fails on its own. Every message
    /// is checked here (body characters, attribute names, types and count),
    /// whoever sends it: the SQS API, a gateway route, an SNS fan-out.
    pub async fn send(
        &self,
        cell: &QueueCell,
        batch: Vec<NewMessage>,
    ) -> ApiResult<Vec<ApiResult<SendOk>>> {
        let now = now_ms();
        let mut results = Vec::with_capacity(batch.len());
        let mut fresh = 0;
        let (sent, committed) = cell.change_committed(&self.inner.journal, |q, ops| {
            if cell.deleted.load(Ordering::SeqCst) {
                return Err(ApiError::no_queue());
            }
            let fifo = q.is_fifo();
            for new in batch {
                if let Err(e) =
                    check_body(&new.body).and_then(|()| check_attributes(&new.attributes))
                {
                    results.push(Err(e));
                    continue;
                }
                let md5_of_attributes = md5_of_attributes(&new.attributes);
                let md5_of_body = crate::messaging::message::md5_hex(new.body.as_bytes());
                let seq = self.next_seq();
                let id: Arc<str> = new_message_id().into();
                let result = q.send(new, seq, id, now, ops).map_err(ApiError::from).map(
                    |(sent, duplicate)| {
                        if !duplicate {
                            fresh += 1;
                        }
                        SendOk {
                            message_id: sent.message_id.to_string(),
                            md5_of_body,
                            md5_of_attributes,
                            sequence_number: fifo.then(|| sequence_number(sent.seq)),
                        }
                    },
                );
                results.push(result);
            }
            Ok(())
        });
        sent?;
        wait(committed).await?;
        for _ in 0..fresh {
            cell.notify.notify_one();
        }
        let accepted = results.iter().filter(|r| r.is_ok()).count();
        crate::messaging::metrics::count(&crate::messaging::metrics::SENT, &cell.name, accepted);
        Ok(results)
    }

    /// Receives, waiting up to the wait time for a message to arrive or
    /// become visible. The waiter sleeps on the queue's `Notify` and on the
    /// queue's next timer; there is no polling loop.
    pub async fn receive(
        &self,
        cell: &QueueCell,
        req: &ReceiveRequest,
    ) -> ApiResult<Vec<Delivery>> {
        let wait = req
            .wait_seconds
            .unwrap_or_else(|| cell.unjournaled(|q| q.settings.wait_seconds));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait as u64);
        loop {
            let notified = cell.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (got, next_due) = self.receive_now(cell, req).await?;
            let now = tokio::time::Instant::now();
            if !got.is_empty()
                || now >= deadline
                || cell.deleted.load(Ordering::SeqCst)
                || self.inner.closing.load(Ordering::SeqCst)
            {
                return Ok(got);
            }
            let wake = next_due
                .map(|due| {
                    let ms = (due - now_ms()).max(1) as u64;
                    now + Duration::from_millis(ms)
                })
                .map_or(deadline, |t| t.min(deadline));
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    async fn receive_now(
        &self,
        cell: &QueueCell,
        req: &ReceiveRequest,
    ) -> ApiResult<(Vec<Delivery>, Option<i64>)> {
        let now = now_ms();
        let redrive = cell.unjournaled(|q| q.settings.redrive.clone());
        let dlq = redrive
            .as_ref()
            .and_then(|r| self.queue_by_arn(&r.dead_letter_target_arn));
        let max_receive = redrive
            .filter(|_| dlq.is_some())
            .map(|r| r.max_receive_count);
        let (received, next_due, fifo, origins) = cell.change(&self.inner.journal, |q, ops| {
            let visibility = req.visibility.unwrap_or(q.settings.visibility_timeout);
            let received = q.receive(
                req.max,
                visibility,
                max_receive,
                req.attempt_id.as_deref(),
                now,
                ops,
            );
            let origins: Vec<Option<u64>> = received
                .messages
                .iter()
                .map(|m| q.origin_of(m.seq))
                .collect();
            (received, q.next_due(), q.is_fifo(), origins)
        });
        let changed = !received.messages.is_empty() || !received.dead.is_empty();
        if let (Some(dlq), false) = (&dlq, received.dead.is_empty()) {
            crate::messaging::metrics::count(
                &crate::messaging::metrics::MOVED_TO_DLQ,
                &cell.name,
                received.dead.len(),
            );
            self.dead_letter(dlq, received.dead, cell.id, now);
        }
        if changed {
            self.barrier().await?;
        }
        let deliveries = received
            .messages
            .into_iter()
            .zip(origins)
            .map(|(message, origin)| Delivery {
                receipt: Receipt {
                    queue_id: cell.id,
                    seq: message.seq,
                    nonce: message.nonce,
                }
                .encode(),
                message,
                fifo,
                dead_letter_source: origin
                    .and_then(|id| self.queue_by_id(id))
                    .map(|source| self.naming().queue_arn(&source.name)),
            })
            .collect();
        Ok((deliveries, next_due))
    }

    fn dead_letter(&self, dlq: &QueueCell, dead: Vec<Message>, origin: u64, now: i64) {
        dlq.change(&self.inner.journal, |d, ops| {
            for message in dead {
                d.accept_moved(message, Some(origin), now, ops);
            }
        });
        dlq.notify.notify_waiters();
    }

    /// Deletes by receipt handle; each entry succeeds or fails on its own.
    pub async fn delete(
        &self,
        cell: &QueueCell,
        handles: &[String],
    ) -> ApiResult<Vec<ApiResult<()>>> {
        let mut results = Vec::with_capacity(handles.len());
        let mut released = false;
        cell.change(&self.inner.journal, |q, ops| {
            for handle in handles {
                let result = Receipt::decode(handle).and_then(|r| Ok(q.delete(&r, ops)?));
                released |= matches!(result, Ok(true));
                results.push(result.map(|_| ()));
            }
        });
        if released {
            self.barrier().await?;
            // Deleting unblocks a FIFO group.
            cell.notify.notify_one();
        }
        Ok(results)
    }

    pub async fn change_visibility(
        &self,
        cell: &QueueCell,
        entries: &[(String, u32)],
    ) -> ApiResult<Vec<ApiResult<()>>> {
        let now = now_ms();
        let results: Vec<ApiResult<()>> = cell.change(&self.inner.journal, |q, ops| {
            entries
                .iter()
                .map(|(handle, timeout)| {
                    if *timeout > 43_200 {
                        return Err(ApiError::invalid(format!(
                            "Value {timeout} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200."
                        )));
                    }
                    let receipt = Receipt::decode(handle)?;
                    Ok(q.change_visibility(&receipt, *timeout, now, ops)?)
                })
                .collect()
        });
        if results.iter().any(Result::is_ok) {
            self.barrier().await?;
            cell.notify.notify_waiters();
        }
        Ok(results)
    }

    pub async fn purge(&self, cell: &QueueCell) -> ApiResult<()> {
        cell.change(&self.inner.journal, |q, ops| q.purge(now_ms(), ops))?;
        self.barrier().await
    }
}
