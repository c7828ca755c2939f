//! SNS message signatures: every notification (the JSON envelope, to http(s)
//! endpoints and to SQS queues) and every SubscriptionConfirmation carries
//! `SignatureVersion`, `Signature` and `SigningCertURL`, as AWS's do, so
//! receivers that verify SNS messages accept Gatehouse's.
//!
//! The signature is RSA PKCS#1 v1.5 over AWS's canonical string (the
//! signed fields, each as `Name\nvalue\n`, in AWS's order), with SHA-1 for
//! SignatureVersion 1 and SHA-256 for 2 (the topic's `SignatureVersion`
//! attribute). The key pair is made on first start and kept in the data
//! folder (`sns-signing.key`, mode 0600, and a self-signed certificate
//! `sns-signing.pem`, which the messaging listener serves at
//! `CERT_PATH`).

use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use serde_json::{Map, Value};
use std::fmt;
use std::path::Path;

/// Where the messaging listener serves the certificate.
pub const CERT_PATH: &str = "/SimpleNotificationService-gatehouse.pem";

pub struct Signer {
    key: RsaPrivateKey,
    cert_pem: String,
    cert_url: String,
    /// The last signature made, by version and canonical string. The
    /// string leaves out the subscription (its UnsubscribeURL), so every
    /// envelope of one publication signs the same text: one RSA operation
    /// (about a millisecond) per publication rather than per subscription.
    last: parking_lot::Mutex<Option<(u8, String, String)>>,
}

/// Two signers are the same when they hold the same certificate.
impl PartialEq for Signer {
    fn eq(&self, other: &Signer) -> bool {
        self.cert_pem == other.cert_pem && self.cert_url == other.cert_url
    }
}

impl Eq for Signer {}

/// The key is never printed.
impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("cert_url", &self.cert_url)
            .finish()
    }
}

impl Signer {
    /// The pair in `dir`, made there on first use. `base_url` is where the
    /// messaging API is reached (the certificate's URL starts with it).
    pub fn load_or_create(dir: &Path, base_url: &str) -> anyhow::Result<Signer> {
        let key_path = dir.join("sns-signing.key");
        let cert_path = dir.join("sns-signing.pem");
        let cert_url = format!("{}{CERT_PATH}", base_url.trim_end_matches('/'));
        if key_path.is_file() && cert_path.is_file() {
            let key = RsaPrivateKey::from_pkcs8_pem(&std::fs::read_to_string(&key_path)?)
                .map_err(|e| anyhow::anyhow!("{}: {e}", key_path.display()))?;
            let cert_pem = std::fs::read_to_string(&cert_path)?;
            return Ok(Signer {
                key,
                cert_pem,
                cert_url,
                last: Default::default(),
            });
        }
        std::fs::create_dir_all(dir)?;
        let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)?;
        let key_pem = key.to_pkcs8_pem(LineEnding::LF)?;
        let pair = rcgen::KeyPair::from_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256)?;
        let mut params = rcgen::CertificateParams::new(vec!["sns.gatehouse.local".to_string()])?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "sns.gatehouse.local");
        let cert_pem = params.self_signed(&pair)?.pem();
        write_private(&key_path, key_pem.as_bytes())?;
        std::fs::write(&cert_path, &cert_pem)?;
        Ok(Signer {
            key,
            cert_pem,
            cert_url,
            last: Default::default(),
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Adds `SignatureVersion`, `Signature` and `SigningCertURL` to a
    /// Notification or SubscriptionConfirmation envelope.
    pub fn sign(&self, envelope: &mut Map<String, Value>, version: u8) {
        let Some(text) = string_to_sign(envelope) else {
            return;
        };
        let reused = match &*self.last.lock() {
            Some((v, t, signature)) if *v == version && *t == text => Some(signature.clone()),
            _ => None,
        };
        let signature = match reused {
            Some(signature) => signature,
            None => {
                let Some(signature) = self.rsa_sign(&text, version) else {
                    tracing::error!("signing an SNS message failed");
                    return;
                };
                *self.last.lock() = Some((version, text, signature.clone()));
                signature
            }
        };
        envelope.insert("SignatureVersion".into(), version.to_string().into());
        envelope.insert("Signature".into(), signature.into());
        envelope.insert("SigningCertURL".into(), self.cert_url.clone().into());
    }

    /// PKCS#1 v1.5 over SHA-1 (version 1) or SHA-256 (version 2), base64.
    fn rsa_sign(&self, text: &str, version: u8) -> Option<String> {
        let signature = if version == 2 {
            let digest = <sha2::Sha256 as sha2::Digest>::digest(text.as_bytes());
            self.key.sign(Pkcs1v15Sign::new::<sha2::Sha256>(), &digest)
        } else {
            let digest = <sha1::Sha1 as sha1::Digest>::digest(text.as_bytes());
            self.key.sign(Pkcs1v15Sign::new::<sha1::Sha1>(), &digest)
        };
        use base64::Engine;
        Some(base64::engine::general_purpose::STANDARD.encode(signature.ok()?))
    }
}

/// The signature version a topic's messages carry: its `SignatureVersion`
/// attribute (`2`: SHA-256), else 1 (SHA-1), as AWS.
pub fn signature_version(topic_attributes: &std::collections::BTreeMap<String, String>) -> u8 {
    if topic_attributes.get("SignatureVersion").map(String::as_str) == Some("2") {
        2
    } else {
        1
    }
}

/// Signs `envelope` when `naming` has a signer; else marks the version only.
pub fn sign_with(
    naming: &crate::messaging::names::Naming,
    envelope: &mut Map<String, Value>,
    version: u8,
) {
    match &naming.signer {
        Some(signer) => signer.sign(envelope, version),
        None => {
            envelope.insert("SignatureVersion".into(), version.to_string().into());
        }
    }
}

/// AWS's canonical string for an envelope: its signed fields in AWS's
/// order (Subject only when present), each `Name\nvalue\n`.
pub fn string_to_sign(envelope: &Map<String, Value>) -> Option<String> {
    let fields: &[&str] = match envelope.get("Type")?.as_str()? {
        "Notification" => &[
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type",
        ],
        "SubscriptionConfirmation" | "UnsubscribeConfirmation" => &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ],
        _ => return None,
    };
    let mut text = String::new();
    for name in fields {
        if let Some(value) = envelope.get(*name).and_then(Value::as_str) {
            text.push_str(name);
            text.push('\n');
            text.push_str(value);
            text.push('\n');
        }
    }
    Some(text)
}

