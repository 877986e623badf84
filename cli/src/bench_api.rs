//! `blockseal bench api`: requests per second and latency of the AWS-compatible endpoint, and
//! GB/s of the EBS direct APIs through it, over loopback HTTP with SigV4-signed requests as
//! boto3 sends them; with moto's server at hand, the same EC2 loads against it for comparison.
//!
//! The endpoint runs in this process over an engine in a throw-away home; setup (a snapshot and
//! the images) goes straight to the engine, every measured request through HTTP. All traffic
//! stays on 127.0.0.1 and every load is bounded in requests and in time; a moto process, if
//! started, is killed at the end. No crypto here: digests come from the signer. The pure helpers
//! (form encoding, percentiles, the XML and cpuinfo scraps, the block pattern) are tested below.

use crate::bench::{emit, emit_json, load_average, note, table};
use anyhow::{anyhow, bail, Context as _, Result};
use blockseal_engine::base64;
use blockseal_engine::{requests, EbsRequest, EbsResponse, Engine, NoProgress, Request};
use blockseal_server::http::{Client, Limits, Response, Server, ShutdownHandle};
use blockseal_server::service::{Config, Endpoint, DEFAULT_ACCESS_KEY};
use blockseal_server::sigv4::{PayloadSigning, SignedRequest, Signer};
use clap::Args;
use serde::Serialize;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const REGION: &str = "us-east-1";
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";
/// The secret of [`DEFAULT_ACCESS_KEY`] (moto accepts any).
const SECRET: &str = "test";
/// EBS direct API block size.
const BLOCK: usize = 512 * 1024;
/// Request caps of the DescribeImages and CreateVolume loads, on top of --seconds.
const DESCRIBE_CAP: u64 = 200_000;
const CREATE_CAP: u64 = 20_000;
/// The written snapshot: 8192 blocks, or half the free space of the home's file system if less.
const MAX_SNAPSHOT_GIB: u64 = 4;
/// Distinct block contents, cycled over the block indices, and how often a block read back is
/// compared (prime, so the compared blocks cover every content).
const POOL: usize = 64;
const VERIFY_EVERY: u64 = 61;
const MOTO_START: Duration = Duration::from_secs(30);
/// The volume every CreateVolume asks for, and moto's source volume.
const VOLUME: &[(&str, &str)] = &[
    ("AvailabilityZone", "us-east-1a"),
    ("Size", "1"),
    ("Encrypted", "true"),
];

/// `blockseal bench api` flags.
#[derive(Args, Clone, Debug)]
pub struct ApiArgs {
    /// Images registered; every DescribeImages answer lists all of them
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub images: u32,
    /// Concurrent keep-alive clients of each load (EBS direct: workers)
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub clients: u16,
    /// Seconds each load runs at most
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=600))]
    pub seconds: u32,
    /// moto_server to run the EC2 loads against too [default: .venv/bin/moto_server here or
    /// in the workspace, if there is one]
    #[arg(long, value_name = "PATH")]
    pub moto: Option<PathBuf>,
    /// Print one JSON object instead of a table
    #[arg(long)]
    pub json: bool,
}

/// Requests of one load: how many, over how long, and their latency.
#[derive(Clone, Debug)]
struct Rate {
    requests: u64,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// CPU time of this process (clients and endpoint) per request, in ms, where /proc tells:
    /// on a machine shared with other work it says more than the rate does.
    cpu_ms: Option<f64>,
}

impl Rate {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    fn gbps(&self) -> f64 {
        (self.requests * BLOCK as u64) as f64 / self.seconds / 1e9
    }
}

/// `--json` of a request load, moto's figures beside ours.
#[derive(Serialize)]
struct RequestRow {
    #[serde(skip_serializing_if = "Option::is_none")]
    images: Option<u32>,
    clients: u16,
    requests: u64,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    moto_requests: Option<u64>,
    moto_rps: Option<f64>,
    moto_p50_ms: Option<f64>,
    moto_p99_ms: Option<f64>,
    /// blockseal's requests/s over moto's.
    ratio: Option<f64>,
}

