//! Receipt handles: opaque to clients, they name the queue, the message and
//! the receive they came from. Whether a handle from an earlier receive of
//! the same message still acts on it is the queue's rule
//! (`queue::acts_on`).
//!
//! Handles are standard base64 (`A-Z a-z 0-9 + /`), as AWS's are: client
//! libraries take that for granted (the SQS extended client splits its
//! own handles on `-`). Handles of the URL-safe alphabet, which earlier
//! versions issued, are still read.

use super::error::{ApiError, ApiResult, ErrorKind};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    pub queue_id: u64,
    pub seq: u64,
    pub nonce: u64,
}

impl Receipt {
    pub fn encode(&self) -> String {
        let mut bytes = [0u8; 24];
        bytes[..8].copy_from_slice(&self.queue_id.to_be_bytes());
        bytes[8..16].copy_from_slice(&self.seq.to_be_bytes());
        bytes[16..].copy_from_slice(&self.nonce.to_be_bytes());
        STANDARD.encode(bytes)
    }

    pub fn decode(handle: &str) -> ApiResult<Receipt> {
        let invalid = || {
            ApiError::new(
                ErrorKind::ReceiptHandleIsInvalid,
                format!("The input receipt handle \"{handle}\" is not a valid receipt handle."),
            )
        };
        let bytes = STANDARD
            .decode(handle)
            .or_else(|_| URL_SAFE_NO_PAD.decode(handle))
            .map_err(|_| invalid())?;
        if bytes.len() != 24 {
            return Err(invalid());
        }
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[i..i + 8]);
            u64::from_be_bytes(w)
        };
        Ok(Receipt {
            queue_id: word(0),
            seq: word(8),
            nonce: word(16),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let r = Receipt {
            queue_id: 3,
            seq: 99,
            nonce: u64::MAX,
        };
        assert_eq!(Receipt::decode(&r.encode()), Ok(r));
        // Never a `-` (the extended client splits on it); the URL-safe
        // form earlier versions issued still reads.
        let nonce_with_dashes = Receipt {
            nonce: u64::MAX - 2,
            ..r
        };
        let handle = nonce_with_dashes.encode();
        assert!(!handle.contains('-'), "{handle}");
        assert_eq!(
            Receipt::decode(&URL_SAFE_NO_PAD.encode(STANDARD.decode(&handle).unwrap())),
            Ok(nonce_with_dashes)
        );
        for bad in ["", "abc", "!!!!", &"A".repeat(40)] {
            assert_eq!(
                Receipt::decode(bad).unwrap_err().kind,
                ErrorKind::ReceiptHandleIsInvalid
            );
        }
    }
}
