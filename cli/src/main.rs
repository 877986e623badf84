//! The `blockseal` command: AWS CLI v2 style front end over the engine. It parses arguments into
//! one engine operation (`ec2.rs`, `kms.rs`), invokes it, and prints the response (`output.rs`)
//! or the AWS-style error, with the AWS CLI's exit codes: 0 success, 252 usage error, 254 the
//! operation failed, 255 anything else (e.g. a waiter that gave up), 130 Ctrl-C. `run.rs` holds
//! the AWS CLI's global habits around one call (--query, pagination, --dry-run, …).
//!
//! No crypto, SQL or file format here: the engine owns all of that.

#![forbid(unsafe_code)]

mod args;
mod bench;
mod bench_api;
#[cfg(test)]
mod coverage;
mod demo;
mod ec2;
mod iam;
mod interrupt;
mod kms;
mod mount;
mod output;
mod paginate;
mod params;
mod progress;
mod query;
mod request;
mod run;
mod serve;
mod shorthand;
mod skeleton;
mod wait;

use args::{Cli, Ec2Command, Group};
use blockseal_engine::{Options, Session};
use std::io::IsTerminal;
use std::process::ExitCode;

/// Exit status for usage errors (the AWS CLI's).
pub(crate) const EXIT_USAGE: u8 = 252;
/// Exit status when the service returned an error.
pub(crate) const EXIT_SERVICE: u8 = 254;
/// Exit status for other failures.
pub(crate) const EXIT_OTHER: u8 = 255;

fn main() -> ExitCode {
    let parsed = match run::parse(std::env::args_os().collect()) {
        Ok(p) => p,
        Err(e) => {
            use clap::error::ErrorKind as K;
            // Help and version go to stdout with status 0; anything else is a usage error.
            let status = match e.kind() {
                K::DisplayHelp | K::DisplayVersion => 0,
                _ => EXIT_USAGE,
            };
            let _ = e.print();
            return ExitCode::from(status);
        }
    };
    let cli = &parsed.cli;
    if !matches!(
        cli.group,
        Group::Ec2(_) | Group::Kms(_) | Group::Iam(_) | Group::Sts(_)
    ) {
        if let Some(refused) = run::refuse_operation_flags(cli) {
            return refused;
        }
    }
    match &cli.group {
        Group::Ec2(Ec2Command::Wait(w)) => run_waiter(cli, w),
        Group::Ec2(cmd) => {
            let (op, req) = ec2::request(cmd, &cli.region);
            run::operation(&parsed, op, req)
        }
        Group::Kms(cmd) => {
            let (op, req) = kms::request(cmd);
            run::operation(&parsed, op, req)
        }
        Group::Mount(a) => run_mount(cli, a),
        Group::Umount(a) => {
            let home = options(cli).home;
            match mount::umount(&home, &a.dir) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => match e.downcast_ref::<mount::ServiceError>() {
                    Some(se) => {
                        eprint!("{}", aws_error(se.op, &se.err));
                        ExitCode::from(EXIT_SERVICE)
                    }
                    None => {
                        eprintln!("blockseal umount: {e:#}");
                        ExitCode::from(EXIT_OTHER)
                    }
                },
            }
        }
        Group::Bench(a) => bench::run(a),
        Group::Serve(a) => match serve::run(&options(cli).home, a) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("blockseal serve: {e:#}");
                ExitCode::from(EXIT_OTHER)
            }
        },
        Group::Iam(cmd) => {
            let (op, req) = iam::request(cmd);
            run::operation(&parsed, op, req)
        }
        Group::Sts(cmd) => {
            let (op, req) = iam::sts_request(cmd);
            run::operation(&parsed, op, req)
        }
        Group::Doctor(a) => run_doctor(cli, a),
        Group::Account(cmd) => run_account(cli, cmd),
        Group::Demo(a) => match demo::run(a) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("\nblockseal demo failed: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

pub(crate) fn options(cli: &Cli) -> Options {
    Options {
        home: cli.home.clone().unwrap_or_else(Options::default_home),
        region: cli.region.clone(),
        profile: cli.profile.clone(),
    }
}

/// The AWS CLI's error line for a failed operation.
pub(crate) fn aws_error(op: &str, e: &blockseal_engine::Error) -> String {
    format!(
        "\nAn error occurred ({}) when calling the {op} operation: {}\n",
        e.code(),
        e.message()
    )
}

/// Opens the home as `opts` say and reports on stderr what the open quarantined.
pub(crate) fn open_session(opts: Options) -> blockseal_engine::Result<Session> {
    let session = Session::open(opts)?;
    report_quarantine(session.engine());
    Ok(session)
}

/// Tells the user, once (the files are moved, so the next open finds none), which data files
/// the home's start-up moved to quarantine because no catalog row owns them.
pub(crate) fn report_quarantine(engine: &blockseal_engine::Engine) {
    let moved = engine.quarantined();
    if moved.is_empty() {
        return;
    }
    let names: Vec<String> = moved
        .iter()
        .map(|p| {
            p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            )
        })
        .collect();
    eprintln!(
        "blockseal: {} data file{} no catalog row owns {} moved to {}: {} \
         (`blockseal doctor --repair` takes them back as rows)",
        moved.len(),
        if moved.len() == 1 { "" } else { "s" },
        if moved.len() == 1 { "was" } else { "were" },
        engine.home().join("quarantine").display(),
        names.join(", ")
    );
}

