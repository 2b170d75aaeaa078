//! Running the `fjord` binary's client commands in tests, and checking how they ended:
//! exit code, stdout and stderr. The binary's path comes from the test
//! (`env!("CARGO_BIN_EXE_fjord")` exists only in the `fjord` package's tests).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::command::{Finished, run_with_timeout};

/// Exit codes the client commands promise (see `fjord --help` of any of them).
pub const FAILURE: i32 = 1;
/// The command line was invalid.
pub const USAGE: i32 = 2;
/// No broker could be reached, or one did not answer in time.
pub const UNREACHABLE: i32 = 3;
/// What was named does not exist.
pub const NOT_FOUND: i32 = 4;

/// How long one command may run before the test fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `binary ARGS` with nothing on stdin and without the caller's FJORD_BROKERS, so
/// that only the test decides where the brokers are.
pub fn run_fjord(binary: impl AsRef<Path>, args: &[&str]) -> Finished {
    let mut command = Command::new(binary.as_ref());
    command.args(args).env_remove("FJORD_BROKERS");
    run_with_timeout(&mut command, b"", COMMAND_TIMEOUT)
}

/// The exit code of a program that exited (rather than being killed by a signal).
pub fn exit_code(finished: &Finished) -> i32 {
    finished.status.code().expect("fjord exited, not killed")
}

/// Asserts that the program succeeded and returns its stdout.
pub fn expect_success(finished: Finished) -> String {
    assert_eq!(
        exit_code(&finished),
        0,
        "fjord failed\n--- stdout\n{}\n--- stderr\n{}",
        finished.stdout,
        finished.stderr
    );
    finished.stdout
}

/// Asserts exit code `expected` with nothing on stdout, and returns stderr.
pub fn expect_failure(finished: Finished, expected: i32) -> String {
    assert_eq!(
        exit_code(&finished),
        expected,
        "exit code\n--- stdout\n{}\n--- stderr\n{}",
        finished.stdout,
        finished.stderr
    );
    assert_eq!(finished.stdout, "", "nothing on stdout after an error");
    finished.stderr
}

/// An address of 127.0.0.1 that nobody listens on: a port just bound and released.
pub fn closed_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let address = listener.local_addr().expect("its address").to_string();
    drop(listener);
    address
}