impl RequestRow {
    fn new(images: Option<u32>, clients: u16, ours: &Rate, moto: Option<&Rate>) -> RequestRow {
        RequestRow {
            images,
            clients,
            requests: ours.requests,
            rps: ours.rps(),
            p50_ms: ours.p50_ms,
            p99_ms: ours.p99_ms,
            moto_requests: moto.map(|m| m.requests),
            moto_rps: moto.map(Rate::rps),
            moto_p50_ms: moto.map(|m| m.p50_ms),
            moto_p99_ms: moto.map(|m| m.p99_ms),
            ratio: moto.map(|m| ours.rps() / m.rps()),
        }
    }
}

/// `--json` of an EBS direct load.
#[derive(Serialize)]
struct BlockRow {
    workers: u16,
    blocks: u64,
    bytes: u64,
    seconds: f64,
    gbps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl BlockRow {
    fn new(workers: u16, r: &Rate) -> BlockRow {
        BlockRow {
            workers,
            blocks: r.requests,
            bytes: r.requests * BLOCK as u64,
            seconds: r.seconds,
            gbps: r.gbps(),
            p50_ms: r.p50_ms,
            p99_ms: r.p99_ms,
        }
    }
}

#[derive(Serialize)]
struct ApiOut {
    cpu: String,
    cores: usize,
    load_average: String,
    seconds: u32,
    moto: Option<String>,
    describe_images: RequestRow,
    create_volume: RequestRow,
    put_snapshot_block: BlockRow,
    get_snapshot_block: BlockRow,
}

/// Runs `blockseal bench api`.
///
/// # Errors
/// Setting up the home or moto, or any request answered with an unexpected status.
pub fn run(a: &ApiArgs) -> Result<()> {
    let moto_path = find_moto(a.moto.as_deref())?;
    let [describe, create, put, get] = blockseal_loads(a)?;
    let moto = match &moto_path {
        Some(path) => Some(moto_loads(path, a)?),
        None => {
            note("api: no moto_server (--moto, .venv/bin/moto_server): no comparison");
            None
        }
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok();
    let c = a.clients;
    let out = ApiOut {
        cpu: cpu
            .and_then(|s| cpu_model(&s))
            .unwrap_or_else(|| "unknown".into()),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_average: load_average(),
        seconds: a.seconds,
        moto: moto_path.map(|p| p.display().to_string()),
        describe_images: RequestRow::new(Some(a.images), c, &describe, moto.as_ref().map(|m| &m.0)),
        create_volume: RequestRow::new(None, c, &create, moto.as_ref().map(|m| &m.1)),
        put_snapshot_block: BlockRow::new(c, &put),
        get_snapshot_block: BlockRow::new(c, &get),
    };
    if a.json {
        return emit_json(&out);
    }
    emit(&(head(&out) + &table(&HEADER, &rows(&out))))
}

// ---- the loads ----------------------------------------------------------------------------------

/// The four loads against the in-process endpoint; the home is gone when this returns.
fn blockseal_loads(a: &ApiArgs) -> Result<[Rate; 4]> {
    let dir = blockseal_engine::bench::default_dir();
    let work = tempfile::Builder::new()
        .prefix("blockseal-bench-api.")
        .tempdir_in(&dir)
        .with_context(|| format!("create a throw-away home in {}", dir.display()))?;
    let engine = Arc::new(Engine::open(&work.path().join("home"))?);
    let at = work.path().display();
    note(&format!("api: registering {} images in {at}", a.images));
    register_images(&engine, a.images)?;
    let server = Serving::start(Arc::clone(&engine))?;
    let (describe, create) = ec2_loads("blockseal", server.addr, a)?;
    let free = rustix::fs::statvfs(work.path()).map_or(0, |s| s.f_bavail * s.f_frsize);
    let gib = ((free / 2) >> 30).clamp(1, MAX_SNAPSHOT_GIB);
    let (put, get) = block_loads(server.addr, a, gib)?;
    Ok([describe, create, put, get])
}

/// A snapshot and `images` images of it, straight through the engine.
fn register_images(engine: &Engine, images: u32) -> Result<()> {
    let ctx = engine.context(REGION, "admin")?;
    let start = requests::StartSnapshot {
        volume_size: 1,
        encrypted: Some(true),
        ..Default::default()
    };
    let EbsResponse::StartSnapshot(started) =
        engine.ebs(&ctx, EbsRequest::StartSnapshot(start), None)?
    else {
        bail!("StartSnapshot answered with another operation's answer");
    };
    let done = requests::CompleteSnapshot {
        snapshot_id: started.snapshot_id.clone(),
        ..Default::default()
    };
    engine.ebs(&ctx, EbsRequest::CompleteSnapshot(done), None)?;
    for i in 0..images {
        let image = requests::RegisterImage {
            name: image_name(i),
            description: None,
            root_device_name: Some("/dev/xvda".into()),
            block_device_mappings: vec![requests::BlockDeviceMapping {
                device_name: "/dev/xvda".into(),
                no_device: None,
                virtual_name: None,
                ebs: Some(requests::EbsBlockDevice {
                    snapshot_id: Some(started.snapshot_id.clone()),
                    ..Default::default()
                }),
            }],
            architecture: None,
            virtualization_type: None,
            ena_support: None,
            boot_mode: None,
            sriov_net_support: None,
            imds_support: None,
            tpm_support: None,
            tag_specifications: Vec::new(),
        };
        engine.call(&ctx, Request::RegisterImage(image), &NoProgress)?;
    }
    Ok(())
}

/// moto's loads A and B, with a snapshot and the images made through its HTTP API.
fn moto_loads(path: &Path, a: &ApiArgs) -> Result<(Rate, Rate)> {
    let moto = Moto::start(path)?;
    note(&format!(
        "api: moto on {}: registering {} images",
        moto.addr, a.images
    ));
    let mut c = Conn::open(moto.addr)?;
    let r = c.query("CreateVolume", VOLUME)?;
    let vol = xml_text(&r.body, "volumeId").context("moto's CreateVolume: no volumeId")?;
    let r = c.query("CreateSnapshot", &[("VolumeId", &vol)])?;
    let snap = xml_text(&r.body, "snapshotId").context("moto's CreateSnapshot: no snapshotId")?;
    for i in 0..a.images {
        let name = image_name(i);
        let params = [
            ("Name", name.as_str()),
            ("RootDeviceName", "/dev/xvda"),
            ("BlockDeviceMapping.1.DeviceName", "/dev/xvda"),
            ("BlockDeviceMapping.1.Ebs.SnapshotId", &snap),
        ];
        c.query("RegisterImage", &params)?;
    }
    ec2_loads("moto", moto.addr, a)
}

/// Load A (DescribeImages, every image in every answer) and load B (CreateVolume).
fn ec2_loads(who: &str, addr: SocketAddr, a: &ApiArgs) -> Result<(Rate, Rate)> {
    let mine = [("Owner.1", "self")];
    let r = Conn::open(addr)?.query("DescribeImages", &mine)?;
    let listed = String::from_utf8_lossy(&r.body)
        .matches("<imageId>")
        .count();
    if listed != a.images as usize {
        bail!(
            "{who}: DescribeImages listed {listed} images, not {}",
            a.images
        );
    }
    let span = Duration::from_secs(a.seconds.into());
    let describe = |c: &mut Conn, _| c.query("DescribeImages", &mine).map(drop);
    let d = load(addr, a.clients, span, DESCRIBE_CAP, describe)?;
    note_rate(
        who,
        &format!("DescribeImages ({} images)", a.images),
        &d,
        false,
    );
    let create = |c: &mut Conn, _| c.query("CreateVolume", VOLUME).map(drop);
    let v = load(addr, a.clients, span, CREATE_CAP, create)?;
    note_rate(who, "CreateVolume", &v, false);
    Ok((d, v))
}

/// Loads C and D: distinct blocks of a pending encrypted snapshot of `gib` GiB written once
/// each, then, once it is completed, read back, every [`VERIFY_EVERY`]th compared.
fn block_loads(addr: SocketAddr, a: &ApiArgs, gib: u64) -> Result<(Rate, Rate)> {
    let pool: Vec<Vec<u8>> = (0..POOL as u64).map(|i| pattern(i, BLOCK)).collect();
    let sums: Vec<String> = pool.iter().map(|b| checksum(b)).collect::<Result<_>>()?;
    let mut c = Conn::open(addr)?;
    let start = json!({"VolumeSize": gib, "Encrypted": true}).to_string();
    let json_type = [("Content-Type", "application/json")];
    let r = c.ebs("POST", "/snapshots", &json_type, start.as_bytes(), 201)?;
    let snap = string_at(&serde_json::from_slice(&r.body)?, "SnapshotId")?;
    let blocks = (gib << 30) / BLOCK as u64;
    note(&format!(
        "api: PutSnapshotBlock, up to {blocks} blocks of 512 KiB into {snap}"
    ));
    let span = Duration::from_secs(a.seconds.into());
    let size = BLOCK.to_string();
    let put = load(addr, a.clients, span, blocks, |c, i| {
        let k = i as usize % POOL;
        let headers = [
            ("x-amz-Data-Length", size.as_str()),
            ("x-amz-Checksum", &sums[k]),
            ("x-amz-Checksum-Algorithm", "SHA256"),
        ];
        let path = format!("/snapshots/{snap}/blocks/{i}");
        c.ebs("PUT", &path, &headers, &pool[k], 201).map(drop)
    })?;
    note_rate("blockseal", "PutSnapshotBlock", &put, true);
    let count = put.requests.to_string();
    let path = format!("/snapshots/completion/{snap}");
    c.ebs(
        "POST",
        &path,
        &[("x-amz-ChangedBlocksCount", &count)],
        b"",
        202,
    )?;
    let tokens = block_tokens(&mut c, &snap, put.requests)?;
    let get = load(addr, a.clients, span, tokens.len() as u64, |c, i| {
        let (index, token) = &tokens[i as usize];
        let path = format!(
            "/snapshots/{snap}/blocks/{index}?blockToken={}",
            encode(token)
        );
        let r = c.ebs("GET", &path, &[], b"", 200)?;
        let sent = &pool[*index as usize % POOL];
        if r.body.len() != BLOCK || (index % VERIFY_EVERY == 0 && r.body != *sent) {
            bail!("block {index} of {snap} came back different from what was written");
        }
        Ok(())
    })?;
    note_rate("blockseal", "GetSnapshotBlock", &get, true);
    Ok((put, get))
}

/// ListSnapshotBlocks, page by page: every `(index, token)`, which must be `written` blocks.
fn block_tokens(c: &mut Conn, snap: &str, written: u64) -> Result<Vec<(u64, String)>> {
    let mut tokens = Vec::new();
    let mut next: Option<String> = None;
    // Pages of at most 10000 (the API's limit): a bounded number of them.
    for _ in 0..=written / 10_000 + 1 {
        let mut path = format!("/snapshots/{snap}/blocks?maxResults=10000");
        if let Some(t) = &next {
            let _ = write!(path, "&pageToken={}", encode(t));
        }
        let v: Value = serde_json::from_slice(&c.ebs("GET", &path, &[], b"", 200)?.body)?;
        for b in v["Blocks"].as_array().into_iter().flatten() {
            let (Some(i), Some(t)) = (b["BlockIndex"].as_u64(), b["BlockToken"].as_str()) else {
                bail!("ListSnapshotBlocks gave a block without index or token: {b}");
            };
            tokens.push((i, t.to_owned()));
        }
        next = v["NextToken"].as_str().map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    if tokens.len() as u64 != written || next.is_some() {
        bail!(
            "ListSnapshotBlocks listed {} blocks, not {written}",
            tokens.len()
        );
    }
    Ok(tokens)
}

/// Runs `call` from `clients` threads, each with its own connection, handing out the indices
/// 0, 1, … until `cap` calls have started or `span` has passed. The first failure stops every
/// client and is returned.
fn load<F>(addr: SocketAddr, clients: u16, span: Duration, cap: u64, call: F) -> Result<Rate>
where
    F: Fn(&mut Conn, u64) -> Result<()> + Sync,
{
    let next = AtomicU64::new(0);
    let gate = Barrier::new(usize::from(clients) + 1);
    let cpu_before = process_cpu_seconds();
    let client = || -> Result<Vec<f64>> {
        let conn = Conn::open(addr);
        gate.wait();
        let mut conn = conn.inspect_err(|_| next.store(cap, Ordering::Relaxed))?;
        let deadline = Instant::now() + span;
        let mut ms = Vec::new();
        while Instant::now() < deadline {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= cap {
                break;
            }
            let t = Instant::now();
            if let Err(e) = call(&mut conn, i) {
                next.store(cap, Ordering::Relaxed);
                return Err(e);
            }
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        Ok(ms)
    };
    let (results, elapsed) = std::thread::scope(|s| {
        let threads: Vec<_> = (0..clients).map(|_| s.spawn(client)).collect();
        gate.wait();
        let start = Instant::now();
        let panicked = |_| Err(anyhow!("a client panicked"));
        let results: Vec<_> = threads
            .into_iter()
            .map(|t| t.join().unwrap_or_else(panicked))
            .collect();
        (results, start.elapsed())
    });
    let mut ms = Vec::new();
    for r in results {
        ms.extend(r?);
    }
    if ms.is_empty() {
        bail!("no request completed in {} s", span.as_secs());
    }
    ms.sort_by(f64::total_cmp);
    let cpu = process_cpu_seconds().zip(cpu_before).map(|(b, a)| b - a);
    Ok(Rate {
        requests: ms.len() as u64,
        seconds: elapsed.as_secs_f64(),
        p50_ms: percentile(&ms, 50.0),
        p99_ms: percentile(&ms, 99.0),
        cpu_ms: cpu.map(|c| c * 1e3 / ms.len() as f64),
    })
}

/// User and system CPU seconds of this process so far, all threads (`/proc/self/stat`).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses and may contain anything.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // utime and stime are fields 14 and 15 of the line; `rest` starts at field 3.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = rustix::param::clock_ticks_per_second();
    (ticks > 0).then(|| (utime + stime) as f64 / ticks as f64)
}

fn note_rate(who: &str, what: &str, r: &Rate, blocks: bool) {
    let rate = if blocks {
        format!("{} blocks, {:.2} GB/s", r.requests, r.gbps())
    } else {
        per_second(r.rps())
    };
    let (p50, p99) = (r.p50_ms, r.p99_ms);
    let cpu = r
        .cpu_ms
        .map(|c| format!(", CPU {c:.3} ms per request (this process)"))
        .unwrap_or_default();
    note(&format!(
        "api: {who}: {what}: {rate}, p50 {p50:.2} ms, p99 {p99:.2} ms{cpu}"
    ));
}

// ---- HTTP ---------------------------------------------------------------------------------------

/// A keep-alive connection that signs what it sends. It reconnects after an answer with
/// `Connection: close`, as botocore does (moto's server closes after every answer).
struct Conn {
    client: Client,
    addr: SocketAddr,
    host: String,
    closed: bool,
}

impl Conn {
    fn open(addr: SocketAddr) -> Result<Conn> {
        let client = Client::connect(addr).with_context(|| format!("connect to {addr}"))?;
        let host = addr.to_string();
        Ok(Conn {
            client,
            addr,
            host,
            closed: false,
        })
    }

    /// Sends `method target` signed for `service`; an answer other than `want` is an error.
    fn send(
        &mut self,
        service: &str,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        want: u16,
    ) -> Result<Response> {
        if self.closed {
            *self = Conn::open(self.addr)?;
        }
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut all: Vec<(String, String)> = headers
            .iter()
            .map(|&(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        // botocore leaves PutSnapshotBlock's body out of the signature (`v4-unsigned-body`);
        // x-amz-Checksum covers it.
        let payload = match method {
            "PUT" => PayloadSigning::Unsigned,
            _ => PayloadSigning::Hashed,
        };
        let req = SignedRequest {
            method,
            path,
            query,
            headers: &all,
            body,
        };
        let auth = signer(service, payload).headers_for(&req, &self.host, now_unix());
        all.extend(auth);
        let refs: Vec<(&str, &str)> = all.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let r = self.client.send(method, target, &refs, body);
        let r = r.with_context(|| format!("{method} {path} to {}", self.host))?;
        self.closed = r
            .header_value("connection")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("close"));
        if r.status != want {
            let text: String = String::from_utf8_lossy(&r.body).chars().take(400).collect();
            bail!(
                "{method} {path}: HTTP {} instead of {want}: {text}",
                r.status
            );
        }
        Ok(r)
    }

    /// An EBS direct API request.
    fn ebs(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        want: u16,
    ) -> Result<Response> {
        self.send("ebs", method, target, headers, body, want)
    }

    /// An EC2 Query request of `action` with `params`, which must succeed.
    fn query(&mut self, action: &str, params: &[(&str, &str)]) -> Result<Response> {
        let body = ec2_form(action, params);
        let headers = [("Content-Type", FORM)];
        let r = self.send("ec2", "POST", "/", &headers, body.as_bytes(), 200);
        r.with_context(|| format!("EC2 {action}"))
    }
}

fn signer(service: &str, payload: PayloadSigning) -> Signer<'_> {
    Signer {
        access_key_id: DEFAULT_ACCESS_KEY,
        secret: SECRET,
        region: REGION,
        service,
        payload,
    }
}

fn now_unix() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH);
    since.map_or(0, |d| d.as_secs() as i64)
}

/// The base64 SHA-256 that `x-amz-Checksum` carries. The signer hashes the body for
/// `X-Amz-Content-Sha256` (in hex) anyway, so this crate needs no SHA-256 of its own.
fn checksum(block: &[u8]) -> Result<String> {
    let req = SignedRequest {
        method: "PUT",
        path: "/",
        query: "",
        headers: &[],
        body: block,
    };
    let signed = signer("ebs", PayloadSigning::HashedWithHeader).headers_for(&req, "localhost", 0);
    signed
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-amz-content-sha256"))
        .and_then(|(_, hex)| hex_to_base64(&hex))
        .ok_or_else(|| anyhow!("the signer gave no body hash"))
}

/// The endpoint serving on a loopback port from a thread; stopped and awaited on drop.
struct Serving {
    addr: SocketAddr,
    stop: ShutdownHandle,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Serving {
    fn start(engine: Arc<Engine>) -> Result<Serving> {
        let server = Server::bind("127.0.0.1:0", Limits::default()).context("bind 127.0.0.1")?;
        let (addr, stop) = (server.local_addr(), server.shutdown_handle());
        let endpoint = Endpoint::new(engine, Config::default());
        let serve = move || server.serve(move |req| endpoint.handle(req).response);
        Ok(Serving {
            addr,
            stop,
            thread: Some(std::thread::spawn(serve)),
        })
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.stop.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---- moto ---------------------------------------------------------------------------------------

/// `--moto`, else `.venv/bin/moto_server` here or in the workspace, else none.
fn find_moto(given: Option<&Path>) -> Result<Option<PathBuf>> {
    if let Some(p) = given {
        if !p.is_file() {
            bail!("--moto {}: no such file", p.display());
        }
        return Ok(Some(p.to_owned()));
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server");
    let here = PathBuf::from(".venv/bin/moto_server");
    Ok([here, workspace].into_iter().find(|p| p.is_file()))
}

/// A `moto_server` child on a free loopback port; killed and awaited on drop.
struct Moto {
    child: Child,
    addr: SocketAddr,
}

impl Moto {
    fn start(path: &Path) -> Result<Moto> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let child = Command::new(path)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // Without its catalogue of public AMIs moto holds the same images as we do.
            .env("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("start {}", path.display()))?;
        let mut moto = Moto { child, addr };
        let began = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(250)).is_err() {
            if let Some(status) = moto.child.try_wait()? {
                bail!("{} exited ({status}) before listening", path.display());
            }
            if began.elapsed() > MOTO_START {
                bail!("{} did not listen on {addr} within 30 s", path.display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- output -------------------------------------------------------------------------------------

const HEADER: [&str; 7] = [
    "load",
    "blockseal",
    "p50 ms",
    "p99 ms",
    "moto",
    "moto p99 ms",
    "ratio",
];

fn head(o: &ApiOut) -> String {
    let moto = match &o.moto {
        Some(p) => format!(
            "moto: {p}, the same EC2 loads (it closes every connection: its clients reconnect, \
             as botocore does); ratio = blockseal / moto"
        ),
        None => "moto: not found (--moto PATH or .venv/bin/moto_server); no comparison".into(),
    };
    let (clients, put) = (o.describe_images.clients, &o.put_snapshot_block);
    let dir = blockseal_engine::bench::default_dir();
    format!(
        "blockseal endpoint in-process on 127.0.0.1, throw-away home in {}; {clients} keep-alive \
         SigV4 clients, at most {} s per load\nCPU: {} ({} cores, shared by clients and \
         servers); load {}\n{moto}\nEBS direct: {} blocks of 512 KiB ({:.2} GB), each written \
         once to a pending encrypted snapshot, then read back; GB/s is 10^9 bytes/s\n",
        dir.display(),
        o.seconds,
        o.cpu,
        o.cores,
        o.load_average,
        put.blocks,
        put.bytes as f64 / 1e9
    )
}

fn rows(o: &ApiOut) -> Vec<Vec<String>> {
    let ms = |v: f64| format!("{v:.2}");
    let req = |name: String, r: &RequestRow| {
        let moto = r.moto_rps.map(per_second);
        let ratio = r.ratio.map(|v| format!("{v:.1}x"));
        let (rps, p50, p99) = (per_second(r.rps), ms(r.p50_ms), ms(r.p99_ms));
        let theirs = [moto, r.moto_p99_ms.map(ms), ratio].map(Option::unwrap_or_default);
        [vec![name, rps, p50, p99], theirs.to_vec()].concat()
    };
    let blk = |name: &str, b: &BlockRow| {
        let ours = [
            name.to_owned(),
            format!("{:.2} GB/s", b.gbps),
            ms(b.p50_ms),
            ms(b.p99_ms),
        ];
        [ours.to_vec(), vec![String::new(); 3]].concat()
    };
    let images = o.describe_images.images.unwrap_or_default();
    vec![
        req(
            format!("describe-images ({images} images)"),
            &o.describe_images,
        ),
        req("create-volume".into(), &o.create_volume),
        blk("put-snapshot-block", &o.put_snapshot_block),
        blk("get-snapshot-block", &o.get_snapshot_block),
    ]
}

// ---- pure helpers -------------------------------------------------------------------------------

/// A request rate with the digits that matter: `3442 req/s`, `0.93 req/s`.
fn per_second(v: f64) -> String {
    let digits = if v < 10.0 { 2 } else { 0 };
    format!("{v:.digits$} req/s")
}

fn image_name(i: u32) -> String {
    format!("bench-{i:06}")
}

fn string_at(v: &Value, key: &str) -> Result<String> {
    let s = v[key].as_str().ok_or_else(|| anyhow!("no {key} in {v}"))?;
    Ok(s.to_owned())
}

/// `s` percent-encoded for a form body or a query (RFC 3986 unreserved characters kept).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The `application/x-www-form-urlencoded` body of EC2 Query action `action`.
fn ec2_form(action: &str, params: &[(&str, &str)]) -> String {
    let mut body = format!("Action={}&Version=2016-11-15", encode(action));
    for (k, v) in params {
        let _ = write!(body, "&{}={}", encode(k), encode(v));
    }
    body
}

/// The nearest-rank `p`th percentile of `sorted` (ascending); 0 when empty.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The text of the first `<tag>…</tag>` in `xml`.
fn xml_text(xml: &[u8], tag: &str) -> Option<String> {
    let xml = std::str::from_utf8(xml).ok()?;
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&format!("</{tag}>"))?;
    Some(xml[start..start + len].to_owned())
}

/// The first `model name` of /proc/cpuinfo.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == "model name").then(|| v.trim().to_owned())
    })
}

fn hex_to_base64(hex: &str) -> Option<String> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
    let bytes: Option<Vec<u8>> = (0..hex.len()).step_by(2).map(byte).collect();
    Some(base64::encode(&bytes?))
}

/// `len` bytes that look random (splitmix64 from `seed`), so no layer can skip or compress
/// them; the same for the same seed.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let at = |p| percentile(&v, p);
        assert_eq!(
            [at(0.0), at(50.0), at(99.0), at(100.0)],
            [1.0, 50.0, 99.0, 100.0]
        );
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 50.0), 2.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
        assert_eq!(
            (per_second(3441.6), per_second(0.9317)),
            ("3442 req/s".into(), "0.93 req/s".into())
        );
    }

