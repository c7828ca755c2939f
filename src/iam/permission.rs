//! AddPermission and RemovePermission: a labelled statement granting
//! accounts some actions on one resource, added to or removed from the
//! resource's policy document (SQS and SNS write the same shape).

use serde_json::{json, Value};

#[derive(Debug, PartialEq, Eq)]
pub enum PermissionError {
    /// A statement with this label (`Sid`) is already there.
    LabelExists,
    /// No statement has this label.
    NoLabel,
    /// The stored policy cannot be edited (not JSON, no statement list).
    Unreadable,
}

/// A grant as AddPermission asks for it.
pub struct Grant<'a> {
    pub label: &'a str,
    pub accounts: &'a [String],
    /// With their service prefix (`SQS:SendMessage`).
    pub actions: &'a [String],
    pub resource: &'a str,
}

/// The first of `accounts` that is not a 12-digit account id.
pub fn not_an_account(accounts: &[String]) -> Option<&str> {
    accounts
        .iter()
        .map(String::as_str)
        .find(|a| !super::policy::is_account_id(a))
}

/// The policy with the grant's statement appended; `empty` is the document
/// to start from when there is no policy yet.
pub fn add(
    current: Option<&str>,
    empty: Value,
    grant: &Grant<'_>,
) -> Result<String, PermissionError> {
    let mut doc = match current.filter(|p| !p.is_empty()) {
        Some(text) => serde_json::from_str(text).map_err(|_| PermissionError::Unreadable)?,
        None => empty,
    };
    let statements = statements(&mut doc)?;
    if statements
        .iter()
        .any(|s| s.get("Sid").and_then(Value::as_str) == Some(grant.label))
    {
        return Err(PermissionError::LabelExists);
    }
    let principals: Vec<String> = grant
        .accounts
        .iter()
        .map(|a| format!("arn:aws:iam::{a}:root"))
        .collect();
    statements.push(json!({
        "Sid": grant.label,
        "Effect": "Allow",
        "Principal": {"AWS": one_or_many(principals)},
        "Action": one_or_many(grant.actions.to_vec()),
        "Resource": grant.resource,
    }));
    Ok(doc.to_string())
}

/// The policy without the labelled statement; `None` when no statement is
/// left (the attribute is then removed).
pub fn remove(current: Option<&str>, label: &str) -> Result<Option<String>, PermissionError> {
    let Some(text) = current.filter(|p| !p.is_empty()) else {
        return Err(PermissionError::NoLabel);
    };
    let mut doc: Value = serde_json::from_str(text).map_err(|_| PermissionError::Unreadable)?;
    let statements = statements(&mut doc)?;
    let before = statements.len();
    statements.retain(|s| s.get("Sid").and_then(Value::as_str) != Some(label));
    if statements.len() == before {
        return Err(PermissionError::NoLabel);
    }
    Ok((!statements.is_empty()).then(|| doc.to_string()))
}

fn statements(doc: &mut Value) -> Result<&mut Vec<Value>, PermissionError> {
    let Value::Object(fields) = doc else {
        return Err(PermissionError::Unreadable);
    };
    let list = fields
        .entry("Statement")
        .or_insert_with(|| Value::Array(Vec::new()));
    if list.is_object() {
        *list = Value::Array(vec![list.take()]);
    }
    list.as_array_mut().ok_or(PermissionError::Unreadable)
}

/// IAM writes a single principal or action as a string, several as a list.
fn one_or_many(mut items: Vec<String>) -> Value {
    if items.len() == 1 {
        Value::String(items.remove(0))
    } else {
        json!(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_then_remove_round_trips() {
        let accounts = ["111122223333".to_string()];
        let actions = [
            "SQS:SendMessage".to_string(),
            "SQS:ReceiveMessage".to_string(),
        ];
        let grant = Grant {
            label: "share",
            accounts: &accounts,
            actions: &actions,
            resource: "arn:aws:sqs:us-east-1:000000000000:q",
        };
        let empty = json!({"Version": "2012-10-17", "Statement": []});
        let added = add(None, empty.clone(), &grant).unwrap();
        let doc: Value = serde_json::from_str(&added).unwrap();
        assert_eq!(
            doc["Statement"][0],
            json!({
                "Sid": "share", "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                "Action": ["SQS:SendMessage", "SQS:ReceiveMessage"],
                "Resource": "arn:aws:sqs:us-east-1:000000000000:q",
            })
        );
        assert_eq!(
            add(Some(&added), empty, &grant),
            Err(PermissionError::LabelExists)
        );
        assert_eq!(remove(Some(&added), "other"), Err(PermissionError::NoLabel));
        assert_eq!(remove(Some(&added), "share"), Ok(None));
    }
}
