//! Ctrl-C during a command: exit with status 130 (128 + SIGINT), as the AWS CLI does, instead of
//! dying of the signal (which a shell also reports as 130, but a parent process sees as "killed
//! by signal 2", not as an exit status).
//!
//! Nothing to undo here: the engine never leaves a half-written result where a reader looks.
//! An import or copy writes `HOME/tmp/<id>.<pid>.tmp` and renames it into place in the commit
//! that records it; an export is an unnamed file linked into place at the end. A process that
//! stops at any point (this exit, SIGKILL, power loss) leaves all-old or all-new, and the next
//! open of the home removes temporaries whose process is gone (`tests/crash.rs`).

/// Exit status after Ctrl-C.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Makes SIGINT end the process with [`EXIT_INTERRUPTED`]: a thread waits for the signal, ends
/// the line a progress bar may have left on stderr, and exits.
///
/// # Errors
/// When the signal handler cannot be installed.
pub fn exit_on_ctrl_c() -> std::io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT])?;
    std::thread::Builder::new()
        .name("ctrl-c".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                eprintln!();
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
        })?;
    Ok(())
}
