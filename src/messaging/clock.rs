//! Wall-clock time in unix milliseconds: message timestamps are wall-clock
//! because they are stored and compared across restarts.

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
