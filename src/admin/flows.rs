//! The flows API on the admin listener:
//!
//! - `GET /flows`: every flow with its schedule, state and last run
//! - `GET /flows/NAME`: one of them
//! - `POST /flows/NAME/runs`: start a run (the body is a `webhook` flow's
//!   records) -> 202 with the run id
//! - `GET /flows/NAME/runs?limit=N`: history, newest first
//! - `GET /flows/NAME/runs/RUN`: one run, with its files
//! - `POST /flows/NAME/activate`: turn a deactivated schedule back on

use crate::flows::engine::Engine;
use crate::flows::error::FlowError;
use http::StatusCode;
use serde_json::{json, Value};

pub enum Request {
    List,
    Show(String),
    Start(String, bytes::Bytes),
    Runs(String, usize),
    Run(String, String),
    Activate(String),
}

/// Status and JSON body for a flows request.
pub async fn handle(engine: &Engine, req: Request) -> (StatusCode, Value) {
    let result = match req {
        Request::Start(name, body) => start(engine, &name, body),
        other => read(engine, other).await,
    };
    result.unwrap_or_else(|e| {
        let (status, code) = e.status();
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, json!({"message": e.to_string(), "code": code}))
    })
}

fn start(
    engine: &Engine,
    name: &str,
    body: bytes::Bytes,
) -> Result<(StatusCode, Value), FlowError> {
    let payload = engine.payload(name, body)?;
    let run_id = engine.start(name, "on_demand", payload)?;
    Ok((
        StatusCode::ACCEPTED,
        json!({"flow": name, "run_id": run_id}),
    ))
}

async fn read(engine: &Engine, req: Request) -> Result<(StatusCode, Value), FlowError> {
    let ok = |v: Value| Ok((StatusCode::OK, v));
    match req {
        Request::List => ok(json!({"flows": engine.overview().await?})),
        Request::Show(name) => {
            engine.spec(&name)?;
            let flow = engine
                .overview()
                .await?
                .into_iter()
                .find(|f| f["flow"] == name.as_str())
                .ok_or(FlowError::UnknownFlow(name))?;
            ok(flow)
        }
        Request::Runs(name, limit) => {
            engine.spec(&name)?;
            let runs = engine.store().runs(Some(&name), limit).await?;
            ok(json!({"runs": runs}))
        }
        Request::Run(name, id) => {
            engine.spec(&name)?;
            match engine.store().run(&id).await?.filter(|r| r.flow == name) {
                Some(run) => ok(serde_json::to_value(run).unwrap_or_default()),
                None => Ok((
                    StatusCode::NOT_FOUND,
                    json!({"message": format!("no run `{id}` of flow `{name}`"), "code": "NotFound"}),
                )),
            }
        }
        Request::Activate(name) => {
            engine.activate(&name).await?;
            ok(json!({"flow": name, "deactivated": false}))
        }
        Request::Start(..) => Err(FlowError::Store("not a read".into())),
    }
}
