//! Which rules a value could match, from one scan: every literal some
//! rule's operator requires (see `literals`; `@pm` phrases), in one
//! Aho-Corasick automaton compared without ASCII case. A rule whose literals a value lacks is
//! skipped for that value without running its regex.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use std::collections::HashMap;

/// A rule's place among the prefiltered rules.
pub type Slot = u32;

#[derive(Default)]
pub struct Prefilter {
    /// Literals of two bytes or more.
    automaton: Option<AhoCorasick>,
    /// For each literal of the automaton, the rules requiring it.
    rules_of: Vec<Vec<Slot>>,
    /// One-byte literals (`'`, `<`, `;`: common, and frequent in values)
    /// without the automaton: per byte, the rules' bits (`words()` each),
    /// set for a byte seen anywhere in the value.
    by_byte: Vec<u64>,
    /// Whether a byte's row has any bit.
    has_rules: Vec<bool>,
    slots: usize,
}

impl Prefilter {
    /// `required[slot]` are the literals of rule `slot`.
    pub fn build(required: &[Vec<Vec<u8>>]) -> Result<Prefilter, String> {
        let words = required.len().div_ceil(64);
        let mut by_byte = vec![0u64; 256 * words];
        let mut literals: Vec<&[u8]> = Vec::new();
        let mut index: HashMap<&[u8], usize> = HashMap::new();
        let mut rules_of: Vec<Vec<Slot>> = Vec::new();
        for (slot, set) in required.iter().enumerate() {
            let bit = 1u64 << (slot % 64);
            for literal in set {
                if let [byte] = literal.as_slice() {
                    for b in [byte.to_ascii_lowercase(), byte.to_ascii_uppercase()] {
                        by_byte[usize::from(b) * words + slot / 64] |= bit;
                    }
                    continue;
                }
                let at = *index.entry(literal).or_insert_with(|| {
                    literals.push(literal);
                    rules_of.push(Vec::new());
                    literals.len() - 1
                });
                rules_of[at].push(slot as Slot);
            }
        }
        let automaton = if literals.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .kind(Some(AhoCorasickKind::DFA))
                    .match_kind(MatchKind::Standard)
                    .build(&literals)
                    .map_err(|e| format!("cannot build the literal prefilter: {e}"))?,
            )
        };
        let has_rules = (0..256)
            .map(|b| by_byte[b * words..(b + 1) * words].iter().any(|w| *w != 0))
            .collect();
        Ok(Prefilter {
            automaton,
            rules_of,
            by_byte,
            has_rules,
            slots: required.len(),
        })
    }

    /// Words of a scan's bit set.
    pub fn words(&self) -> usize {
        self.slots.div_ceil(64)
    }

    /// Sets the bit of every rule whose literals `text` holds.
    pub fn scan(&self, text: &[u8], bits: &mut [u64]) {
        let words = self.words();
        let mut seen = [false; 256];
        for &b in text {
            let b = usize::from(b);
            if !seen[b] && self.has_rules[b] {
                let row = &self.by_byte[b * words..(b + 1) * words];
                for (bit, r) in bits.iter_mut().zip(row) {
                    *bit |= r;
                }
            }
            seen[b] = true;
        }
        let Some(automaton) = &self.automaton else {
            return;
        };
        for found in automaton.find_overlapping_iter(text) {
            for &slot in &self.rules_of[found.pattern().as_usize()] {
                bits[slot as usize / 64] |= 1 << (slot % 64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_marks_the_rules_whose_literals_are_present() {
        let required = vec![
            vec![b"select".to_vec(), b"union".to_vec()],
            vec![b"<script".to_vec()],
            vec![b"union".to_vec()],
            vec![b"'".to_vec(), b"--".to_vec()],
        ];
        let pf = Prefilter::build(&required).unwrap();
        let scan = |text: &[u8]| {
            let mut bits = vec![0; pf.words()];
            pf.scan(text, &mut bits);
            bits
        };
        assert_eq!(scan(b"1 UNION all"), [0b101]);
        assert_eq!(scan(b"O'Brien"), [0b1000]);
        assert_eq!(scan(b"<SCRIPT>"), [0b010]);
        assert_eq!(scan(b"hello"), [0]);
    }
}
