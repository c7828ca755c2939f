//! `jobs/<id>.yaml`: a job definition (AWS Batch's), checked.

use super::diagnostics::Reporter;
use super::model::{Config, JobDefinition, JobIntegration};
use super::raw::JobIntegrationRaw;
use super::units::ByteSize;
use super::worker_raw::CommandRaw;
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// A job definition: the command a job runs, with `Ref::NAME` in its
/// arguments filled from the job's parameters (these are the defaults).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobDefinitionFile {
    pub description: Option<String>,
    pub command: CommandRaw,
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    /// Attempts before the job fails, 1-10 (AWS Batch's retry strategy).
    /// Default 1.
    pub attempts: Option<u32>,
    /// Higher runs first. Default 1.
    pub priority: Option<i32>,
    /// Reserved from the compute environment while it runs. Default 1.
    pub vcpus: Option<u32>,
    /// Reserved while it runs. Default 256MiB.
    pub memory: Option<ByteSize>,
    /// Submit a job (with the default parameters) on this schedule:
    /// `rate(N seconds|minutes|hours|days)`, fired once per tick across a
    /// fleet.
    pub schedule: Option<String>,
}

pub fn definition(
    id: &str,
    raw: JobDefinitionFile,
    root: &Path,
    settings: &Config,
    r: &mut Reporter,
) -> Option<JobDefinition> {
    let attempts = raw.attempts.unwrap_or(1);
    if !(1..=10).contains(&attempts) {
        r.error("attempts", format!("{attempts}: between 1 and 10"));
    }
    let vcpus = raw.vcpus.unwrap_or(1);
    let memory = raw.memory.map_or(256 * 1024 * 1024, |m| m.0);
    let budget = settings.job_compute;
    if vcpus == 0 || vcpus > budget.vcpus {
        r.error(
            "vcpus",
            format!("{vcpus}: between 1 and the compute environment's {} (`jobs.vcpus` in gatehouse.yaml)", budget.vcpus),
        );
    }
    if memory > budget.memory {
        r.error(
            "memory",
            format!(
                "more than the compute environment's {} bytes (`jobs.memory` in gatehouse.yaml)",
                budget.memory
            ),
        );
    }
    let every = match raw.schedule.as_deref().map(super::flows::parse_schedule) {
        None => None,
        Some(Ok(super::flow_spec::Schedule::Every(d))) => Some(d),
        Some(Ok(super::flow_spec::Schedule::Cron(_))) => {
            r.error(
                "schedule",
                "job schedules take `rate(...)`; cron expressions are for flows",
            );
            None
        }
        Some(Err(m)) => {
            r.error("schedule", m);
            None
        }
    };
    let command = super::command::command(raw.command, root, "command", r)?;
    for arg in &command.args {
        if let Some(name) = arg.strip_prefix("Ref::") {
            if !raw.parameters.contains_key(name) {
                r.error(
                    "command.args",
                    format!("`{arg}`: no default for parameter `{name}` under `parameters`"),
                );
            }
        }
    }
    Some(JobDefinition {
        id: id.to_string(),
        command,
        parameters: raw.parameters,
        attempts: attempts.clamp(1, 10),
        priority: raw.priority.unwrap_or(1),
        vcpus: vcpus.max(1),
        memory,
        every,
    })
}

/// A route's `job` integration: the definition exists, and what fills its
/// parameters (the body, path parameters) names parameters it has.
pub fn integration(
    raw: &JobIntegrationRaw,
    settings: &Config,
    path: &str,
    r: &mut Reporter,
) -> Option<JobIntegration> {
    let Some(def) = settings.job_definitions.get(&raw.definition) else {
        let known: Vec<&str> = settings
            .job_definitions
            .keys()
            .map(String::as_str)
            .collect();
        r.error(
            &format!("{path}.definition"),
            format!(
                "no job definition `{}` in jobs/{}",
                raw.definition,
                super::de::did_you_mean(&raw.definition, &known)
            ),
        );
        return None;
    };
    if let Some(p) = raw
        .body_parameter
        .as_ref()
        .filter(|p| !def.parameters.contains_key(*p))
    {
        r.error(
            &format!("{path}.body_parameter"),
            format!(
                "`{}` has no parameter `{p}` (declare it under `parameters`)",
                def.id
            ),
        );
    }
    Some(JobIntegration {
        definition: raw.definition.clone(),
        body_parameter: raw.body_parameter.clone(),
    })
}
