use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    gatehouse::logging::init();
    gatehouse::cli::run(gatehouse::cli::Cli::parse())
}
