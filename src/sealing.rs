//! Encryption at rest for message bodies and attributes (SQS's
//! `SqsManagedSseEnabled` and `KmsMasterKeyId`): each value is sealed with
//! AES-256-GCM under a fresh data key, and the data key is wrapped, also
//! with AES-256-GCM, by a master key of the local key ring
//! (`messaging.encryption` in `gatehouse.yaml`). What the store holds:
//!
//! `ghseal1:KEY_ID:WRAPPED:SEALED`, with WRAPPED = base64(nonce | the data
//! key sealed by master key KEY_ID) and SEALED = base64(nonce | the value
//! sealed by the data key).
//!
//! Rotation: a new key becomes `current_key`; old keys stay in the ring so
//! what they sealed can still be read. Values written before encryption was
//! on are read as they are.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use std::collections::BTreeMap;
use std::fmt;

const PREFIX: &str = "ghseal1:";
/// What `KmsMasterKeyId` names for SQS's own key: the ring's current key.
pub const MANAGED_ALIAS: &str = "alias/aws/sqs";
/// SNS's own key, on topics: the ring's current key too.
pub const SNS_MANAGED_ALIAS: &str = "alias/aws/sns";

/// The master keys, by id.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRing {
    current: String,
    keys: BTreeMap<String, [u8; 32]>,
}

/// Keys are never printed.
impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &self.current)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KeyRing {
    /// `keys`: id -> the key as base64 of 32 bytes.
    pub fn new(current: &str, keys: &BTreeMap<String, String>) -> Result<KeyRing, String> {
        let mut ring = BTreeMap::new();
        for (id, text) in keys {
            if id.is_empty() || id.contains(':') {
                return Err(format!("key id `{id}`: not empty, no `:`"));
            }
            let bytes = STANDARD
                .decode(text.trim())
                .map_err(|_| format!("key `{id}` is not base64"))?;
            let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
                format!(
                    "key `{id}` is {} bytes; AES-256 needs 32 (e.g. `openssl rand -base64 32`)",
                    b.len()
                )
            })?;
            ring.insert(id.clone(), key);
        }
        if !ring.contains_key(current) {
            return Err(format!("current_key `{current}` is not one of the keys"));
        }
        Ok(KeyRing {
            current: current.to_string(),
            keys: ring,
        })
    }

    /// Whether `KmsMasterKeyId` may name `id`.
    pub fn knows(&self, id: &str) -> bool {
        id == MANAGED_ALIAS || id == SNS_MANAGED_ALIAS || self.keys.contains_key(id)
    }

    /// The key a queue with these attributes seals with: its
    /// `KmsMasterKeyId`, or the current key for `SqsManagedSseEnabled`.
    pub fn key_for(&self, attributes: &BTreeMap<String, String>) -> Option<String> {
        match attributes.get("KmsMasterKeyId").filter(|k| !k.is_empty()) {
            Some(id) if id != MANAGED_ALIAS && self.keys.contains_key(id) => Some(id.clone()),
            Some(_) => Some(self.current.clone()),
            None => attributes
                .get("SqsManagedSseEnabled")
                .is_some_and(|v| v == "true")
                .then(|| self.current.clone()),
        }
    }

    /// Seals under `key_id` (the current key when the ring lacks it:
    /// `key_for` only names keys it holds).
    pub fn seal(&self, key_id: &str, plaintext: &[u8]) -> String {
        let (key_id, master) = self
            .keys
            .get_key_value(key_id)
            .unwrap_or_else(|| (&self.current, &self.keys[&self.current]));
        let mut data_key = [0u8; 32];
        fill(&mut data_key);
        format!(
            "{PREFIX}{key_id}:{}:{}",
            STANDARD.encode(aead_seal(master, &data_key)),
            STANDARD.encode(aead_seal(&data_key, plaintext))
        )
    }

    /// The plaintext of a stored value: sealed ones opened, others as
    /// they are.
    pub fn open(&self, stored: &str) -> Result<String, String> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_string());
        };
        let mut parts = rest.splitn(3, ':');
        let (Some(id), Some(wrapped), Some(sealed)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err("a sealed value is malformed".into());
        };
        let master = self.keys.get(id).ok_or_else(|| {
            format!("a value is sealed with key `{id}`, which the key ring does not hold")
        })?;
        let decode = |s: &str| {
            STANDARD
                .decode(s)
                .map_err(|_| "a sealed value is malformed")
        };
        let data_key: [u8; 32] = aead_open(master, &decode(wrapped)?)?
            .try_into()
            .map_err(|_| "a wrapped data key is malformed".to_string())?;
        let plain = aead_open(&data_key, &decode(sealed)?)?;
        String::from_utf8(plain).map_err(|_| "a sealed value is not text".into())
    }
}

