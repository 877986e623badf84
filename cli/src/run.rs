//! One EC2, KMS or IAM command with the AWS CLI's global habits around the engine call:
//! `--cli-input-json` and `--generate-cli-skeleton`, `--dry-run`, automatic pagination with
//! `--page-size`/`--max-items`/`--starting-token` (or `--no-paginate`), `--query` on the joined
//! result, `--debug` traces, and Ctrl-C as exit 130.
//!
//! The rules of each operation stay in the engine; this module only shapes requests and output.

use crate::args::{Cli, Output};
use crate::paginate::{self, Paginator, Paging};
use crate::skeleton::{self, Side};
use crate::{output, query, EXIT_OTHER, EXIT_SERVICE, EXIT_USAGE};
use blockseal_engine::Session;
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};
use serde_json::Value;
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

/// What a required flag holds while `--cli-input-json` or `--generate-cli-skeleton` stands in
/// for it: valid base64 and a plain string, so every value parser takes it; members that
/// still hold it afterwards were not given and are dropped.
const NOT_GIVEN: &str = "Tk9UR0lWRU4tYmxvY2tzZWFs";

/// The command line as parsed, and the ids of the flags it named (not defaults, not the
/// environment).
pub struct Parsed {
    pub cli: Cli,
    pub explicit: BTreeSet<String>,
    /// Where the region came from, for `--debug`.
    pub region_origin: String,
}

/// Parses `argv`. With `--cli-input-json` or `--generate-cli-skeleton` no flag is required:
/// the JSON gives the members (or a skeleton needs none), as in the AWS CLI.
///
/// # Errors
/// clap's usage error (or help and version, which clap also reports as errors).
pub fn parse(argv: Vec<OsString>) -> Result<Parsed, clap::Error> {
    let relaxed = argv.iter().any(|a| {
        let a = a.to_string_lossy();
        ["--cli-input-json", "--generate-cli-skeleton"]
            .iter()
            .any(|f| a == *f || a.starts_with(&format!("{f}=")))
    });
    let cmd = if relaxed {
        relax(Cli::command())
    } else {
        Cli::command()
    };
    let matches = cmd.try_get_matches_from(argv)?;
    let cli = Cli::from_arg_matches(&matches)?;
    let mut explicit = BTreeSet::new();
    let mut m: &ArgMatches = &matches;
    loop {
        explicit.extend(
            m.ids()
                .filter(|id| m.value_source(id.as_str()) == Some(ValueSource::CommandLine))
                .map(|id| id.as_str().to_owned()),
        );
        match m.subcommand() {
            Some((_, sub)) => m = sub,
            None => break,
        }
    }
    let region_origin = if explicit.contains("region") {
        "--region".to_owned()
    } else if matches.value_source("region") == Some(ValueSource::EnvVariable) {
        "BLOCKSEAL_REGION".to_owned()
    } else {
        crate::args::default_region().1.to_owned()
    };
    Ok(Parsed {
        cli,
        explicit,
        region_origin,
    })
}

/// `cmd` with every required flag optional, holding [`NOT_GIVEN`] when absent.
fn relax(mut cmd: clap::Command) -> clap::Command {
    let required: Vec<clap::Id> = cmd
        .get_arguments()
        .filter(|a| a.is_required_set() && !a.is_positional())
        .map(|a| a.get_id().clone())
        .collect();
    for id in required {
        cmd = cmd.mut_arg(id, |a| a.required(false).default_value(NOT_GIVEN));
    }
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for name in subs {
        cmd = cmd.mut_subcommand(name, relax);
    }
    cmd
}

/// Whether request member `member` came from a flag the user typed: `--kms-key-id` gives
/// `KmsKeyId`, `--no-encrypted` gives `Encrypted`, `--count` gives `MinCount` and `MaxCount`.
fn named_on_command_line(explicit: &BTreeSet<String>, member: &str) -> bool {
    explicit.iter().any(|id| {
        let pascal: String = id
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect::<String>())
                    .unwrap_or_default()
            })
            .collect();
        pascal == member
            || pascal.strip_prefix("No") == Some(member)
            || (id == "count" && (member == "MinCount" || member == "MaxCount"))
    })
}

