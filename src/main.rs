use clap::Parser;

// The proxy path allocates many small, short-lived buffers across threads;
// mimalloc handles that pattern markedly better than glibc malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::ExitCode;

fn main() -> ExitCode {
    gatehouse::logging::init();
    gatehouse::cli::run(gatehouse::cli::Cli::parse())
}
