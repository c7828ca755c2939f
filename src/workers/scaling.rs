//! How many pollers a worker runs, decided once per tick (a second) from
//! what the pollers saw in it. As Lambda scales SQS pollers: while batches
//! come back full there is a backlog, so add a poller (up to `max`); while
//! receives come back empty the queue is drained, so stop one (down to
//! `min`); otherwise hold.

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Batches that came back with `batch_size` messages.
    pub full: u64,
    /// Receives that returned messages.
    pub nonempty: u64,
    /// Receives that returned none (after their long poll).
    pub empty: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Add,
    Remove,
    Hold,
}

pub fn decide(tick: Tick, pollers: usize, min: usize, max: usize) -> Decision {
    if pollers < min || (tick.full > 0 && pollers < max) {
        Decision::Add
    } else if tick.nonempty == 0 && tick.empty > 0 && pollers > min {
        Decision::Remove
    } else {
        Decision::Hold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_on_full_batches_and_shrinks_when_drained() {
        let full = Tick {
            full: 2,
            nonempty: 2,
            empty: 0,
        };
        let some = Tick {
            full: 0,
            nonempty: 3,
            empty: 1,
        };
        let idle = Tick {
            full: 0,
            nonempty: 0,
            empty: 4,
        };
        assert_eq!(decide(full, 1, 1, 4), Decision::Add);
        assert_eq!(decide(full, 4, 1, 4), Decision::Hold);
        assert_eq!(decide(some, 3, 1, 4), Decision::Hold);
        assert_eq!(decide(idle, 3, 1, 4), Decision::Remove);
        assert_eq!(decide(idle, 1, 1, 4), Decision::Hold);
        assert_eq!(decide(Tick::default(), 0, 2, 4), Decision::Add);
    }
}
