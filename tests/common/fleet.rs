//! A fleet for tests: gatehouse processes sharing one PostgreSQL schema and
//! one Redis key prefix (each test its own), on the `fleet` fixture.

use super::{client, json, Gatehouse, Options};

pub const STORE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

pub struct Fleet {
    pub nodes: Vec<Gatehouse>,
    pub schema: String,
}

impl Fleet {
    pub fn start(n: usize, test: &str) -> Fleet {
        Fleet::start_with(n, test, |_| {})
    }

    /// As `start`, with `prepare` run on each node's folder first.
    pub fn start_with(
        n: usize,
        test: &str,
        prepare: impl Fn(&std::path::Path) + Clone + Send + 'static,
    ) -> Fleet {
        let schema = format!(
            "fleet_{test}_{}_{:x}",
            std::process::id(),
            fastrand::u32(..)
        );
        let env = vec![
            ("STORE_URL", STORE_URL.to_string()),
            ("STORE_SCHEMA", schema.clone()),
            ("REDIS_URL", REDIS_URL.to_string()),
            ("REDIS_PREFIX", format!("{schema}:")),
        ];
        // All at once: their migrations must not collide.
        let starting: Vec<_> = (0..n)
            .map(|_| {
                let (env, prepare) = (env.clone(), prepare.clone());
                std::thread::spawn(move || {
                    let env: Vec<(&str, String)> =
                        env.iter().map(|(k, v)| (*k, v.clone())).collect();
                    Gatehouse::start_with(
                        "fleet",
                        Options {
                            env,
                            ..Default::default()
                        },
                        prepare,
                    )
                })
            })
            .collect();
        let nodes = starting.into_iter().map(|t| t.join().unwrap()).collect();
        Fleet { nodes, schema }
    }

    pub fn node(&self, i: usize) -> &Gatehouse {
        &self.nodes[i % self.nodes.len()]
    }

    pub async fn drop_schema(&self) {
        let (pg, conn) = tokio_postgres::connect(STORE_URL, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        pg.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema))
            .await
            .unwrap();
    }
}

pub async fn create_key(node: &Gatehouse, plan: &str) -> (String, String) {
    let resp = client()
        .post(node.admin_url("/keys"))
        .json(&serde_json::json!({"plan": plan}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let body = json(resp).await;
    (
        body["id"].as_str().unwrap().to_string(),
        body["key"].as_str().unwrap().to_string(),
    )
}

pub async fn get(node: &Gatehouse, path: &str, key: Option<&str>) -> u16 {
    let mut req = client().get(node.url(path));
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    req.send().await.unwrap().status().as_u16()
}
