//! The `disbmon` binary: parses the command line, sets up logging to stderr, runs the command and
//! exits with its code.

use clap::Parser;
use std::io::IsTerminal;

fn main() {
    // Everything written — the state store, `.eml` files, cached downloads, temporary copies —
    // holds official mail or source data: its owner's only.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let cli = disbmon::app::cli::Cli::parse();
    // The daemon reports each run at info level; one-off commands only warn.
    let default_level = if matches!(cli.command, disbmon::app::cli::Command::Run) {
        "info"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DISBMON_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            std::process::exit(disbmon::app::exit::ERROR);
        }
    };
    let code = runtime.block_on(disbmon::app::cli::run(cli));
    std::process::exit(code);
}