/// Exit status of `blockseal doctor` when findings remain.
const EXIT_FINDINGS: u8 = 1;

/// `blockseal account create|list`: local administration of the home's accounts (no AWS
/// operation; AWS Organizations is outside the services served).
fn run_account(cli: &Cli, cmd: &args::AccountCommand) -> ExitCode {
    let result = blockseal_engine::Engine::open(&options(cli).home).and_then(|engine| {
        Ok(match cmd {
            args::AccountCommand::Create(a) => {
                serde_json::json!({ "Account": engine.create_account(a.name.as_deref())? })
            }
            args::AccountCommand::List => serde_json::json!({ "Accounts": engine.accounts()? }),
        })
    });
    let op = match cmd {
        args::AccountCommand::Create(_) => "CreateAccount",
        args::AccountCommand::List => "ListAccounts",
    };
    match result {
        Ok(value) => run::print_documents(cli, op, vec![value]),
        Err(e) => {
            eprint!("{}", aws_error(op, &e));
            ExitCode::from(EXIT_SERVICE)
        }
    }
}

fn run_doctor(cli: &Cli, a: &args::DoctorArgs) -> ExitCode {
    match blockseal_engine::doctor(&options(cli).home, a.repair) {
        Ok(report) => {
            let value = serde_json::to_value(&report).expect("reports serialize");
            let printed = run::print_documents(cli, "Doctor", vec![value]);
            if printed != ExitCode::SUCCESS {
                printed
            } else if report.healthy() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FINDINGS)
            }
        }
        Err(e) => {
            eprint!("{}", aws_error("Doctor", &e));
            ExitCode::from(EXIT_SERVICE)
        }
    }
}

fn run_mount(cli: &Cli, a: &args::MountArgs) -> ExitCode {
    let mut opts = options(cli);
    opts.home = std::path::absolute(&opts.home).unwrap_or(opts.home);
    let flags = mount::Flags {
        read_only: a.read_only,
        allow_non_empty: a.allow_non_empty,
    };
    let result = if a.daemon && !a.serve {
        let global = [
            "--home".to_owned(),
            opts.home.display().to_string(),
            "--region".to_owned(),
            opts.region.clone(),
            "--profile".to_owned(),
            opts.profile.clone(),
        ];
        mount::spawn_daemon(&opts.home, &global, &a.instance_id, &a.dir, flags).map(|log| {
            println!(
                "Mounted {} on {}; log: {}",
                a.instance_id,
                a.dir.display(),
                log.display()
            );
        })
    } else {
        mount::init_logger();
        open_session(opts)
            .map_err(mount::service_error("Mount"))
            .and_then(|engine| mount::serve(engine, &a.instance_id, &a.dir, flags))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<mount::ServiceError>() {
            Some(se) => {
                eprint!("{}", aws_error(se.op, &se.err));
                ExitCode::from(EXIT_SERVICE)
            }
            None => {
                eprintln!("blockseal mount: {e:#}");
                ExitCode::from(EXIT_OTHER)
            }
        },
    }
}

fn run_waiter(cli: &Cli, w: &args::WaitCommand) -> ExitCode {
    if let Err(e) = interrupt::exit_on_ctrl_c() {
        eprintln!("blockseal: Ctrl-C will not exit cleanly: {e}");
    }
    let waiter = wait::waiter_of(w);
    let (op, req) = ec2::request(&Ec2Command::Wait(w.clone()), &cli.region);
    let engine = match open_session(options(cli)) {
        Ok(e) => e,
        Err(e) => {
            eprint!("{}", aws_error(op, &e));
            return ExitCode::from(EXIT_SERVICE);
        }
    };
    let describe = || {
        run::traced_call(
            &engine,
            cli.debug,
            op,
            req.clone(),
            &blockseal_engine::NoProgress,
        )
        .map_err(|e| (e.code().to_string(), e.message().to_owned()))
    };
    let delay = wait::delay();
    match wait::poll(waiter, describe, wait::max_attempts(waiter, delay), delay) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("\n{msg}");
            ExitCode::from(EXIT_OTHER)
        }
    }
}

/// The width a table must fit: the terminal's when stdout is one, else 80 (as the AWS CLI).
pub(crate) fn terminal_width() -> usize {
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return 80;
    }
    terminal_size::terminal_size_of(&stdout).map_or(80, |(w, _)| usize::from(w.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_line_is_the_aws_cli_s() {
        let e = blockseal_engine::Error::new(
            blockseal_engine::Code::INVALID_PARAMETER_DEPENDENCY,
            "The parameter KmsKeyId requires the parameter Encrypted to be set.",
        );
        assert_eq!(
            aws_error("CopyImage", &e),
            "\nAn error occurred (InvalidParameterDependency) when calling the CopyImage \
             operation: The parameter KmsKeyId requires the parameter Encrypted to be set.\n"
        );
    }
}
