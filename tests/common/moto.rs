//! moto's S3 server (from pip; `.ci/setup` installs it) on 127.0.0.1, for
//! flows with S3 destinations.

/// moto's S3 server on a free port, stopped on drop.
pub struct Moto {
    child: std::process::Child,
    pub url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn moto() -> Moto {
    // A free port found here can be taken by another test's server before
    // moto binds it: the answer must be moto's own (an S3 bucket list), and
    // a moto that exited (its port was taken) is started again elsewhere.
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 with moto[server] (.ci/setup installs it)");
        let url = format!("http://127.0.0.1:{port}");
        // Owned by the guard from here, so every path below kills it.
        let mut moto = Moto { child, url };
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(resp) = client.get(&moto.url).send().await {
                if resp
                    .text()
                    .await
                    .is_ok_and(|t| t.contains("ListAllMyBucketsResult"))
                {
                    return moto;
                }
            }
            if moto.child.try_wait().ok().flatten().is_some() {
                break; // exited: its port was taken
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    panic!("moto's server did not start");
}

impl Moto {
    /// A signed client for one bucket (moto refuses anonymous reads), and
    /// the bucket created.
    pub fn bucket(&self, name: &str) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_endpoint(&self.url)
            .with_bucket_name(name)
            .with_region("us-east-1")
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .with_allow_http(true)
            .build()
            .unwrap()
    }

    /// Creates a bucket.
    pub async fn create_bucket(&self, name: &str) {
        let created = reqwest::Client::new()
            .put(format!("{}/{name}", self.url))
            .send()
            .await
            .unwrap();
        assert!(created.status().is_success(), "{:?}", created.text().await);
    }

    /// The `s3:` options of a flow destination in this bucket.
    pub fn destination_options(&self) -> String {
        format!(
            "  s3:\n    endpoint: {}\n    region: us-east-1\n    access_key_id: test\n    secret_access_key: test\n    allow_http: true\n",
            self.url
        )
    }

    /// An object's bytes.
    pub async fn get(&self, bucket: &str, key: &str) -> bytes::Bytes {
        use object_store::ObjectStoreExt;
        let path = object_store::path::Path::from(key);
        self.bucket(bucket)
            .get(&path)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
    }
}