fn holds_not_given(v: &Value) -> bool {
    match v {
        Value::String(s) => s == NOT_GIVEN,
        Value::Array(a) => a.iter().any(holds_not_given),
        Value::Object(m) => m.values().any(holds_not_given),
        _ => false,
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("\nblockseal: error: {msg}");
    ExitCode::from(EXIT_USAGE)
}

/// The flags given that operation `op` does not take, as the AWS CLI's "Unknown options".
fn unknown_options(cli: &Cli, op: &str) -> Vec<&'static str> {
    let mut bad = Vec::new();
    if cli.dry_run && !blockseal_engine::DRY_RUN_OPERATIONS.contains(&op) {
        bad.push("--dry-run");
    }
    if paginate::paginator(op).is_none() {
        bad.extend(paging_flags(cli));
    }
    bad
}

/// For a command that is no service operation (`doctor`, `mount`, `bench`, …): the usage error
/// for operation-only flags it was given (`--dry-run`, the pagination flags), which it would
/// otherwise ignore — `doctor --repair --dry-run` must not repair.
pub fn refuse_operation_flags(cli: &Cli) -> Option<ExitCode> {
    let bad = unknown_options(cli, "");
    (!bad.is_empty()).then(|| usage(&format!("Unknown options: {}", bad.join(", "))))
}

/// The pagination flags given.
fn paging_flags(cli: &Cli) -> Vec<&'static str> {
    let mut given = Vec::new();
    if cli.starting_token.is_some() {
        given.push("--starting-token");
    }
    if cli.page_size.is_some() {
        given.push("--page-size");
    }
    if cli.max_items.is_some() {
        given.push("--max-items");
    }
    given
}