/// Whether a stored value is sealed.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

fn fill(bytes: &mut [u8]) {
    // The system's CSPRNG failing leaves nothing safe to do.
    SystemRandom::new()
        .fill(bytes)
        .expect("the system random number generator failed");
}

fn aead_key(key: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("32-byte key"))
}

/// nonce | ciphertext | tag
fn aead_seal(key: &[u8; 32], plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    fill(&mut nonce);
    let mut out = nonce.to_vec();
    let mut body = plaintext.to_vec();
    aead_key(key)
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut body)
        .expect("AES-GCM sealing a value of any size");
    out.extend_from_slice(&body);
    out
}

fn aead_open(key: &[u8; 32], sealed: &[u8]) -> Result<Vec<u8>, String> {
    if sealed.len() < NONCE_LEN {
        return Err("a sealed value is malformed".into());
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| "bad nonce".to_string())?;
    let mut body = body.to_vec();
    let plain = aead_key(key)
        .open_in_place(nonce, Aad::empty(), &mut body)
        .map_err(|_| "a sealed value does not open with its key (tampered, or the wrong key)")?;
    Ok(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(current: &str) -> KeyRing {
        let keys = [
            ("k1".to_string(), STANDARD.encode([1u8; 32])),
            ("k2".to_string(), STANDARD.encode([2u8; 32])),
        ]
        .into_iter()
        .collect();
        KeyRing::new(current, &keys).unwrap()
    }

    #[test]
    fn sealed_values_open_and_hide_their_text() {
        let r = ring("k1");
        let sealed = r.seal("k1", b"card 4111 1111 1111 1111");
        assert!(is_sealed(&sealed) && !sealed.contains("4111"));
        assert_eq!(r.open(&sealed).unwrap(), "card 4111 1111 1111 1111");
        // Each seal has its own data key and nonces.
        assert_ne!(r.seal("k1", b"x"), r.seal("k1", b"x"));
        // Plain values pass through.
        assert_eq!(r.open("plain").unwrap(), "plain");
    }

    #[test]
    fn rotation_keeps_old_keys_readable() {
        let old = ring("k1").seal("k1", b"before");
        let rotated = ring("k2");
        assert_eq!(rotated.open(&old).unwrap(), "before");
        let keys: BTreeMap<String, String> = [("k2".to_string(), STANDARD.encode([2u8; 32]))]
            .into_iter()
            .collect();
        let dropped = KeyRing::new("k2", &keys).unwrap();
        assert!(dropped.open(&old).unwrap_err().contains("`k1`"));
    }

    #[test]
    fn tampering_is_detected() {
        let r = ring("k1");
        let sealed = r.seal("k1", b"amount=10");
        let mut bytes = sealed.into_bytes();
        let last = bytes.len() - 3;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(r.open(&tampered).is_err());
    }

    #[test]
    fn which_key_a_queue_uses() {
        let r = ring("k2");
        let attrs = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            r.key_for(&attrs(&[("SqsManagedSseEnabled", "true")]))
                .as_deref(),
            Some("k2")
        );
        assert_eq!(
            r.key_for(&attrs(&[("KmsMasterKeyId", "k1")])).as_deref(),
            Some("k1")
        );
        assert_eq!(
            r.key_for(&attrs(&[("KmsMasterKeyId", MANAGED_ALIAS)]))
                .as_deref(),
            Some("k2")
        );
        assert_eq!(
            r.key_for(&attrs(&[("SqsManagedSseEnabled", "false")])),
            None
        );
        assert!(r.knows("k1") && r.knows(MANAGED_ALIAS) && !r.knows("k9"));
    }

    #[test]
    fn bad_rings_are_refused() {
        let one = |id: &str, key: String| -> BTreeMap<String, String> {
            [(id.to_string(), key)].into_iter().collect()
        };
        assert!(KeyRing::new("a", &one("a", "not base64!".into())).is_err());
        assert!(KeyRing::new("a", &one("a", STANDARD.encode([0u8; 16])))
            .unwrap_err()
            .contains("16 bytes"));
        assert!(KeyRing::new("b", &one("a", STANDARD.encode([0u8; 32]))).is_err());
        // The keys never show in Debug output.
        let r = KeyRing::new("a", &one("a", STANDARD.encode([7u8; 32]))).unwrap();
        assert!(!format!("{r:?}").contains(&STANDARD.encode([7u8; 32])));
    }
}
