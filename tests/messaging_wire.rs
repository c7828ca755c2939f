//! The wire itself, with a plain HTTP client: the Query protocol's forms and
//! XML, and bad input of every kind answered with the AWS error shape.

mod common;

use common::{client, Gatehouse};
use serde_json::{json, Value};

struct Wire {
    gh: Gatehouse,
    http: reqwest::Client,
}

impl Wire {
    fn start() -> Wire {
        Wire {
            gh: Gatehouse::start("messaging_open", &[]),
            http: client(),
        }
    }

    fn inbox(&self) -> String {
        format!("{}/000000000000/inbox", self.gh.messaging_url())
    }

    async fn json(&self, action: &str, body: impl Into<reqwest::Body>) -> (u16, String, Value) {
        let resp = self
            .http
            .post(self.gh.messaging_url())
            .header("x-amz-target", format!("AmazonSQS.{action}"))
            .header("content-type", "application/x-amz-json-1.0")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let query_error = resp
            .headers()
            .get("x-amzn-query-error")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        (status, query_error, body)
    }

    async fn form(&self, url: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let resp = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }
}

#[tokio::test]
async fn bad_json_input_gets_aws_errors() {
    let w = Wire::start();
    let (status, header, body) = w.json("SendMessage", "{not json").await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "com.amazonaws.sqs#SerializationException");
    assert_eq!(header, "SerializationException;Sender");

    let (status, _, body) = w.json("Frobnicate", "{}").await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "com.amazonaws.sqs#InvalidAction");
    assert_eq!(
        body["message"],
        "The action Frobnicate is not valid for this endpoint."
    );

    let (_, header, body) = w
        .json("SendMessage", json!({"MessageBody": "x"}).to_string())
        .await;
    assert_eq!(body["__type"], "com.amazonaws.sqs#MissingParameter");
    assert_eq!(header, "MissingParameter;Sender");

    let (_, header, body) = w
        .json(
            "SendMessage",
            json!({"QueueUrl": format!("{}-nope", w.inbox()), "MessageBody": "x"}).to_string(),
        )
        .await;
    assert_eq!(body["__type"], "com.amazonaws.sqs#QueueDoesNotExist");
    assert_eq!(header, "AWS.SimpleQueueService.NonExistentQueue;Sender");

    let (_, _, body) = w
        .json(
            "ReceiveMessage",
            json!({"QueueUrl": w.inbox(), "MaxNumberOfMessages": "lots"}).to_string(),
        )
        .await;
    assert_eq!(body["__type"], "com.amazonaws.sqs#InvalidParameterValue");
    let (_, _, body) = w
        .json(
            "ReceiveMessage",
            json!({"QueueUrl": w.inbox(), "MaxNumberOfMessages": 11}).to_string(),
        )
        .await;
    assert_eq!(body["__type"], "com.amazonaws.sqs#InvalidParameterValue");

    let big = "x".repeat(1_048_577);
    let (_, _, body) = w
        .json(
            "SendMessage",
            json!({"QueueUrl": w.inbox(), "MessageBody": big}).to_string(),
        )
        .await;
    assert_eq!(body["__type"], "com.amazonaws.sqs#InvalidParameterValue");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("shorter than 1048576 bytes"));

    let (_, _, body) = w
        .json(
            "SendMessage",
            json!({"QueueUrl": w.inbox(), "MessageBody": "x",
                   "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "abc"}}})
            .to_string(),
        )
        .await;
    assert_eq!(body["__type"], "com.amazonaws.sqs#InvalidParameterValue");
    let (_, _, body) = w
        .json(
            "SendMessage",
            json!({"QueueUrl": w.inbox(), "MessageBody": "x",
                   "MessageAttributes": {"b": {"DataType": "Binary", "BinaryValue": "%%%"}}})
            .to_string(),
        )
        .await;
    assert_eq!(body["__type"], "com.amazonaws.sqs#InvalidParameterValue");

    let (status, _, body) = w.json("SendMessage", vec![b'x'; 9 * 1024 * 1024]).await;
    assert_eq!(status, 413);
    assert_eq!(body["__type"], "com.amazonaws.sqs#RequestEntityTooLarge");

    let (_, _, body) = w.json("ListQueues", "[1, 2]").await;
    assert_eq!(body["__type"], "com.amazonaws.sqs#SerializationException");

    // Still serving after all of that.
    let (status, _, body) = w.json("ListQueues", "{}").await;
    assert_eq!(status, 200);
    assert_eq!(body["QueueUrls"][0], w.inbox());
}

#[tokio::test]
async fn query_protocol_forms_and_xml() {
    let w = Wire::start();
    let endpoint = w.gh.messaging_url();
    let (status, xml) = w
        .form(
            &endpoint,
            &[
                ("Action", "CreateQueue"),
                ("QueueName", "q"),
                ("Attribute.1.Name", "DelaySeconds"),
                ("Attribute.1.Value", "0"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{xml}");
    assert!(xml.contains("<CreateQueueResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><CreateQueueResult><QueueUrl>"), "{xml}");
    let url = format!("{endpoint}/000000000000/q");
    // Query clients post to the queue URL.
    let (status, xml) = w
        .form(
            &url,
            &[
                ("Action", "SendMessage"),
                ("MessageBody", "<hello & goodbye>"),
                ("MessageAttribute.1.Name", "kind"),
                ("MessageAttribute.1.Value.DataType", "String"),
                ("MessageAttribute.1.Value.StringValue", "greeting"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{xml}");
    assert!(xml.contains("<MD5OfMessageBody>"), "{xml}");
    let (_, xml) = w
        .form(
            &url,
            &[
                ("Action", "ReceiveMessage"),
                ("MessageAttributeName.1", "All"),
                ("AttributeName.1", "All"),
            ],
        )
        .await;
    assert!(
        xml.contains("<Body>&lt;hello &amp; goodbye&gt;</Body>"),
        "{xml}"
    );
    assert!(xml.contains("<MessageAttribute><Name>kind</Name><Value><DataType>String</DataType><StringValue>greeting</StringValue></Value></MessageAttribute>"), "{xml}");
    assert!(
        xml.contains("<Attribute><Name>ApproximateReceiveCount</Name><Value>1</Value></Attribute>"),
        "{xml}"
    );

    let (status, xml) = w
        .form(
            &endpoint,
            &[("Action", "GetQueueUrl"), ("QueueName", "missing")],
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        xml.contains("<Code>AWS.SimpleQueueService.NonExistentQueue</Code>"),
        "{xml}"
    );
    assert!(xml.contains("<Type>Sender</Type>"), "{xml}");
    let (status, xml) = w.form(&endpoint, &[("QueueName", "x")]).await;
    assert_eq!(status, 400);
    assert!(xml.contains("<Code>MissingParameter</Code>"), "{xml}");
    let (_, xml) = w.form(&endpoint, &[("Action", "Explode")]).await;
    assert!(xml.contains("<Code>InvalidAction</Code>"), "{xml}");
    let (_, xml) = w
        .form(
            &endpoint,
            &[("Action", "ListQueues"), ("MaxResults", "zero")],
        )
        .await;
    assert!(xml.contains("<Code>InvalidParameterValue</Code>"), "{xml}");
}
