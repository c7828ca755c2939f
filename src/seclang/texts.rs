//! Values as rules see them, per request: a request value through a
//! transformation chain is worked out once and shared by every rule that
//! reads it through the same chain (or one that starts the same way); a
//! step that changes nothing costs nothing. Each distinct text is scanned
//! for required literals once, when a prefiltered rule first asks.

use super::prefilter::{Prefilter, Slot};
use super::transform::{ChainId, Chains, Transform};

pub type TextId = u32;

pub struct Texts {
    /// (value address, value length) -> the value's row in `slots`. Only
    /// values that stay put for the whole request are looked up here (the
    /// request's own).
    values: foldhash::HashMap<(usize, usize), usize>,
    /// The last value looked up, and its row: a rule asks for one value
    /// through several chain steps in a row.
    last: Option<((usize, usize), usize)>,
    /// Per value, a row of `Chains::count()` texts (`UNKNOWN` until made).
    slots: Vec<TextId>,
    entries: Vec<Entry>,
    /// Literal scans: `Prefilter::words()` words each.
    scans: Vec<u64>,
    /// Per target group, where the union of its values' scans is in
    /// `scans`, once made (for the phase: the body adds values).
    groups: Vec<Option<usize>>,
}

struct Entry {
    /// None: the value itself, unchanged.
    bytes: Option<Box<[u8]>>,
    /// The text whose scan this one shares: itself, or the text it differs
    /// from only in case (the scan ignores case).
    scan_of: TextId,
    /// Where its scan is in `scans`, once made.
    scan: Option<usize>,
}

/// Room for a typical request (a few dozen values, a hundred chains)
/// without growing.
const TYPICAL_TEXTS: usize = 512;
const TYPICAL_VALUES: usize = 64;

const UNKNOWN: TextId = TextId::MAX;

impl Default for Texts {
    fn default() -> Texts {
        Texts {
            values: foldhash::HashMap::with_capacity_and_hasher(TYPICAL_VALUES, Default::default()),
            last: None,
            slots: Vec::new(),
            entries: Vec::with_capacity(TYPICAL_TEXTS),
            scans: Vec::new(),
            groups: Vec::new(),
        }
    }
}

impl Texts {
    /// `value` (stable for the request) through `chain`.
    pub fn get(&mut self, value: &[u8], chain: ChainId, chains: &Chains) -> TextId {
        let row = self.row(value, chains.count());
        self.get_in(row, value, chain, chains)
    }

    /// Where the value's texts are.
    fn row(&mut self, value: &[u8], stride: usize) -> usize {
        let key = (value.as_ptr() as usize, value.len());
        if let Some((last, row)) = self.last {
            if last == key {
                return row;
            }
        }
        let next = self.slots.len();
        let row = *self.values.entry(key).or_insert(next);
        if row == next {
            self.slots.resize(next + stride, UNKNOWN);
        }
        self.last = Some((key, row));
        row
    }

    fn get_in(&mut self, row: usize, value: &[u8], chain: ChainId, chains: &Chains) -> TextId {
        let known = self.slots[row + chain as usize];
        if known != UNKNOWN {
            return known;
        }
        let id = match chains.last_step(chain) {
            None => self.push(None, None),
            Some((before, step)) => {
                let from = self.get_in(row, value, before, chains);
                match step.apply(self.bytes(from, value)) {
                    None => from,
                    Some(changed) => {
                        let case_only = matches!(step, Transform::Lowercase | Transform::Uppercase);
                        let scan_of = case_only.then(|| self.entries[from as usize].scan_of);
                        self.push(Some(changed.into_boxed_slice()), scan_of)
                    }
                }
            }
        };
        self.slots[row + chain as usize] = id;
        id
    }

    fn push(&mut self, bytes: Option<Box<[u8]>>, scan_of: Option<TextId>) -> TextId {
        let id = self.entries.len() as TextId;
        self.entries.push(Entry {
            bytes,
            scan_of: scan_of.unwrap_or(id),
            scan: None,
        });
        id
    }

    /// The text's bytes; `value` is the value it was made from.
    pub fn bytes<'t>(&'t self, id: TextId, value: &'t [u8]) -> &'t [u8] {
        self.entries[id as usize].bytes.as_deref().unwrap_or(value)
    }

