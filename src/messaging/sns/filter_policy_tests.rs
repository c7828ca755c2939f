use super::*;
use serde_json::json;

/// (policy, document, expected match), one row per behaviour.
const MATCHES: &[(&str, &str, bool)] = &[
    (
        r#"{"store":["example_corp"]}"#,
        r#"{"store":"example_corp"}"#,
        true,
    ),
    (
        r#"{"store":["example_corp"]}"#,
        r#"{"store":"other"}"#,
        false,
    ),
    (r#"{"store":["example_corp"]}"#, r#"{}"#, false),
    (r#"{"n":[5]}"#, r#"{"n":5}"#, true),
    // true, false and null are match values (AWS documents them).
    (r#"{"b":[true]}"#, r#"{"b":true}"#, true),
    (r#"{"b":[true]}"#, r#"{"b":false}"#, false),
    (r#"{"b":[false]}"#, r#"{"b":"false"}"#, false),
    (r#"{"b":[false, null]}"#, r#"{"b":[null]}"#, true),
    // Numbers compare to five decimal places.
    (r#"{"n":[301.5]}"#, r#"{"n":301.500001}"#, true),
    (r#"{"n":[301.5]}"#, r#"{"n":301.5001}"#, false),
    (
        r#"{"n":[{"numeric":["=",0.3]}]}"#,
        r#"{"n":0.30000000000000004}"#,
        true,
    ),
    (r#"{"n":[{"numeric":[">",1]}]}"#, r#"{"n":1.000001}"#, false),
    (r#"{"n":[5]}"#, r#"{"n":"5"}"#, false),
    (r#"{"a":["x"],"b":["y"]}"#, r#"{"a":"x","b":"y"}"#, true),
    (r#"{"a":["x"],"b":["y"]}"#, r#"{"a":"x"}"#, false),
    (r#"{"a":["x","z"]}"#, r#"{"a":"z"}"#, true),
    (r#"{"a":["x"]}"#, r#"{"a":["q","x"]}"#, true),
    (r#"{"a":[{"anything-but":"x"}]}"#, r#"{"a":"y"}"#, true),
    (r#"{"a":[{"anything-but":"x"}]}"#, r#"{"a":"x"}"#, false),
    (r#"{"a":[{"anything-but":"x"}]}"#, r#"{}"#, false),
    (
        r#"{"a":[{"anything-but":["x","y"]}]}"#,
        r#"{"a":"y"}"#,
        false,
    ),
    (r#"{"a":[{"anything-but":[1,2]}]}"#, r#"{"a":3}"#, true),
    (
        r#"{"a":[{"anything-but":{"prefix":"int"}}]}"#,
        r#"{"a":"internal"}"#,
        false,
    ),
    (
        r#"{"a":[{"anything-but":{"prefix":"int"}}]}"#,
        r#"{"a":"external"}"#,
        true,
    ),
    (r#"{"a":[{"prefix":"us-"}]}"#, r#"{"a":"us-west"}"#, true),
    (r#"{"a":[{"prefix":"us-"}]}"#, r#"{"a":"eu-west"}"#, false),
    (r#"{"a":[{"suffix":".png"}]}"#, r#"{"a":"cat.png"}"#, true),
    (
        r#"{"a":[{"equals-ignore-case":"Red"}]}"#,
        r#"{"a":"rED"}"#,
        true,
    ),
    (
        r#"{"p":[{"numeric":[">",0,"<=",100]}]}"#,
        r#"{"p":100}"#,
        true,
    ),
    (
        r#"{"p":[{"numeric":[">",0,"<=",100]}]}"#,
        r#"{"p":0}"#,
        false,
    ),
    (r#"{"p":[{"numeric":["=",3.5]}]}"#, r#"{"p":3.5}"#, true),
    (r#"{"p":[{"numeric":[">=",10]}]}"#, r#"{"p":"10"}"#, false),
    (r#"{"a":[{"exists":true}]}"#, r#"{"a":"anything"}"#, true),
    (r#"{"a":[{"exists":true}]}"#, r#"{}"#, false),
    (r#"{"a":[{"exists":false}]}"#, r#"{}"#, true),
    (r#"{"a":[{"exists":false}]}"#, r#"{"a":"x"}"#, false),
    (
        r#"{"ip":[{"cidr":"10.0.0.0/24"}]}"#,
        r#"{"ip":"10.0.0.7"}"#,
        true,
    ),
    (
        r#"{"ip":[{"cidr":"10.0.0.0/24"}]}"#,
        r#"{"ip":"10.0.1.7"}"#,
        false,
    ),
    (
        r#"{"ip":[{"cidr":"2001:db8::/32"}]}"#,
        r#"{"ip":"2001:db8::1"}"#,
        true,
    ),
    (
        r#"{"a":["x"],"$or":[{"b":["1"]},{"c":["2"]}]}"#,
        r#"{"a":"x","c":"2"}"#,
        true,
    ),
    (
        r#"{"a":["x"],"$or":[{"b":["1"]},{"c":["2"]}]}"#,
        r#"{"a":"x","c":"3"}"#,
        false,
    ),
    (r#"{"a":[null]}"#, r#"{"a":null}"#, true),
];

const BODY_MATCHES: &[(&str, &str, bool)] = &[
    (
        r#"{"order":{"status":["paid"]}}"#,
        r#"{"order":{"status":"paid","id":1}}"#,
        true,
    ),
    (
        r#"{"order":{"status":["paid"]}}"#,
        r#"{"order":{"status":"open"}}"#,
        false,
    ),
    (
        r#"{"order":{"status":["paid"]}}"#,
        r#"{"status":"paid"}"#,
        false,
    ),
    (
        r#"{"items":{"sku":[{"prefix":"A-"}]}}"#,
        r#"{"items":[{"sku":"B-1"},{"sku":"A-2"}]}"#,
        true,
    ),
    (
        r#"{"order":{"total":[{"numeric":[">",100]}]}}"#,
        r#"{"order":{"total":150.5}}"#,
        true,
    ),
];

#[test]
fn attribute_scope_table() {
    for (policy, doc, expected) in MATCHES {
        let p = FilterPolicy::parse(policy, false).unwrap_or_else(|e| panic!("{policy}: {e}"));
        let doc: Value = serde_json::from_str(doc).unwrap();
        assert_eq!(p.matches(&doc), *expected, "{policy} on {doc}");
    }
}

#[test]
fn body_scope_table() {
    for (policy, doc, expected) in BODY_MATCHES {
        let p = FilterPolicy::parse(policy, true).unwrap_or_else(|e| panic!("{policy}: {e}"));
        let doc: Value = serde_json::from_str(doc).unwrap();
        assert_eq!(p.matches(&doc), *expected, "{policy} on {doc}");
    }
}

/// (policy, body scope, the error AWS gives).
const INVALID: &[(&str, bool, &str)] = &[
    ("not json", false, "Invalid parameter: FilterPolicy: failed to parse JSON."),
    ("[1]", false, "Invalid parameter: FilterPolicy: Filter policy must be a JSON object"),
    (r#"{"a":["1"],"b":["1"],"c":["1"],"d":["1"],"e":["1"],"f":["1"]}"#, false, "Invalid parameter: FilterPolicy: Filter policy can not have more than 5 keys"),
    (r#"{"a":[{"regex":"x"}]}"#, false, "Invalid parameter: FilterPolicy: Unrecognized match type regex"),
    (r#"{"a":[{"prefix":5}]}"#, false, "Invalid parameter: FilterPolicy: Value of prefix must be a string"),
    (r#"{"a":[{"numeric":[">","x"]}]}"#, false, "Invalid parameter: FilterPolicy: Value of > must be numeric"),
    (r#"{"a":[{"numeric":["<",5,">",1]}]}"#, false, "Invalid parameter: FilterPolicy: Bad numeric range"),
    (r#"{"a":[{"numeric":["~",1]}]}"#, false, "Invalid parameter: FilterPolicy: Unrecognized numeric range operator: ~"),
    (r#"{"a":[{"exists":"yes"}]}"#, false, "Invalid parameter: FilterPolicy: exists match pattern must be either true or false."),
    (r#"{"a":[{"cidr":"nope"}]}"#, false, "Invalid parameter: FilterPolicy: Malformed CIDR"),
    (r#"{"a":{"b":["x"]}}"#, false, "Invalid parameter: FilterPolicy: Filter policy scope MessageAttributes does not support nested filter policy"),
    (r#"{"a":[]}"#, false, "Invalid parameter: FilterPolicy: Empty arrays are not allowed"),
    (r#"{"a":[[1]]}"#, false, "Invalid parameter: FilterPolicy: Match value must be String, number, true, false, or null"),
    (r#"{"a":[1000000000]}"#, false, "Invalid parameter: FilterPolicy: Numeric values must be within"),
];

#[test]
fn invalid_policies_are_refused_with_aws_messages() {
    for (policy, body, expected) in INVALID {
        let e = FilterPolicy::parse(policy, *body).unwrap_err();
        assert!(e.starts_with(expected), "{policy}: {e}");
    }
}

#[test]
fn complexity_limit() {
    // 4 keys x 4 values each = 256 combinations > 150.
    let values = json!(["1", "2", "3", "4"]);
    let policy = json!({"a": values, "b": values, "c": values, "d": values}).to_string();
    assert_eq!(
        FilterPolicy::parse(&policy, false).unwrap_err(),
        "Invalid parameter: FilterPolicy: Filter policy is too complex"
    );
    let fine = json!({"a": values, "b": values, "c": values}).to_string();
    assert!(FilterPolicy::parse(&fine, false).is_ok());
}