    #[test]
    fn query_bodies_are_percent_encoded() {
        let body = ec2_form(
            "RegisterImage",
            &[("Owner.1", "self"), ("Name", "a b/c+d=é")],
        );
        let want =
            "Action=RegisterImage&Version=2016-11-15&Owner.1=self&Name=a%20b%2Fc%2Bd%3D%C3%A9";
        assert_eq!(body, want);
        assert_eq!(encode("3f.0a1b-_~"), "3f.0a1b-_~");
    }

    #[test]
    fn scraps_of_xml_and_cpuinfo_parse() {
        let xml = b"<CreateVolumeResponse><volumeId>vol-1a</volumeId><size>1</size>";
        assert_eq!(xml_text(xml, "volumeId").as_deref(), Some("vol-1a"));
        assert_eq!(xml_text(xml, "snapshotId"), None);
        assert_eq!(xml_text(b"<a>unclosed", "a"), None);
        let info = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n\
                    processor\t: 1\nmodel name\t: other\n";
        assert_eq!(
            cpu_model(info).as_deref(),
            Some("Intel(R) Xeon(R) CPU @ 2.20GHz")
        );
        assert_eq!(cpu_model("processor : 0\n"), None);
    }

    #[test]
    fn checksums_are_base64_sha256() {
        // SHA-256 of the empty string, in hex and in base64.
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let b64 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        assert_eq!(hex_to_base64(hex).as_deref(), Some(b64));
        assert_eq!(checksum(b"").unwrap(), b64);
        assert_eq!((hex_to_base64("abc"), hex_to_base64("zz")), (None, None));
    }

    #[test]
    fn patterns_are_deterministic_and_distinct() {
        let a = pattern(1, 1000);
        assert_eq!((a.len(), &a), (1000, &pattern(1, 1000)));
        assert_ne!(a, pattern(2, 1000));
        assert!(a.iter().filter(|&&b| b == 0).count() < 20);
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let parse = |args: &[&str]| crate::args::Cli::try_parse_from(args).map(|c| c.group);
        let Ok(crate::args::Group::Bench(b)) = parse(&["blockseal", "bench", "api"]) else {
            panic!("bench api does not parse")
        };
        let crate::bench::BenchCommand::Api(a) = b.what else {
            panic!("{:?}", b.what)
        };
        assert_eq!((a.images, a.clients, a.seconds), (1000, 8, 5));
        assert!(a.moto.is_none() && !a.json);
        assert!(parse(&["blockseal", "bench", "api", "--clients", "0"]).is_err());
    }
}
