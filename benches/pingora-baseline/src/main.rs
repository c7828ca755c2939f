//! The smallest useful pingora proxy: every request goes to one upstream.
//! Usage: pingora-baseline LISTEN UPSTREAM THREADS

use async_trait::async_trait;
use pingora::prelude::*;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Baseline {
    upstream: String,
}

#[async_trait]
impl ProxyHttp for Baseline {
    type CTX = ();
    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.upstream.as_str(), false, String::new())))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (listen, upstream) = (args[1].clone(), args[2].clone());
    let mut conf = pingora::server::configuration::ServerConf::default();
    conf.threads = args.get(3).and_then(|t| t.parse().ok()).unwrap_or(1);
    conf.work_stealing = false;
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut service = pingora::proxy::http_proxy_service(&server.configuration, Baseline { upstream });
    service.add_tcp(&listen);
    server.add_service(service);
    server.run_forever();
}
