//! `blockseal serve`: the AWS-compatible endpoint (EC2 Query, KMS JSON, EBS direct APIs, STS,
//! IAM access keys) and the web console on one port, over the home's engine. Loopback by default;
//! the first line on standard output is the API's URL, the second the console's (with its token);
//! one line per request on standard error; Ctrl-C or SIGTERM stop it after the requests in flight.

use crate::args::ServeArgs;
use blockseal_engine::Engine;
use blockseal_server::console::Console;
use blockseal_server::http::{Limits, Server};
use blockseal_server::service::{Config, Endpoint, DEFAULT_ACCESS_KEY};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Job workers: each re-key already spreads over the cores, two keep a second job moving.
const WORKERS: usize = 2;

/// Runs the endpoint until SIGINT or SIGTERM. Jobs still running then are left to resume on the
/// next start (their temporary files go with this process; nothing half-made is committed).
///
/// # Errors
/// Opening the home, binding the address, or installing the signal handlers.
pub fn run(home: &Path, a: &ServeArgs) -> anyhow::Result<()> {
    // The server holds the KMS root key and unwraps data keys for every copy: no core dumps.
    if let Err(e) = blockseal_engine::forbid_core_dumps() {
        eprintln!("blockseal: cannot turn core dumps off (prctl PR_SET_DUMPABLE): {e}");
    }
    let engine = Arc::new(Engine::open(home).map_err(|e| anyhow::anyhow!("{e}"))?);
    crate::report_quarantine(&engine);
    let server = Server::bind(&a.listen, Limits::default())
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", a.listen))?;
    let addr = server.local_addr();
    let mut out = std::io::stdout().lock();
    let console = Console::new(Arc::clone(&engine), Console::new_token());
    // Both lines in one write (formatted first: `writeln!` writes its pieces one by one, and a
    // line-buffered stdout sends the first line on its own): a reader that wants only the
    // first line may close the pipe after it.
    let urls = format!(
        "http://{addr}\n{}\n",
        console.url(&format!("http://{addr}"))
    );
    out.write_all(urls.as_bytes())?;
    out.flush()?;
    drop(out);
    eprintln!(
        "blockseal serve: home {}, account {}; {}",
        home.display(),
        engine.account(),
        if a.no_default_credentials {
            "sign with an access key from `blockseal iam create-access-key`".to_owned()
        } else {
            format!(
                "access key {DEFAULT_ACCESS_KEY}/{DEFAULT_ACCESS_KEY} signs as admin \
                 (--no-default-credentials turns it off)"
            )
        }
    );
    if !addr.ip().is_loopback() {
        eprintln!("blockseal serve: warning: listening on {addr}, reachable from other machines");
    }
    let handle = server.shutdown_handle();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])?;
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            eprintln!("blockseal serve: signal {sig}: finishing the requests in flight");
            handle.shutdown();
        }
    });
    // Jobs (copies, re-keys, new volumes) run on workers; ones a stopped server left behind
    // resume now.
    let _workers = engine.start_workers(WORKERS);
    let endpoint = Endpoint::new(
        engine,
        Config {
            default_credentials: !a.no_default_credentials,
            import_dirs: a.import_dir.clone(),
        },
    );
    server.serve(move |req| {
        let start = Instant::now();
        if Console::wants(req) {
            let h = console.handle(req);
            eprintln!(
                "{} {} {} {} {:.1}ms",
                req.method,
                h.operation,
                h.principal,
                h.response.status,
                start.elapsed().as_secs_f64() * 1e3,
            );
            return h.response;
        }
        let h = endpoint.handle(req);
        eprintln!(
            "{} {} {} {} {:.1}ms {}",
            req.method,
            h.operation,
            h.principal,
            h.response.status,
            start.elapsed().as_secs_f64() * 1e3,
            h.request_id
        );
        h.response
    })?;
    eprintln!("blockseal serve: stopped");
    Ok(())
}
