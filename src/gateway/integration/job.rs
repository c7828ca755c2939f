//! The `job` integration, as AWS Batch's SubmitJob behind an API: the
//! route's path parameters named like the definition's parameters fill
//! them, the body fills `body_parameter` if the route names one, and the
//! client gets 202 `{"jobId", "jobName"}` once the job is stored (the
//! scheduler runs it later; `GET /jobs/ID` on the admin API follows it).

use crate::config::model::{Config, JobIntegration};
use crate::config::path_template::Params;
use crate::gateway::errors::GatewayError;
use crate::store::jobs::JobStore;
use bytes::Bytes;

/// A parameter from a body: at most this long.
const MAX_BODY_PARAMETER: usize = 64 * 1024;

pub async fn submit(
    store: &dyn JobStore,
    config: &Config,
    target: &JobIntegration,
    params: &Params,
    body: Bytes,
) -> Result<serde_json::Value, GatewayError> {
    let def = config
        .job_definitions
        .get(&target.definition)
        .ok_or(GatewayError::Internal)?;
    let mut parameters: std::collections::BTreeMap<String, String> = params
        .iter()
        .filter(|(k, _)| def.parameters.contains_key(k))
        .cloned()
        .collect();
    if let Some(name) = &target.body_parameter {
        if body.len() > MAX_BODY_PARAMETER {
            return Err(GatewayError::BadRequest(format!(
                "the body is larger than {MAX_BODY_PARAMETER} bytes"
            )));
        }
        let text = String::from_utf8(body.to_vec()).map_err(|_| {
            GatewayError::BadRequest("the body must be UTF-8 text to be a job parameter".into())
        })?;
        parameters.insert(name.clone(), text);
    }
    let req = crate::jobs::Submit {
        definition: target.definition.clone(),
        parameters,
        array_size: None,
        priority: None,
    };
    let ids = crate::jobs::submit(store, config, req)
        .await
        .map_err(|e| match e {
            crate::jobs::SubmitError::Invalid(why) => GatewayError::BadRequest(why),
            crate::jobs::SubmitError::Store(e) => {
                tracing::warn!(error = %e, "job integration: the job store is unavailable");
                GatewayError::Unavailable("the job store is unavailable; retry shortly".into())
            }
        })?;
    Ok(serde_json::json!({
        "jobId": ids.first().cloned().unwrap_or_default(),
        "jobName": target.definition,
    }))
}
