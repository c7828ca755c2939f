//! Comparing secrets (admin tokens, signatures) without an early exit that
//! would leak how much of a guess was right.

use subtle::ConstantTimeEq;

pub fn equal(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    #[test]
    fn equal_only_when_equal() {
        assert!(super::equal(b"token", b"token"));
        assert!(!super::equal(b"token", b"tokeN"));
        assert!(!super::equal(b"token", b"token2"));
        assert!(super::equal(b"", b""));
    }
}
