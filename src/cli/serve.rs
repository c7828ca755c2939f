//! `gatehouse serve`: runs until told to stop (see `crate::server`).

use crate::server::{self, ServeOptions};
use std::path::PathBuf;

pub fn run(root: PathBuf, watch: bool, upgrade: bool) -> anyhow::Result<bool> {
    server::serve(ServeOptions {
        root,
        watch,
        upgrade,
    })?;
    Ok(true)
}