/// Runs operation `op` with the request `req` the command line made, and prints the result.
pub fn operation(parsed: &Parsed, op: &str, req: Value) -> ExitCode {
    let cli = &parsed.cli;
    let bad = unknown_options(cli, op);
    if !bad.is_empty() {
        return usage(&format!("Unknown options: {}", bad.join(", ")));
    }
    let paging_flags = paging_flags(cli);
    if cli.no_paginate && !paging_flags.is_empty() {
        // The AWS CLI's rule; one page of N items is `--cli-input-json '{"MaxResults": N}'`.
        return usage(&format!(
            "Cannot specify --no-paginate along with pagination arguments: {}",
            paging_flags.join(", ")
        ));
    }
    if !parsed.explicit.contains("output") && std::env::var_os("BLOCKSEAL_OUTPUT").is_none() {
        if let Ok(v) = std::env::var("AWS_DEFAULT_OUTPUT") {
            if !v.is_empty() && <Output as clap::ValueEnum>::from_str(&v, false).is_err() {
                return usage(&format!(
                    "AWS_DEFAULT_OUTPUT={v}: blockseal prints json, text or table"
                ));
            }
        }
    }
    // Members still holding NOT_GIVEN were required flags the user left to the JSON.
    let mut req = match req {
        Value::Object(m) => {
            Value::Object(m.into_iter().filter(|(_, v)| !holds_not_given(v)).collect())
        }
        other => other,
    };
    if let Some(input) = &cli.cli_input_json {
        req =
            match skeleton::merge_input(input, req, |m| named_on_command_line(&parsed.explicit, m))
            {
                Ok(r) => r,
                Err(e) => return usage(&e),
            };
    }
    if cli.generate_cli_skeleton == Some(Side::Input) {
        return match skeleton::skeleton(op, Side::Input) {
            Some(s) => write_stdout(&output::json(&s)),
            None => usage(&format!(
                "{op} is blockseal's own operation: no AWS model describes its input"
            )),
        };
    }
    if cli.dry_run {
        if let Some(m) = req.as_object_mut() {
            m.insert("DryRun".to_owned(), Value::Bool(true));
        }
    }
    if cli.generate_cli_skeleton == Some(Side::Output) {
        // The AWS CLI checks the parameters, then prints a made-up answer without a call.
        if let Err(e) = blockseal_engine::Request::parse(op, req) {
            eprint!("{}", crate::aws_error(op, &e));
            return ExitCode::from(EXIT_SERVICE);
        }
        let Some(s) = skeleton::skeleton(op, Side::Output) else {
            return usage(&format!(
                "{op} is blockseal's own operation: no AWS model describes its output"
            ));
        };
        return print_documents(cli, op, vec![s]);
    }

    if let Err(e) = crate::interrupt::exit_on_ctrl_c() {
        eprintln!("blockseal: Ctrl-C will not exit cleanly: {e}");
    }
    let opts = crate::options(cli);
    if cli.debug {
        eprintln!(
            "blockseal DEBUG: blockseal {} home {} region {} (from {}) profile {}",
            env!("CARGO_PKG_VERSION"),
            opts.home.display(),
            opts.region,
            parsed.region_origin,
            opts.profile
        );
    }
    let session = match crate::open_session(opts) {
        Ok(s) => s,
        Err(e) => {
            eprint!("{}", crate::aws_error(op, &e));
            return ExitCode::from(EXIT_SERVICE);
        }
    };
    let progress = crate::progress::Bar::for_stderr();
    let call = |req: Value| traced_call(&session, cli.debug, op, req, &progress);

    let paging = Paging {
        page_size: cli.page_size,
        max_items: cli.max_items,
        starting_token: cli.starting_token.clone(),
    };
    let pager = paginate::paginator(op).filter(|p| {
        // As the AWS CLI: a request that sets the page token itself (through --cli-input-json)
        // is one call, like --no-paginate; a limit it sets is the size of every page.
        !cli.no_paginate && req.get(p.input_token).is_none()
    });
    let documents = match pager {
        Some(p) => match paginate::run(&p, &req, &paging, call) {
            Ok(pages) => paged_documents(cli, &p, &pages),
            Err(paginate::Error::Call(e)) => {
                eprint!("{}", crate::aws_error(op, &e));
                return ExitCode::from(EXIT_SERVICE);
            }
            Err(paginate::Error::BadStartingToken(t)) => {
                eprintln!("\nblockseal: error: Bad starting token: {t}");
                return ExitCode::from(EXIT_OTHER);
            }
            Err(paginate::Error::SameTokenTwice(t)) => {
                eprintln!("\nblockseal: error: The same next token was received twice: {t}");
                return ExitCode::from(EXIT_OTHER);
            }
        },
        None => match call(req) {
            Ok(resp) => vec![crate::iam::shown(op, resp)],
            Err(e) => {
                eprint!("{}", crate::aws_error(op, &e));
                return ExitCode::from(EXIT_SERVICE);
            }
        },
    };
    print_documents(cli, op, documents)
}

/// What a paginated command prints, before `--query`: the joined result, or for `text` each
/// page by itself and then the resume token (the AWS CLI's text formatter streams pages).
fn paged_documents(cli: &Cli, p: &Paginator, pages: &paginate::Pages) -> Vec<Value> {
    match cli.output {
        Output::Text => pages.text_pages(p),
        Output::Json | Output::Table => vec![pages.full_result(p)],
    }
}