/// A private key file only its owner reads.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::traits::PublicKeyParts;

    #[test]
    fn the_canonical_string_is_awss() {
        let envelope: Map<String, Value> = serde_json::from_str(
            r#"{"Type":"Notification","MessageId":"m1","TopicArn":"arn:t","Message":"hi",
                "Timestamp":"2026-01-01T00:00:00.000Z","UnsubscribeURL":"u","MessageAttributes":{}}"#,
        )
        .unwrap();
        assert_eq!(
            string_to_sign(&envelope).unwrap(),
            "Message\nhi\nMessageId\nm1\nTimestamp\n2026-01-01T00:00:00.000Z\nTopicArn\narn:t\nType\nNotification\n"
        );
    }

    #[test]
    fn signatures_verify_with_the_key_and_the_pair_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::load_or_create(dir.path(), "https://127.0.0.1:9324").unwrap();
        let mut envelope: Map<String, Value> = serde_json::from_str(
            r#"{"Type":"Notification","MessageId":"m1","TopicArn":"arn:t","Message":"hi","Timestamp":"t"}"#,
        )
        .unwrap();
        signer.sign(&mut envelope, 2);
        assert_eq!(
            envelope["SigningCertURL"],
            "https://127.0.0.1:9324/SimpleNotificationService-gatehouse.pem"
        );
        use base64::Engine;
        let signature = base64::engine::general_purpose::STANDARD
            .decode(envelope["Signature"].as_str().unwrap())
            .unwrap();
        let digest =
            <sha2::Sha256 as sha2::Digest>::digest(string_to_sign(&envelope).unwrap().as_bytes());
        let public = signer.key.to_public_key();
        public
            .verify(Pkcs1v15Sign::new::<sha2::Sha256>(), &digest, &signature)
            .unwrap();
        // A changed message no longer verifies.
        let forged = <sha2::Sha256 as sha2::Digest>::digest(b"Message\nbye\n");
        assert!(public
            .verify(Pkcs1v15Sign::new::<sha2::Sha256>(), &forged, &signature)
            .is_err());
        // The next start reads the same pair.
        let again = Signer::load_or_create(dir.path(), "https://127.0.0.1:9324").unwrap();
        assert_eq!(again.key.n(), signer.key.n());
        assert_eq!(again.cert_pem(), signer.cert_pem());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("sns-signing.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
