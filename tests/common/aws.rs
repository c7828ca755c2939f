//! AWS SDK clients pointed at a test's Gatehouse, signing with the
//! fixture's access key.

use super::Gatehouse;
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};

pub const ACCESS_KEY: &str = "AKIDGATEHOUSETEST";
pub const SECRET: &str = "test-secret-not-for-production";

fn http() -> aws_sdk_sqs::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new().build_http()
}

pub fn sqs_with(gh: &Gatehouse, key: &str, secret: &str) -> aws_sdk_sqs::Client {
    let conf = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(gh.messaging_url())
        .credentials_provider(Credentials::new(key, secret, None, None, "test"))
        .http_client(http())
        .build();
    aws_sdk_sqs::Client::from_conf(conf)
}

pub fn sqs(gh: &Gatehouse) -> aws_sdk_sqs::Client {
    sqs_with(gh, ACCESS_KEY, SECRET)
}

pub fn sns(gh: &Gatehouse) -> aws_sdk_sns::Client {
    let conf = aws_sdk_sns::Config::builder()
        .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
        .region(aws_sdk_sns::config::Region::new("us-east-1"))
        .endpoint_url(gh.messaging_url())
        .credentials_provider(aws_sdk_sns::config::Credentials::new(
            ACCESS_KEY, SECRET, None, None, "test",
        ))
        .http_client(http())
        .build();
    aws_sdk_sns::Client::from_conf(conf)
}

/// The `@connections` API's client (ApiGatewayManagementApi), at the
/// messaging listener with a stage path, as API Gateway's endpoint has.
pub fn connections(gh: &Gatehouse) -> aws_sdk_apigatewaymanagement::Client {
    use aws_sdk_apigatewaymanagement::config;
    let conf = aws_sdk_apigatewaymanagement::Config::builder()
        .behavior_version(config::BehaviorVersion::latest())
        .region(config::Region::new("us-east-1"))
        .endpoint_url(format!("{}/prod", gh.messaging_url()))
        .credentials_provider(config::Credentials::new(
            ACCESS_KEY, SECRET, None, None, "test",
        ))
        .http_client(http())
        .build();
    aws_sdk_apigatewaymanagement::Client::from_conf(conf)
}