    /// Whether the text holds a literal of the rule at `slot`.
    pub fn may_match(&mut self, id: TextId, value: &[u8], slot: Slot, pf: &Prefilter) -> bool {
        let at = self.scan(id, value, pf);
        bit(&self.scans[at..], slot)
    }

    /// Where the text's scan is (made on first use).
    fn scan(&mut self, id: TextId, value: &[u8], pf: &Prefilter) -> usize {
        let of = self.entries[id as usize].scan_of;
        if let Some(at) = self.entries[of as usize].scan {
            return at;
        }
        let at = self.scans.len();
        self.scans.resize(at + pf.words(), 0);
        let text = self.entries[of as usize].bytes.as_deref().unwrap_or(value);
        pf.scan(text, &mut self.scans[at..]);
        self.entries[of as usize].scan = Some(at);
        at
    }

    /// A target group's bits, if made in this phase.
    pub fn group(&self, group: u32) -> Option<usize> {
        self.groups.get(group as usize).copied().flatten()
    }

    /// Starts a group's bits: empty, for `add_to_group` to fill.
    pub fn start_group(&mut self, group: u32, pf: &Prefilter) -> usize {
        let at = self.scans.len();
        self.scans.resize(at + pf.words(), 0);
        if self.groups.len() <= group as usize {
            self.groups.resize(group as usize + 1, None);
        }
        self.groups[group as usize] = Some(at);
        at
    }

    /// Adds a text's literals to the group whose bits are at `at`; with no
    /// text (a value that is not the request's own), every rule.
    pub fn add_to_group(&mut self, at: usize, text: Option<(TextId, &[u8])>, pf: &Prefilter) {
        let words = pf.words();
        match text {
            Some((id, value)) => {
                let from = self.scan(id, value, pf);
                for w in 0..words {
                    self.scans[at + w] |= self.scans[from + w];
                }
            }
            None => self.scans[at..at + words].fill(u64::MAX),
        }
    }

    /// Whether the group's bits hold the rule at `slot`.
    pub fn group_may_match(&self, at: usize, slot: Slot) -> bool {
        bit(&self.scans[at..], slot)
    }

    /// Forgets the groups: the body brings values.
    pub fn end_phase(&mut self) {
        self.groups.clear();
    }
}

fn bit(bits: &[u64], slot: Slot) -> bool {
    bits[slot as usize / 64] & (1 << (slot % 64)) != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use Transform::*;

    #[test]
    fn each_step_once_and_unchanged_values_shared() {
        let mut chains = Chains::default();
        let decode = chains.intern(&[UrlDecodeUni]);
        let decode_lower = chains.intern(&[UrlDecodeUni, Lowercase]);
        assert_eq!(chains.intern(&[UrlDecodeUni]), decode);
        assert_eq!(chains.last_step(decode_lower), Some((decode, Lowercase)));
        let mut texts = Texts::default();
        let value = b"A%20B".to_vec();
        let plain = texts.get(&value, 0, &chains);
        let lower = texts.get(&value, decode_lower, &chains);
        assert_eq!(texts.bytes(lower, &value), b"a b");
        let decoded = texts.get(&value, decode, &chains);
        assert_eq!(texts.bytes(decoded, &value), b"A B");
        assert_eq!(texts.entries.len(), 3);
        // A value nothing changes is the value itself, under every chain.
        let clean = b"abc".to_vec();
        let id = texts.get(&clean, decode_lower, &chains);
        assert_eq!(texts.get(&clean, 0, &chains), id);
        assert_eq!(texts.bytes(id, &clean), b"abc");
        // A lowercased text shares the scan of the text it came from.
        let pf = Prefilter::build(&[vec![b"a b".to_vec()], vec![b"%20".to_vec()]]).unwrap();
        assert!(texts.may_match(lower, &value, 0, &pf));
        assert!(!texts.may_match(lower, &value, 1, &pf));
        assert!(texts.may_match(plain, &value, 1, &pf));
        assert_eq!(texts.scans.len(), 2);
    }
}