/// One engine call, traced on stderr with `--debug` (sensitive members hidden).
pub(crate) fn traced_call(
    session: &Session,
    debug: bool,
    op: &str,
    req: Value,
    progress: &dyn blockseal_engine::Progress,
) -> blockseal_engine::Result<Value> {
    if !debug {
        return session.invoke(op, req, progress);
    }
    eprintln!(
        "blockseal DEBUG: calling {op} with {}",
        skeleton::redact(op, Side::Input, &req)
    );
    let started = std::time::Instant::now();
    let out = session.invoke(op, req, progress);
    let ms = started.elapsed().as_millis();
    match &out {
        Ok(v) => eprintln!(
            "blockseal DEBUG: {op} answered in {ms} ms: {}",
            skeleton::redact(op, Side::Output, v)
        ),
        Err(e) => eprintln!(
            "blockseal DEBUG: {op} failed in {ms} ms: {} {}",
            e.code(),
            e.message()
        ),
    }
    out
}

/// Applies `--query` to each document, renders it in the output format and writes them all.
pub(crate) fn print_documents(cli: &Cli, op: &str, documents: Vec<Value>) -> ExitCode {
    let width = crate::terminal_width();
    let mut text = String::new();
    for doc in documents {
        let doc = match &cli.query {
            Some(q) => match query::apply(q, &doc) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("\nblockseal: error: --query {q}: {e}");
                    return ExitCode::from(EXIT_OTHER);
                }
            },
            None => doc,
        };
        text.push_str(&output::render(&doc, op, cli.output, width));
    }
    write_stdout(&text)
}

/// Writes `text` to stdout; a closed pipe (`| head`) ends quietly with success.
pub fn write_stdout(text: &str) -> ExitCode {
    if text.is_empty() {
        return ExitCode::SUCCESS;
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nblockseal: cannot write the output: {e}");
            ExitCode::from(EXIT_OTHER)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(args: &[&str]) -> Parsed {
        parse(
            std::iter::once("blockseal")
                .chain(args.iter().copied())
                .map(OsString::from)
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn cli_input_json_makes_required_flags_optional() {
        // Without it, --source-image-id is required.
        let argv = ["blockseal", "ec2", "copy-image", "--name", "n"];
        assert!(parse(argv.iter().map(OsString::from).collect()).is_err());
        let p = parsed(&[
            "ec2",
            "copy-image",
            "--name",
            "n",
            "--cli-input-json",
            r#"{"SourceImageId": "ami-0123456789abcdef0"}"#,
        ]);
        assert!(p.explicit.contains("name"));
        assert!(!p.explicit.contains("source_image_id"));
        let crate::args::Group::Ec2(cmd) = &p.cli.group else {
            panic!()
        };
        let (_, req) = crate::ec2::request(cmd, "us-east-1");
        assert_eq!(req["SourceImageId"], json!(NOT_GIVEN));
        assert!(holds_not_given(&req["SourceImageId"]));
    }

    #[test]
    fn members_named_on_the_command_line() {
        let explicit: BTreeSet<String> = ["kms_key_id", "no_encrypted", "count"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        for m in ["KmsKeyId", "Encrypted", "MinCount", "MaxCount"] {
            assert!(named_on_command_line(&explicit, m), "{m}");
        }
        assert!(!named_on_command_line(&explicit, "SourceRegion"));
    }

    #[test]
    fn flags_an_operation_does_not_take_are_unknown_options() {
        let p = parsed(&["kms", "describe-key", "--key-id", "k", "--dry-run"]);
        assert_eq!(unknown_options(&p.cli, "DescribeKey"), ["--dry-run"]);
        let p = parsed(&["ec2", "get-ebs-encryption-by-default", "--max-items", "2"]);
        assert_eq!(
            unknown_options(&p.cli, "GetEbsEncryptionByDefault"),
            ["--max-items"]
        );
        let p = parsed(&["ec2", "describe-volumes", "--max-items", "2", "--dry-run"]);
        assert!(unknown_options(&p.cli, "DescribeVolumes").is_empty());
    }

    #[test]
    fn a_bad_query_is_a_usage_error() {
        let argv = ["blockseal", "ec2", "describe-images", "--query", "Images[?"];
        let e = parse(argv.iter().map(OsString::from).collect())
            .err()
            .unwrap();
        assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
    }
}
