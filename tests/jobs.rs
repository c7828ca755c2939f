//! Jobs (AWS Batch's model) against the real server: submitted through the
//! admin API and the CLI, run by a Python command on a one-vCPU compute
//! environment: success with Batch's variables, retries, failure after
//! the last attempt, timeouts, cancel (the process killed), priorities, and
//! array jobs.

mod common;

use common::{client, eventually, get_json, Gatehouse};
use serde_json::{json, Value};
use std::time::Duration;

struct Setup {
    gh: Gatehouse,
    out: tempfile::TempDir,
}

fn start() -> Setup {
    let out = tempfile::tempdir().unwrap();
    let gh = Gatehouse::start("jobs", &[("OUT_DIR", out.path().display().to_string())]);
    Setup { gh, out }
}

impl Setup {
    async fn submit(&self, body: Value) -> Vec<String> {
        let resp = client()
            .post(self.gh.admin_url("/jobs"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202);
        let v: Value = resp.json().await.unwrap();
        v["job_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_str().unwrap().to_string())
            .collect()
    }

    async fn job(&self, id: &str) -> Value {
        get_json(&self.gh.admin_url(&format!("/jobs/{id}"))).await
    }

    /// Waits (up to 30s) for the job to reach `status`.
    async fn until(&self, id: &str, status: &str) -> Value {
        let what = format!("{id} to be {status}");
        eventually(&what, Duration::from_secs(30), || async {
            let job = self.job(id).await;
            (job["status"] == status).then_some(job)
        })
        .await
    }

    fn runs(&self) -> Vec<Value> {
        std::fs::read_to_string(self.out.path().join("runs.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

#[tokio::test]
async fn jobs_run_retry_fail_and_time_out() {
    let s = start();
    let ok = s.submit(json!({"definition": "task"})).await;
    let done = s.until(&ok[0], "SUCCEEDED").await;
    assert_eq!(done["attempts"], 1);
    assert_eq!(done["exit_code"], 0);
    assert_eq!(done["output"], "ok here\n");
    let run = s
        .runs()
        .into_iter()
        .find(|r| r["job"] == ok[0].as_str())
        .unwrap();
    assert_eq!(run["attempt"], "1");
    // Only the listed environment and Batch's variables.
    assert_eq!(
        run["env"],
        json!([
            "AWS_BATCH_JOB_ATTEMPT",
            "AWS_BATCH_JOB_ID",
            "LC_ALL",
            "OUT_DIR"
        ])
    );

    let flaky = s
        .submit(json!({"definition": "task", "parameters": {"mode": "flaky"}}))
        .await;
    let done = s.until(&flaky[0], "SUCCEEDED").await;
    assert_eq!(done["attempts"], 2, "{done}");

    let failing = s
        .submit(json!({"definition": "task", "parameters": {"mode": "fail"}}))
        .await;
    let failed = s.until(&failing[0], "FAILED").await;
    assert_eq!(
        (failed["attempts"].clone(), failed["exit_code"].clone()),
        (json!(3), json!(4))
    );
    assert_eq!(failed["reason"], "exit code 4");

    let hanging = s
        .submit(json!({"definition": "task", "parameters": {"mode": "hang"}, "priority": 5}))
        .await;
    let running = s.until(&hanging[0], "RUNNING").await;
    assert!(running["started_at"].is_string());
    // Three attempts of 2 s each.
    let timed_out = s.until(&hanging[0], "FAILED").await;
    assert_eq!(timed_out["reason"], "timed out after 2s");

    // Bad submissions are refused with the reason.
    for (body, why) in [
        (
            json!({"definition": "nope"}),
            "no job definition `nope` in jobs/",
        ),
        (
            json!({"definition": "task", "parameters": {"colour": "red"}}),
            "`colour` is not a parameter of `task` (it has: mode)",
        ),
        (
            json!({"definition": "task", "array_size": 1}),
            "an array job has 2 to 10000 children",
        ),
    ] {
        let resp = client()
            .post(s.gh.admin_url("/jobs"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        assert_eq!(resp.json::<Value>().await.unwrap()["message"], why);
    }
}

/// Cancelling a running job kills its process; a job that has not started
/// fails at once; a finished one cannot be cancelled.
#[tokio::test]
async fn cancel_kills_a_running_job() {
    let s = start();
    let hanging = s
        .submit(json!({"definition": "task", "parameters": {"mode": "hang"}}))
        .await;
    let queued = s.submit(json!({"definition": "task"})).await;
    s.until(&hanging[0], "RUNNING").await;
    let pid = loop {
        if let Some(r) = s
            .runs()
            .into_iter()
            .find(|r| r["job"] == hanging[0].as_str())
        {
            break r["pid"].as_i64().unwrap() as i32;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The queued one waits for the only vCPU: cancelling it stops it.
    let cancel = |id: String| {
        let url = s.gh.admin_url(&format!("/jobs/{id}/cancel"));
        async move { client().post(url).send().await.unwrap() }
    };
    let resp = cancel(queued[0].clone()).await;
    assert_eq!(resp.json::<Value>().await.unwrap()["cancelled"], "stopped");
    let resp = cancel(hanging[0].clone()).await;
    assert_eq!(
        resp.json::<Value>().await.unwrap()["cancelled"],
        "requested"
    );
    let failed = s.until(&hanging[0], "FAILED").await;
    assert_eq!(failed["reason"], "cancelled through the admin API");
    assert_eq!(failed["attempts"], 1, "a cancelled job is not retried");
    let alive = rustix::process::test_kill_process(rustix::process::Pid::from_raw(pid).unwrap());
    assert!(alive.is_err(), "the job's process survived its cancel");
    assert_eq!(s.job(&queued[0]).await["status"], "FAILED");
    assert_eq!(cancel(hanging[0].clone()).await.status(), 409);
}

/// On one vCPU, a higher-priority job submitted later runs before a
/// lower-priority one; array jobs get one child per index; the CLI
/// submits into the store the server runs from.
#[tokio::test]
async fn priorities_arrays_and_the_cli() {
    let s = start();
    let blocker = s
        .submit(json!({"definition": "task", "parameters": {"mode": "slow"}}))
        .await;
    s.until(&blocker[0], "RUNNING").await;
    let low = s.submit(json!({"definition": "task", "priority": 1})).await;
    let high = s.submit(json!({"definition": "task", "priority": 9})).await;
    s.until(&low[0], "SUCCEEDED").await;
    let order: Vec<String> = s
        .runs()
        .iter()
        .map(|r| r["job"].as_str().unwrap().to_string())
        .collect();
    let at = |id: &str| order.iter().position(|j| j == id).unwrap();
    assert!(at(&high[0]) < at(&low[0]), "{order:?}");

    let children = s
        .submit(json!({"definition": "task", "array_size": 3}))
        .await;
    assert_eq!(children.len(), 3);
    for (i, child) in children.iter().enumerate() {
        assert!(child.ends_with(&format!(":{i}")));
        s.until(child, "SUCCEEDED").await;
        let run = s
            .runs()
            .into_iter()
            .find(|r| r["job"] == child.as_str())
            .unwrap();
        assert_eq!(run["index"], i.to_string());
    }

    let out =
        s.gh.cli(&["jobs", "submit", "task", "--param", "mode=flaky"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = v["job_ids"][0].as_str().unwrap().to_string();
    s.until(&id, "SUCCEEDED").await;
    let listed = s.gh.cli(&["jobs", "list", "--status", "succeeded"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&id));
    let described = s.gh.cli(&["jobs", "describe", &id]);
    let v: Value = serde_json::from_slice(&described.stdout).unwrap();
    assert_eq!(v["attempts"], 2);
    let bad = s.gh.cli(&["jobs", "submit", "task", "--param", "nonsense"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected NAME=VALUE"));
}

/// A route submits a job (202 with its id; path parameters and the body
/// fill the definition's parameters) and a queue worker submits one per
/// message: the last steps of webhook -> flow -> topic -> worker -> job.
#[tokio::test]
async fn routes_and_workers_submit_jobs() {
    let s = start();
    let resp = client()
        .post(s.gh.url("/reports/flaky"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["jobName"], "task");
    let id = v["jobId"].as_str().unwrap().to_string();
    let done = s.until(&id, "SUCCEEDED").await;
    assert_eq!(done["parameters"]["mode"], "flaky");
    assert_eq!(done["attempts"], 2);

    let resp = client()
        .post(s.gh.url("/reports/echo"))
        .body("from the body")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let id = resp.json::<Value>().await.unwrap()["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    s.until(&id, "SUCCEEDED").await;
    let run = s
        .runs()
        .into_iter()
        .find(|r| r["job"] == id.as_str())
        .unwrap();
    assert_eq!(run["message"], "from the body");

    // A bad body is the client's error.
    let resp = client()
        .post(s.gh.url("/reports/echo"))
        .body(vec![0xff, 0xfe])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    let sqs = common::aws::sqs(&s.gh);
    sqs.send_message()
        .queue_url(format!(
            "{}/000000000000/job-requests",
            s.gh.messaging_url()
        ))
        .message_body("from a queue")
        .send()
        .await
        .unwrap();
    eventually("the worker's job", Duration::from_secs(30), || async {
        s.runs()
            .iter()
            .any(|r| r["message"] == "from a queue")
            .then_some(())
    })
    .await;
}

/// A definition with `schedule: rate(1 second)` gets a job each second
/// (not at start-up), with its default parameters.
#[tokio::test]
async fn scheduled_definitions_submit_jobs() {
    let out = tempfile::tempdir().unwrap();
    let gh = Gatehouse::start_with(
        "jobs",
        common::Options {
            env: vec![("OUT_DIR", out.path().display().to_string())],
            ..Default::default()
        },
        |dir| {
            std::fs::write(
                dir.join("jobs/tick.yaml"),
                "command:\n  program: /usr/bin/python3\n  args: [scripts/job.py, Ref::mode]\n  env: {OUT_DIR: \"${OUT_DIR}\", LC_ALL: C.UTF-8}\nparameters: {mode: ok}\nschedule: rate(1 second)\n",
            )
            .unwrap();
        },
    );
    let s = Setup { gh, out };
    let ticks = eventually("two scheduled jobs", Duration::from_secs(30), || async {
        let v = get_json(&s.gh.admin_url("/jobs?status=SUCCEEDED")).await;
        let ticks: Vec<Value> = v["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j["definition"] == "tick")
            .cloned()
            .collect();
        (ticks.len() >= 2).then_some(ticks)
    })
    .await;
    assert!(ticks
        .iter()
        .all(|j| j["parameters"].as_object().unwrap().is_empty()));
    assert_ne!(ticks[0]["created_at"], ticks[1]["created_at"]);
}
