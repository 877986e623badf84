//! The HTTP/1.1 transport of the endpoint: a blocking, thread-per-connection server and a small
//! keep-alive client for tests and benchmarks, on std alone.
//!
//! This module owns framing only: request lines, headers, `Content-Length` and chunked bodies,
//! `Expect: 100-continue`, keep-alive, limits, timeouts and graceful shutdown. It knows nothing
//! about AWS protocols, signatures or the engine; the handler passed to [`Server::serve`] decides
//! what every request means, including requests with methods this module has never heard of.
//!
//! Two choices shape the threads:
//! - The accept loop blocks in `accept`; [`ShutdownHandle::shutdown`] sets a flag and then opens
//!   one connection to the listener to wake it. A non-blocking listener polled on a timer would
//!   add up to one poll period of latency to every new connection, and the aws CLI opens a new
//!   connection per command.
//! - Connection sockets carry a short receive timeout ([`POLL`]). Reads retry on it, so a thread
//!   waiting for the next request on an idle keep-alive connection looks at the shutdown flag
//!   every [`POLL`] and the idle and read timeouts are measured by the reader, not the kernel.
//!   The timeout only fires when no byte arrives, so it costs nothing while data flows.

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, IoSlice, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a connection read blocks before it looks at the shutdown flag and its own deadline.
/// Shutdown promises to close idle connections within about 100 ms.
const POLL: Duration = Duration::from_millis(50);

/// Read buffer per connection: large enough for any request head seen from boto3 or the aws
/// CLI. Bodies larger than the buffer bypass it and land directly in the body `Vec`.
const READ_BUFFER: usize = 32 * 1024;

/// A connection keeps the body buffer of its last request, up to this capacity, for the next
/// one: a stream of equal-sized bodies (EBS direct blocks of 512 KiB) is then read without an
/// allocation or a zeroing pass per request.
const KEPT_BODY: usize = 1024 * 1024;

/// A chunk-size line is a hex number plus optional extensions; nobody sends kilobytes of them.
const MAX_CHUNK_LINE: usize = 4096;

/// After rejecting a request whose body is still arriving, keep reading (and discarding) for at
/// most this long and this many bytes before closing. Closing a socket with unread input makes
/// the kernel answer with RST, and a client still writing its body may then lose our response.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 64 * 1024 * 1024;

/// Pause after an accept error such as `EMFILE`, so a persistent one does not spin a core.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How long the shutdown wake-up connection may take; on loopback it takes microseconds.
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

/// Default timeout for every read and write of a [`Client`].
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// One HTTP request, fully received (the body is read before the handler runs).
#[derive(Debug, Clone)]
pub struct Request {
    /// The method exactly as sent (`GET`, `POST`, or anything else made of token characters).
    pub method: String,
    /// The raw path, percent-encoded as received, without the query. An absolute-form target
    /// (`http://host/path`) is reduced to its path.
    pub path: String,
    /// The raw query string without the `?`; empty if there is none.
    pub query: String,
    /// Header names as received, values with surrounding whitespace trimmed, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body, with any chunked framing removed. The handler may modify it or take it: the
    /// server only reuses its allocation for the connection's next request.
    pub body: Vec<u8>,
    /// The address of the client.
    pub peer: SocketAddr,
}

impl Request {
    /// The value of the first header called `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// One HTTP response: what a handler returns and what [`Client::send`] gives back.
///
/// The server owns the framing headers: any `Content-Length`, `Transfer-Encoding` or
/// `Connection` set by a handler is replaced, except that a handler's `Connection: close` makes
/// the server close the connection after this response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code, 100 to 999.
    pub status: u16,
    /// Header names and values, in the order they are sent.
    pub headers: Vec<(String, String)>,
    /// The body; not sent for `HEAD` requests and for 1xx, 204 and 304 responses.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with `status`, a `Content-Type` header (left out if `content_type` is empty)
    /// and `body`.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        let mut headers = Vec::with_capacity(4);
        if !content_type.is_empty() {
            headers.push(("Content-Type".to_owned(), content_type.to_owned()));
        }
        Response {
            status,
            headers,
            body: body.into(),
        }
    }

    /// This response with one more header.
    #[must_use]
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The value of the first header called `name`, compared case-insensitively.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// Resource limits and timeouts of a [`Server`].
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted; a larger one is answered with 413 and the connection
    /// closed. Default 32 MiB.
    pub max_body: usize,
    /// Largest request head (request line and headers, with line ends); a larger one is
    /// answered with 431 and the connection closed. Default 64 KiB.
    pub max_header_bytes: usize,
    /// Connections served at once; one more is answered with 503 and closed. Default 512.
    pub max_connections: usize,
    /// How long a keep-alive connection may sit idle between requests before it is closed
    /// silently. Default 60 s.
    pub idle_timeout: Duration,
    /// How long a partly received request may go without a new byte before the connection is
    /// closed. Also bounds each blocked write of a response. Default 30 s.
    pub read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body: 32 * 1024 * 1024,
            max_header_bytes: 64 * 1024,
            max_connections: 512,
            idle_timeout: Duration::from_secs(60),
            read_timeout: Duration::from_secs(30),
        }
    }
}

/// State shared by the accept loop, the connection threads and every [`ShutdownHandle`].
#[derive(Debug)]
struct Shared {
    shutdown: AtomicBool,
    /// Where [`ShutdownHandle::shutdown`] connects to wake a blocked `accept`.
    wake_addr: SocketAddr,
}

impl Shared {
    fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }
}

/// Asks a running [`Server`] to stop; cheap to clone and usable from any thread.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
}

impl ShutdownHandle {
    /// Requests shutdown and returns at once; [`Server::serve`] returns when the requests in
    /// flight have been answered. Calling it again, or before `serve` starts, is harmless.
    pub fn shutdown(&self) {
        if self.shared.shutdown.swap(true, Ordering::AcqRel) {
            return;
        }
        // Wake the accept loop; it drops this connection once it sees the flag. Refused is
        // fine: it means `serve` is not running.
        if let Err(e) = TcpStream::connect_timeout(&self.shared.wake_addr, WAKE_TIMEOUT) {
            log::debug!(
                "shutdown wake-up connection to {}: {e}",
                self.shared.wake_addr
            );
        }
    }

    /// Whether shutdown has been requested.
    pub fn is_shutdown(&self) -> bool {
        self.shared.is_shutdown()
    }
}

/// A bound HTTP/1.1 listener; [`Server::serve`] runs it.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    limits: Limits,
    shared: Arc<Shared>,
}

impl Server {
    /// Binds `addr` (`"127.0.0.1:0"` picks a free port).
    ///
    /// # Errors
    /// The address does not parse or resolve, or binding fails (in use, not permitted).
    pub fn bind(addr: &str, limits: Limits) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let local_addr = listener.local_addr()?;
        // A wildcard address accepts loopback connections of its family; connecting to the
        // wildcard itself is not portable.
        let wake_ip = match local_addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let shared = Arc::new(Shared {
            shutdown: AtomicBool::new(false),
            wake_addr: SocketAddr::new(wake_ip, local_addr.port()),
        });
        Ok(Server {
            listener,
            local_addr,
            limits,
            shared,
        })
    }

    /// The address the server listens on, with the port the system chose.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that stops [`Server::serve`] from another thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Serves until shutdown is requested; then stops accepting, lets every request already
    /// being handled finish and its response be written (with `Connection: close`), closes
    /// idle keep-alive connections, and returns once all connection threads have ended.
    ///
    /// Each connection gets its own thread. A handler that panics is answered with 500, logged,
    /// and its connection closed; the server goes on. The handler gets the request mutably so
    /// that it can use the body in place (decrypting, encrypting) instead of copying it.
    ///
    /// # Errors
    /// None at present: accept errors are logged and retried, since one failing connection
    /// must not stop the endpoint. The `Result` leaves room for fatal listener errors.
    pub fn serve<H>(self, handler: H) -> io::Result<()>
    where
        H: Fn(&mut Request) -> Response + Send + Sync + 'static,
    {
        let Server {
            listener,
            limits,
            shared,
            ..
        } = self;
        let handler = Arc::new(handler);
        let limits = Arc::new(limits);
        let mut workers: Vec<JoinHandle<()>> = Vec::new();
        while !shared.is_shutdown() {
            let (stream, peer) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(e) => {
                    match e.kind() {
                        io::ErrorKind::Interrupted
                        | io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset => {}
                        _ => {
                            log::warn!("accept on {}: {e}", shared.wake_addr);
                            thread::sleep(ACCEPT_BACKOFF);
                        }
                    }
                    continue;
                }
            };
            if shared.is_shutdown() {
                // The wake-up connection, or a client arriving as we stop: dropping closes it.
                break;
            }
            // A finished thread has dropped its socket; its handle needs no join.
            workers.retain(|w| !w.is_finished());
            if workers.len() >= limits.max_connections {
                reject_busy(stream);
                continue;
            }
            let handler = Arc::clone(&handler);
            let limits = Arc::clone(&limits);
            let conn_shared = Arc::clone(&shared);
            let spawned = thread::Builder::new()
                .name("blockseal-http".to_owned())
                .spawn(move || serve_connection(stream, peer, &*handler, &limits, &conn_shared));
            match spawned {
                Ok(worker) => workers.push(worker),
                // The closure, and with it the socket, was dropped: the client sees a close.
                Err(e) => log::error!("spawning a connection thread for {peer}: {e}"),
            }
        }
        // Refuse new connections at once rather than leave them in the backlog while the
        // remaining requests finish.
        drop(listener);
        for worker in workers {
            if worker.join().is_err() {
                log::error!("an HTTP connection thread panicked outside its handler");
            }
        }
        Ok(())
    }
}

/// Answers a connection over the limit with 503 from the accept thread, without blocking it.
fn reject_busy(stream: TcpStream) {
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    // Swallow whatever request already arrived, so closing does not turn into an RST that
    // could destroy the 503 before the client reads it.
    let mut scratch = [0u8; 4096];
    let mut drained = 0;
    while drained < 64 * 1024 {
        match (&stream).read(&mut scratch) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
    let response = Response::new(503, "text/plain", "too many connections\n");
    let head = encode_head(&response, true, Version::Http11);
    let mut out = head;
    out.extend_from_slice(&response.body);
    // A fresh socket's send buffer takes a few hundred bytes without blocking.
    let _ = (&stream).write_all(&out);
    let _ = stream.shutdown(Shutdown::Write);
}

/// Which timeout governs a connection read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Between requests: the idle timeout applies and shutdown ends the wait.
    Idle,
    /// Inside a request: the read timeout applies and shutdown does not interrupt.
    Busy,
}

/// A connection socket whose reads retry on the short socket timeout until the phase's own
/// limit passes, so `BufReader` and `read_exact` above it never see a spurious timeout.
struct ConnStream {
    stream: TcpStream,
    shared: Arc<Shared>,
    phase: Phase,
    limit: Duration,
    /// When the current run of reads without data began; `None` while data flows.
    stalled_since: Option<Instant>,
}

impl ConnStream {
    fn arm(&mut self, phase: Phase, limit: Duration) {
        self.phase = phase;
        self.limit = limit;
        self.stalled_since = None;
    }
}

impl Read for ConnStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.stream.read(buf) {
                Ok(n) => {
                    self.stalled_since = None;
                    return Ok(n);
                }
                Err(e) if is_timeout(&e) => {
                    if self.phase == Phase::Idle && self.shared.is_shutdown() {
                        return Err(io::Error::other("server shutting down"));
                    }
                    let now = Instant::now();
                    // The socket timeout fired, so the stall began one POLL ago.
                    let since = *self
                        .stalled_since
                        .get_or_insert_with(|| now.checked_sub(POLL).unwrap_or(now));
                    if now.duration_since(since) >= self.limit {
                        return Err(io::ErrorKind::TimedOut.into());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    // SO_RCVTIMEO surfaces as EAGAIN on Unix and as a timeout on Windows.
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

type ConnReader = BufReader<ConnStream>;

/// Runs one connection until it closes, times out, errs, or shutdown finds it idle.
fn serve_connection<H>(
    stream: TcpStream,
    peer: SocketAddr,
    handler: &H,
    limits: &Limits,
    shared: &Arc<Shared>,
) where
    H: Fn(&mut Request) -> Response,
{
    // Responses go out in one write; Nagle would hold a small one back waiting for an ACK.
    let configured = stream
        .set_nodelay(true)
        .and_then(|()| stream.set_read_timeout(Some(POLL)))
        .and_then(|()| stream.set_write_timeout(Some(limits.read_timeout.max(POLL))));
    if let Err(e) = configured {
        log::debug!("configuring connection from {peer}: {e}");
        return;
    }
    let conn = ConnStream {
        stream,
        shared: Arc::clone(shared),
        phase: Phase::Idle,
        limit: limits.idle_timeout,
        stalled_since: None,
    };
    let mut reader = BufReader::with_capacity(READ_BUFFER, conn);
    let mut kept = Vec::new();
    loop {
        if shared.is_shutdown() && reader.buffer().is_empty() {
            return;
        }
        reader.get_mut().arm(Phase::Idle, limits.idle_timeout);
        match reader.fill_buf() {
            Ok([]) => return,
            Ok(_) => {}
            Err(e) => {
                log::trace!("connection from {peer} ends while idle: {e}");
                return;
            }
        }
        reader.get_mut().arm(Phase::Busy, limits.read_timeout);
        match serve_one(&mut reader, peer, handler, limits, shared, &mut kept) {
            Ok(true) => {}
            Ok(false) => return,
            Err(ReadError::Closed(e)) => {
                log::debug!("connection from {peer} closed mid-request: {e}");
                return;
            }
            Err(ReadError::Reject(status, reason)) => {
                log::debug!("rejecting a request from {peer}: {status} {reason}");
                reject_and_close(&mut reader, status, reason);
                return;
            }
        }
    }
}

/// Reads, handles and answers one request. `Ok(true)` keeps the connection open. `kept` is the
/// body buffer of the connection's previous request (see [`KEPT_BODY`]).
fn serve_one<H>(
    reader: &mut ConnReader,
    peer: SocketAddr,
    handler: &H,
    limits: &Limits,
    shared: &Shared,
    kept: &mut Vec<u8>,
) -> Result<bool, ReadError>
where
    H: Fn(&mut Request) -> Response,
{
    let head = read_head(reader, limits.max_header_bytes)?;
    let framing = body_framing(&head.headers, limits.max_body)?;
    if framing != Framing::Empty && head.expects_continue() {
        // RFC 9110 §10.1.1: the client may wait for this before sending the body.
        if let Err(e) = (&reader.get_ref().stream).write_all(b"HTTP/1.1 100 Continue\r\n\r\n") {
            return Err(ReadError::Closed(e));
        }
    }
    let body = read_body(reader, framing, limits, kept)?;
    let mut keep_alive = head.wants_keep_alive();
    let head_only = head.method == "HEAD";
    let version = head.version;
    let (path, query) = split_target(&head.target);
    let mut request = Request {
        path: path.to_owned(),
        query: query.to_owned(),
        method: head.method,
        headers: head.headers,
        body,
        peer,
    };
    let response = match panic::catch_unwind(AssertUnwindSafe(|| handler(&mut request))) {
        Ok(response) => response,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("(non-string panic payload)");
            log::error!(
                "handler panicked on {} {} from {peer}: {message}",
                request.method,
                request.path
            );
            keep_alive = false;
            Response::new(500, "text/plain", "internal server error\n")
        }
    };
    // Checked after the handler so that a request in flight when shutdown came is the last
    // one on its connection, and the client learns so from the response.
    if shared.is_shutdown() || response.header_value("connection").is_some_and(has_close) {
        keep_alive = false;
    }
    let stream = &reader.get_ref().stream;
    if let Err(e) = write_response(stream, &response, head_only, !keep_alive, version) {
        log::debug!("writing a response to {peer}: {e}");
        return Ok(false);
    }
    if keep_alive && request.body.capacity() <= KEPT_BODY {
        *kept = request.body;
    }
    Ok(keep_alive)
}

/// Sends an error response with `Connection: close`, then closes without resetting.
fn reject_and_close(reader: &mut ConnReader, status: u16, reason: &str) {
    let response = Response::new(status, "text/plain", format!("{reason}\n"));
    let stream = &reader.get_ref().stream;
    if write_response(stream, &response, false, true, Version::Http11).is_err() {
        return;
    }
    let _ = stream.shutdown(Shutdown::Write);
    // Discard what the client still sends (a rejected body, say) until it closes, so our
    // response is not lost to an RST; bounded in time and bytes.
    let start = Instant::now();
    let mut drained = reader.buffer().len();
    let mut scratch = vec![0u8; 64 * 1024];
    while drained < LINGER_BYTES && start.elapsed() < LINGER_TIME {
        match (&reader.get_ref().stream).read(&mut scratch) {
            Ok(0) => break,
            Ok(n) => drained += n,
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

/// Why reading a request (or a response, in the client) stopped.
#[derive(Debug)]
enum ReadError {
    /// The peer closed, reset, or went quiet past its timeout: nothing useful to answer.
    Closed(io::Error),
    /// The request is unacceptable: answer with this status and close.
    Reject(u16, &'static str),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> ReadError {
        ReadError::Closed(e)
    }
}

impl From<ReadError> for io::Error {
    fn from(e: ReadError) -> io::Error {
        match e {
            ReadError::Closed(e) => e,
            ReadError::Reject(status, reason) => io::Error::new(
                io::ErrorKind::InvalidData,
                format!("malformed HTTP message ({status}): {reason}"),
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    Http10,
    Http11,
}

/// A parsed request line and header block.
#[derive(Debug)]
struct Head {
    method: String,
    target: String,
    version: Version,
    headers: Vec<(String, String)>,
}

impl Head {
    /// RFC 9112 §9.3: 1.1 is persistent unless `close`; 1.0 only with `keep-alive`.
    fn wants_keep_alive(&self) -> bool {
        let mut close = false;
        let mut keep = false;
        for value in header_values(&self.headers, "connection") {
            for token in value.split(',').map(str::trim) {
                close |= token.eq_ignore_ascii_case("close");
                keep |= token.eq_ignore_ascii_case("keep-alive");
            }
        }
        !close && (self.version == Version::Http11 || keep)
    }

    /// RFC 9110 §10.1.1: a 1.0 request's `100-continue` must be ignored.
    fn expects_continue(&self) -> bool {
        self.version == Version::Http11
            && header_values(&self.headers, "expect")
                .any(|v| v.eq_ignore_ascii_case("100-continue"))
    }
}

/// How a request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(usize),
    Chunked,
}

/// Reads a request line and headers, at most `max_bytes` of them including line ends.
fn read_head<R: BufRead>(reader: &mut R, max_bytes: usize) -> Result<Head, ReadError> {
    let mut budget = max_bytes;
    let mut line = Vec::with_capacity(256);
    // RFC 9112 §2.2: ignore empty lines before the request line (left by sloppy clients
    // after a body).
    loop {
        line.clear();
        budget -= read_line(reader, &mut line, budget, 431)?;
        if !strip_eol(&line).is_empty() {
            break;
        }
    }
    let (method, target, version) = parse_request_line(&line)?;
    let headers = read_headers(reader, &mut line, budget)?;
    Ok(Head {
        method,
        target,
        version,
        headers,
    })
}

/// Reads header lines up to and including the empty line that ends them.
fn read_headers<R: BufRead>(
    reader: &mut R,
    line: &mut Vec<u8>,
    mut budget: usize,
) -> Result<Vec<(String, String)>, ReadError> {
    let mut headers = Vec::with_capacity(16);
    loop {
        line.clear();
        budget -= read_line(reader, line, budget, 431)?;
        let text = strip_eol(line);
        if text.is_empty() {
            return Ok(headers);
        }
        headers.push(parse_header_line(text)?);
    }
}

/// Appends one line, up to and including `\n`, to `line` and returns its length. A line not
/// ended within `limit` bytes is rejected with `too_long`.
fn read_line<R: BufRead>(
    reader: &mut R,
    line: &mut Vec<u8>,
    limit: usize,
    too_long: u16,
) -> Result<usize, ReadError> {
    let n = reader.by_ref().take(limit as u64).read_until(b'\n', line)?;
    if line.last() == Some(&b'\n') {
        Ok(n)
    } else if n >= limit {
        Err(ReadError::Reject(too_long, "line too long"))
    } else {
        Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed mid-message",
        )
        .into())
    }
}

/// The line without its `\r\n`, or a bare `\n` (RFC 9112 §2.2 lets a recipient accept one).
fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn parse_request_line(line: &[u8]) -> Result<(String, String, Version), ReadError> {
    const BAD: ReadError = ReadError::Reject(400, "malformed request line");
    let text = std::str::from_utf8(strip_eol(line)).map_err(|_| BAD)?;
    let mut parts = text.split([' ', '\t']).filter(|p| !p.is_empty());
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BAD);
    };
    if !method.bytes().all(is_tchar) {
        return Err(BAD);
    }
    let target_ok = target.starts_with('/') || target == "*" || strip_scheme(target).is_some();
    if !target_ok || target.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err(ReadError::Reject(400, "malformed request target"));
    }
    let version = match version {
        "HTTP/1.1" => Version::Http11,
        "HTTP/1.0" => Version::Http10,
        v if is_http_version(v) => {
            return Err(ReadError::Reject(505, "HTTP version not supported"));
        }
        _ => return Err(BAD),
    };
    Ok((method.to_owned(), target.to_owned(), version))
}

/// `HTTP/<digit>.<digit>`.
fn is_http_version(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 8
        && b.starts_with(b"HTTP/")
        && b[5].is_ascii_digit()
        && b[6] == b'.'
        && b[7].is_ascii_digit()
}

/// RFC 9110 §5.6.2 token characters, the alphabet of methods and header names.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn parse_header_line(line: &[u8]) -> Result<(String, String), ReadError> {
    if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
        // RFC 9112 §5.2: obsolete line folding may be rejected, and nothing we serve sends it.
        return Err(ReadError::Reject(400, "folded header line"));
    }
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return Err(ReadError::Reject(400, "header line without a colon"));
    };
    let (name, value) = (&line[..colon], trim_ows(&line[colon + 1..]));
    // RFC 9112 §5.1: no whitespace between the name and the colon.
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(ReadError::Reject(400, "malformed header name"));
    }
    if value.iter().any(|&b| b == b'\r' || b == 0) {
        return Err(ReadError::Reject(400, "control character in header value"));
    }
    // Names are tokens, hence ASCII. Values are ASCII in every AWS protocol; other bytes are
    // kept (lossily) so a signature check, not the transport, decides.
    let name = String::from_utf8_lossy(name).into_owned();
    let value = String::from_utf8_lossy(value).into_owned();
    Ok((name, value))
}

/// Trims optional whitespace (SP and HTAB) from both ends.
fn trim_ows(mut b: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}

/// Decides how the body is delimited (RFC 9112 §6.3) and applies the size limit.
fn body_framing(headers: &[(String, String)], max_body: usize) -> Result<Framing, ReadError> {
    let mut length: Option<u64> = None;
    for value in header_values(headers, "content-length") {
        // A repeated field, or a list of identical values, is allowed (RFC 9110 §8.6).
        for part in value.split(',').map(str::trim) {
            let n = parse_decimal(part).ok_or(ReadError::Reject(400, "bad Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(ReadError::Reject(400, "conflicting Content-Length"));
            }
            length = Some(n);
        }
    }
    let mut codings = header_values(headers, "transfer-encoding")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .peekable();
    if codings.peek().is_some() {
        // Both together is the request-smuggling shape; RFC 9112 §6.1 allows rejecting it.
        if length.is_some() {
            return Err(ReadError::Reject(
                400,
                "both Content-Length and Transfer-Encoding",
            ));
        }
        let first = codings.next();
        if first.is_some_and(|c| c.eq_ignore_ascii_case("chunked")) && codings.next().is_none() {
            return Ok(Framing::Chunked);
        }
        return Err(ReadError::Reject(501, "unsupported Transfer-Encoding"));
    }
    match length {
        None | Some(0) => Ok(Framing::Empty),
        Some(n) => match usize::try_from(n) {
            Ok(n) if n <= max_body => Ok(Framing::Length(n)),
            _ => Err(ReadError::Reject(413, "request body too large")),
        },
    }
}

fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Reads the body. A `Content-Length` body goes into `kept`'s allocation when it is large
/// enough: sized once and filled in place (large bodies bypass the BufReader's buffer), and
/// only the part past `kept`'s old length is zeroed first, so a body as long as the previous
/// one costs no zeroing. Every byte of the result is overwritten by the read.
fn read_body<R: BufRead>(
    reader: &mut R,
    framing: Framing,
    limits: &Limits,
    kept: &mut Vec<u8>,
) -> Result<Vec<u8>, ReadError> {
    match framing {
        Framing::Empty => Ok(Vec::new()),
        Framing::Length(n) => {
            let mut body = std::mem::take(kept);
            if body.capacity() < n {
                // Growing would copy the old contents first: start afresh instead.
                body = Vec::new();
            }
            body.resize(n, 0);
            reader.read_exact(&mut body)?;
            Ok(body)
        }
        Framing::Chunked => read_chunked(reader, limits.max_body, limits.max_header_bytes),
    }
}

/// Decodes a chunked body (RFC 9112 §7.1); chunk extensions and trailers are read and dropped.
fn read_chunked<R: BufRead>(
    reader: &mut R,
    max_body: usize,
    max_trailer: usize,
) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    let mut line = Vec::with_capacity(64);
    loop {
        line.clear();
        read_line(reader, &mut line, MAX_CHUNK_LINE, 400)?;
        let size = parse_chunk_size(strip_eol(&line))
            .ok_or(ReadError::Reject(400, "malformed chunk size"))?;
        if size == 0 {
            break;
        }
        if size > max_body - body.len() {
            return Err(ReadError::Reject(413, "request body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        line.clear();
        read_line(reader, &mut line, 2, 400)?;
        if !strip_eol(&line).is_empty() {
            return Err(ReadError::Reject(400, "chunk data longer than its size"));
        }
    }
    let mut budget = max_trailer;
    loop {
        line.clear();
        budget -= read_line(reader, &mut line, budget, 431)?;
        if strip_eol(&line).is_empty() {
            return Ok(body);
        }
    }
}

/// The hex size before any `;extension`.
fn parse_chunk_size(line: &[u8]) -> Option<usize> {
    let digits = line.split(|&b| b == b';').next().map(trim_ows)?;
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    let mut size: usize = 0;
    for &b in digits {
        let d = char::from(b).to_digit(16)?;
        size = size.checked_mul(16)?.checked_add(d as usize)?;
    }
    Some(size)
}

/// Splits a request target into raw path and query, reducing absolute form to origin form and
/// dropping a fragment (which clients must not send, but some do).
fn split_target(target: &str) -> (&str, &str) {
    let rest = match strip_scheme(target) {
        Some(after) => after.find(['/', '?', '#']).map_or("", |i| &after[i..]),
        None => target,
    };
    let rest = rest.find('#').map_or(rest, |i| &rest[..i]);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    (if path.is_empty() { "/" } else { path }, query)
}

/// What follows `http://` or `https://`, compared case-insensitively.
fn strip_scheme(target: &str) -> Option<&str> {
    ["http://", "https://"].iter().find_map(|scheme| {
        let prefix = target.get(..scheme.len())?;
        prefix
            .eq_ignore_ascii_case(scheme)
            .then(|| &target[scheme.len()..])
    })
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    header_values(headers, name).next()
}

/// Values of every header named `name` (ASCII case-insensitive), in the order received.
pub(crate) fn header_values<'a, 'n>(
    headers: &'a [(String, String)],
    name: &'n str,
) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Whether a `Connection` value lists `close`.
fn has_close(value: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case("close"))
}

/// RFC 9110 §6.4.1 and §15: 1xx, 204 and 304 responses never carry content.
fn status_has_body(status: u16) -> bool {
    !(status < 200 || status == 204 || status == 304)
}

/// The status line and headers of `response`, ending with the empty line.
fn encode_head(response: &Response, close: bool, version: Version) -> Vec<u8> {
    let status = if (100..=999).contains(&response.status) {
        response.status
    } else {
        log::error!("handler returned status {}; sending 500", response.status);
        500
    };
    let mut head = String::with_capacity(160 + response.headers.len() * 48);
    // Infallible: writing to a String.
    let _ = write!(head, "HTTP/1.1 {status} {}\r\n", reason_phrase(status));
    let mut has_server = false;
    let mut has_date = false;
    for (name, value) in &response.headers {
        let owned_by_framing = ["content-length", "transfer-encoding", "connection"]
            .iter()
            .any(|f| name.eq_ignore_ascii_case(f));
        if owned_by_framing {
            continue;
        }
        if name.is_empty() || !name.bytes().all(is_tchar) {
            log::warn!("dropping response header with invalid name {name:?}");
            continue;
        }
        has_server |= name.eq_ignore_ascii_case("server");
        has_date |= name.eq_ignore_ascii_case("date");
        head.push_str(name);
        head.push_str(": ");
        if value.bytes().any(|b| b == b'\r' || b == b'\n') {
            // A value echoing request data must not be able to start a header of its own.
            head.extend(
                value
                    .chars()
                    .map(|c| if c == '\r' || c == '\n' { ' ' } else { c }),
            );
        } else {
            head.push_str(value);
        }
        head.push_str("\r\n");
    }
    if !has_server {
        head.push_str("Server: blockseal\r\n");
    }
    if !has_date {
        // botocore reads Date to correct clock skew when a signature is refused as stale.
        let _ = write!(head, "Date: {}\r\n", http_date(SystemTime::now()));
    }
    if status_has_body(status) {
        let _ = write!(head, "Content-Length: {}\r\n", response.body.len());
    }
    if close {
        head.push_str("Connection: close\r\n");
    } else if version == Version::Http10 {
        // A 1.0 client assumes a close unless told otherwise.
        head.push_str("Connection: keep-alive\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// Writes the head and body with one vectored write where the kernel takes it all.
fn write_response(
    stream: &TcpStream,
    response: &Response,
    head_only: bool,
    close: bool,
    version: Version,
) -> io::Result<()> {
    let head = encode_head(response, close, version);
    let body: &[u8] = if head_only || !status_has_body(response.status) {
        &[]
    } else {
        &response.body
    };
    write_all_vectored(stream, &mut [IoSlice::new(&head), IoSlice::new(body)])
}

/// `Write::write_all_vectored` is unstable; this is the same loop.
fn write_all_vectored(mut out: &TcpStream, mut bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match out.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// An IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date(now: SystemTime) -> String {
    let millis = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    crate::time::http_date(millis)
}

/// A minimal blocking keep-alive client for tests and benchmarks (one connection, sequential
/// requests). It does not reconnect: once the server closes, [`Client::send`] fails.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<TcpStream>,
    host: String,
    open: bool,
}

impl Client {
    /// Connects to `addr` with a 60 s timeout on every read and write.
    ///
    /// # Errors
    /// The connection is refused or cannot be configured.
    pub fn connect(addr: SocketAddr) -> io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
        stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
        Ok(Client {
            reader: BufReader::with_capacity(READ_BUFFER, stream),
            host: addr.to_string(),
            open: true,
        })
    }

    /// Replaces the read and write timeout (`None` waits forever).
    ///
    /// # Errors
    /// A zero duration, or the socket refuses the option.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let stream = self.reader.get_ref();
        stream.set_read_timeout(timeout)?;
        stream.set_write_timeout(timeout)
    }

    /// Sends one request and reads its response.
    ///
    /// `Host` and `Content-Length` are added unless `headers` has them. If `headers` has a
    /// `Transfer-Encoding`, `body` is sent as given (already framed) and no `Content-Length` is
    /// added. With `Expect: 100-continue`, the body is sent only after the server's
    /// `100 Continue`; a final response instead is returned and the connection given up.
    ///
    /// # Errors
    /// Writing or reading fails or times out, the server closed the connection (now or after
    /// an earlier `Connection: close`), or the response is malformed.
    pub fn send(
        &mut self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        if !self.open {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the server closed this connection",
            ));
        }
        let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        let mut head = String::with_capacity(128 + headers.len() * 48);
        let _ = write!(head, "{method} {path_and_query} HTTP/1.1\r\n");
        if !has("host") {
            let _ = write!(head, "Host: {}\r\n", self.host);
        }
        if !has("content-length") && !has("transfer-encoding") {
            let _ = write!(head, "Content-Length: {}\r\n", body.len());
        }
        for (name, value) in headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        head.push_str("\r\n");
        let expect_continue = headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("expect") && v.eq_ignore_ascii_case("100-continue")
        });
        let result = self.exchange(method, head.as_bytes(), body, expect_continue);
        if result.is_err() {
            self.open = false;
        }
        result
    }

    fn exchange(
        &mut self,
        method: &str,
        head: &[u8],
        body: &[u8],
        expect_continue: bool,
    ) -> io::Result<Response> {
        if expect_continue {
            self.reader.get_ref().write_all(head)?;
            let interim = self.read_response(method)?;
            if interim.status != 100 {
                // The server answered without wanting the body; the connection's state is now
                // unclear, so it is not reused.
                self.open = false;
                return Ok(interim);
            }
            write_all_vectored(self.reader.get_ref(), &mut [IoSlice::new(body)])?;
        } else {
            let stream = self.reader.get_ref();
            write_all_vectored(stream, &mut [IoSlice::new(head), IoSlice::new(body)])?;
        }
        loop {
            let response = self.read_response(method)?;
            // Other interim responses (102, 103) precede the final one.
            if !(100..200).contains(&response.status) {
                return Ok(response);
            }
        }
    }

    /// Reads one response; a 1xx one is returned as soon as its head is read.
    fn read_response(&mut self, method: &str) -> io::Result<Response> {
        let mut line = Vec::with_capacity(128);
        let n = self.reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        let status = parse_status_line(strip_eol(&line)).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "malformed HTTP status line")
        })?;
        let headers = read_headers(&mut self.reader, &mut line, 1024 * 1024)?;
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if (100..200).contains(&status) {
            return Ok(response);
        }
        if response.header_value("connection").is_some_and(has_close) {
            self.open = false;
        }
        if method.eq_ignore_ascii_case("HEAD") || !status_has_body(status) {
            return Ok(response);
        }
        let chunked = response
            .header_value("transfer-encoding")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
        if chunked {
            response.body = read_chunked(&mut self.reader, usize::MAX, 1024 * 1024)?;
        } else if let Some(length) = response.header_value("content-length") {
            let length = parse_decimal(length.trim())
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad Content-Length"))?;
            response.body = vec![0u8; length];
            self.reader.read_exact(&mut response.body)?;
        } else {
            // No framing: the body runs to the end of the connection.
            self.reader.read_to_end(&mut response.body)?;
            self.open = false;
        }
        Ok(response)
    }
}

/// The status code of `HTTP/1.x NNN reason`.
fn parse_status_line(line: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(line).ok()?;
    let mut parts = text.splitn(3, ' ');
    if !is_http_version(parts.next()?) {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    parse_decimal(code).and_then(|c| u16::try_from(c).ok())
}

/// The request reader over bytes, for the fuzz targets (`crate::fuzzing`): a child module so
/// that they reach the private parsers without widening them.
pub(crate) mod fuzzing {
    use super::*;

    /// Reads requests from `bytes` as one connection would, up to `max` of them or the first
    /// that is refused, with small limits so no input allocates much. A refusal must be one of
    /// the statuses the server answers with; an accepted request must be what was framed.
    pub(crate) fn requests(bytes: &[u8], max: usize) -> Vec<Request> {
        let limits = Limits {
            max_body: 64 * 1024,
            max_header_bytes: 8 * 1024,
            ..Limits::default()
        };
        let mut reader = bytes;
        let mut out = Vec::new();
        let mut kept = Vec::new();
        while out.len() < max && !reader.is_empty() {
            match one(&mut reader, &limits, &mut kept) {
                Ok((request, keep_alive)) => {
                    out.push(request);
                    if !keep_alive {
                        break;
                    }
                }
                Err(ReadError::Reject(status, reason)) => {
                    assert!(
                        matches!(status, 400 | 413 | 431 | 501 | 505),
                        "refused with {status}: {reason}"
                    );
                    break;
                }
                Err(ReadError::Closed(_)) => break,
            }
        }
        out
    }

    fn one(
        reader: &mut &[u8],
        limits: &Limits,
        kept: &mut Vec<u8>,
    ) -> Result<(Request, bool), ReadError> {
        let head = read_head(reader, limits.max_header_bytes)?;
        assert!(!head.method.is_empty() && head.method.bytes().all(is_tchar));
        let framing = body_framing(&head.headers, limits.max_body)?;
        let body = read_body(reader, framing, limits, kept)?;
        match framing {
            Framing::Empty => assert!(body.is_empty()),
            Framing::Length(n) => assert_eq!(body.len(), n),
            Framing::Chunked => assert!(body.len() <= limits.max_body),
        }
        let keep_alive = head.wants_keep_alive();
        let (path, query) = split_target(&head.target);
        assert!(path.starts_with('/') || path == "*", "path {path:?}");
        let request = Request {
            path: path.to_owned(),
            query: query.to_owned(),
            method: head.method,
            headers: head.headers,
            body,
            peer: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        };
        Ok((request, keep_alive))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::sync::mpsc;
    use std::sync::Mutex;

    /// Every wait in these tests is bounded by this, generous for a loaded two-core machine.
    const WAIT: Duration = Duration::from_secs(60);

    /// A server on a free loopback port, stopped (and awaited) on drop.
    struct TestServer {
        addr: SocketAddr,
        handle: ShutdownHandle,
        done: mpsc::Receiver<io::Result<()>>,
        stopped: bool,
    }

    impl TestServer {
        fn start<H>(limits: Limits, handler: H) -> TestServer
        where
            H: Fn(&Request) -> Response + Send + Sync + 'static,
        {
            let server = Server::bind("127.0.0.1:0", limits).expect("bind");
            let addr = server.local_addr();
            let handle = server.shutdown_handle();
            let (tx, done) = mpsc::channel();
            thread::spawn(move || {
                let _ = tx.send(server.serve(move |request: &mut Request| handler(request)));
            });
            TestServer {
                addr,
                handle,
                done,
                stopped: false,
            }
        }

        /// Requests shutdown and waits for `serve` to return.
        fn stop(&mut self) {
            self.stopped = true;
            self.handle.shutdown();
            let result = self
                .done
                .recv_timeout(WAIT)
                .expect("serve returns after shutdown");
            result.expect("serve succeeds");
        }

        fn client(&self) -> Client {
            Client::connect(self.addr).expect("connect")
        }

        fn raw(&self) -> TcpStream {
            let stream = TcpStream::connect(self.addr).expect("connect");
            stream.set_read_timeout(Some(WAIT)).unwrap();
            stream.set_write_timeout(Some(WAIT)).unwrap();
            stream
        }
    }

    impl Drop for TestServer {
        fn drop(&mut self) {
            if !self.stopped {
                self.handle.shutdown();
                let _ = self.done.recv_timeout(WAIT);
            }
        }
    }

    /// Answers `METHOD PATH QUERY\n` followed by the body, with the client's port in a header.
    fn echo(request: &Request) -> Response {
        let mut body = format!("{} {} {}\n", request.method, request.path, request.query);
        body.push_str(&String::from_utf8_lossy(&request.body));
        Response::new(200, "text/plain", body)
            .header("x-peer-port", request.peer.port().to_string())
    }

    /// Reads until the server closes the connection.
    fn read_all(mut stream: &TcpStream) -> String {
        let mut out = Vec::new();
        stream
            .read_to_end(&mut out)
            .expect("server closes the connection");
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn keep_alive_serves_sequential_requests_on_one_connection() {
        let server = TestServer::start(Limits::default(), echo);
        let mut client = server.client();
        let mut ports = Vec::new();
        for i in 0..5 {
            let body = format!("body {i}");
            let path = format!("/a%2Fb/{i}?Action=Describe&n={i}");
            let response = client
                .send("POST", &path, &[], body.as_bytes())
                .expect("response");
            assert_eq!(response.status, 200);
            let expected = format!("POST /a%2Fb/{i} Action=Describe&n={i}\nbody {i}");
            assert_eq!(String::from_utf8(response.body.clone()).unwrap(), expected);
            assert!(response.header_value("connection").is_none());
            assert_eq!(response.header_value("server"), Some("blockseal"));
            assert!(response
                .header_value("date")
                .is_some_and(|d| d.ends_with(" GMT")));
            ports.push(response.header_value("X-Peer-Port").unwrap().to_owned());
        }
        assert!(
            ports.windows(2).all(|w| w[0] == w[1]),
            "one connection: {ports:?}"
        );
    }

    #[test]
    fn unknown_methods_and_empty_bodies_reach_the_handler() {
        let server = TestServer::start(Limits::default(), echo);
        let mut client = server.client();
        let response = client.send("FROBNICATE", "/", &[], b"").unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"FROBNICATE / \n");
    }

    #[test]
    fn head_response_has_length_but_no_body() {
        let server = TestServer::start(Limits::default(), echo);
        let mut client = server.client();
        let response = client.send("HEAD", "/x", &[], b"").unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.header_value("content-length"), Some("9"));
        assert!(response.body.is_empty());
        // The connection is still in step: the next response is read correctly.
        let response = client.send("GET", "/y", &[], b"").unwrap();
        assert_eq!(response.body, b"GET /y \n");
    }

    #[test]
    fn chunked_body_is_decoded_and_trailers_ignored() {
        let server = TestServer::start(Limits::default(), echo);
        let mut client = server.client();
        let framed =
            b"5;name=value\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nx-trailer: t\r\n\r\n";
        let headers = [("Transfer-Encoding", "chunked")];
        let response = client.send("PUT", "/c", &headers, framed).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"PUT /c \nhello 0123456789");
        // Bare LF line ends are tolerated too, and the connection stays usable.
        let response = client
            .send("PUT", "/d", &headers, b"3\nabc\n0\n\n")
            .unwrap();
        assert_eq!(response.body, b"PUT /d \nabc");
    }

    #[test]
    fn expect_100_continue_is_answered_before_the_body_is_read() {
        let server = TestServer::start(Limits::default(), echo);
        let mut stream = server.raw();
        stream
            .write_all(
                b"POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
            )
            .unwrap();
        let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
        let mut got = vec![0u8; interim.len()];
        stream
            .read_exact(&mut got)
            .expect("100 Continue arrives without the body");
        assert_eq!(got, interim);
        stream.write_all(b"data").unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.starts_with("HTTP/1.1 200 "), "{line}");

        // The client waits for the 100 too.
        let mut client = server.client();
        let headers = [("Expect", "100-continue")];
        let response = client.send("POST", "/f", &headers, b"abc").unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"POST /f \nabc");
    }

    #[test]
    fn too_large_bodies_get_413() {
        let limits = Limits {
            max_body: 1024,
            ..Limits::default()
        };
        let server = TestServer::start(limits, echo);

        // With Expect, the server refuses before the body is sent.
        let stream = server.raw();
        (&stream)
            .write_all(b"PUT /big HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2048\r\n\r\n")
            .unwrap();
        let text = read_all(&stream);
        assert!(text.starts_with("HTTP/1.1 413 "), "{text}");
        assert!(text.contains("Connection: close\r\n"), "{text}");

        // Without it, the body is already on its way; the response must still arrive.
        let mut client = server.client();
        let response = client.send("PUT", "/big", &[], &[7u8; 200_000]).unwrap();
        assert_eq!(response.status, 413);
        assert!(
            client.send("GET", "/", &[], b"").is_err(),
            "the connection was closed"
        );

        // A chunked body that grows past the limit.
        let mut client = server.client();
        let mut framed = Vec::new();
        for _ in 0..3 {
            framed.extend_from_slice(b"200\r\n");
            framed.extend_from_slice(&[b'z'; 512]);
            framed.extend_from_slice(b"\r\n");
        }
        framed.extend_from_slice(b"0\r\n\r\n");
        let headers = [("Transfer-Encoding", "chunked")];
        let response = client.send("PUT", "/big", &headers, &framed).unwrap();
        assert_eq!(response.status, 413);

        // Exactly the limit is fine.
        let mut client = server.client();
        let response = client.send("PUT", "/ok", &[], &[b'a'; 1024]).unwrap();
        assert_eq!(response.status, 200);
    }

    #[test]
    fn malformed_requests_get_400_and_close() {
        let server = TestServer::start(Limits::default(), echo);
        let cases: [&[u8]; 7] = [
            b"garbage\r\n\r\n",
            b"GET /\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
            b"GET / HTTP/1.1\r\nbad name: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ];
        for case in cases {
            let stream = server.raw();
            (&stream).write_all(case).unwrap();
            let text = read_all(&stream);
            assert!(
                text.starts_with("HTTP/1.1 400 "),
                "{:?} -> {text}",
                String::from_utf8_lossy(case)
            );
            assert!(text.contains("Connection: close\r\n"));
        }
        let stream = server.raw();
        (&stream).write_all(b"GET / HTTP/2.0\r\n\r\n").unwrap();
        assert!(read_all(&stream).starts_with("HTTP/1.1 505 "));
        let stream = server.raw();
        (&stream)
            .write_all(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n")
            .unwrap();
        assert!(read_all(&stream).starts_with("HTTP/1.1 501 "));
    }

    #[test]
    fn oversized_headers_get_431() {
        let limits = Limits {
            max_header_bytes: 1024,
            ..Limits::default()
        };
        let server = TestServer::start(limits, echo);
        let stream = server.raw();
        let request = format!("GET / HTTP/1.1\r\nx-big: {}\r\n\r\n", "v".repeat(4000));
        (&stream).write_all(request.as_bytes()).unwrap();
        let text = read_all(&stream);
        assert!(text.starts_with("HTTP/1.1 431 "), "{text}");
    }

    #[test]
    fn pipelined_requests_are_answered_in_order() {
        let server = TestServer::start(Limits::default(), echo);
        let stream = server.raw();
        (&stream)
            .write_all(
                b"GET /1 HTTP/1.1\r\n\r\nPOST /2 HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi\
                  GET /3 HTTP/1.1\r\nConnection: close\r\n\r\n",
            )
            .unwrap();
        let text = read_all(&stream);
        let first = text.find("GET /1 \n").expect("first");
        let second = text.find("POST /2 \nhi").expect("second");
        let third = text.find("GET /3 \n").expect("third");
        assert!(first < second && second < third, "{text}");
        assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 3);
    }

    #[test]
    fn http10_closes_unless_keep_alive_is_asked() {
        let server = TestServer::start(Limits::default(), echo);
        let stream = server.raw();
        (&stream).write_all(b"GET /old HTTP/1.0\r\n\r\n").unwrap();
        let text = read_all(&stream);
        assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
        assert!(text.contains("Connection: close\r\n"));

        let stream = server.raw();
        (&stream)
            .write_all(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n")
            .unwrap();
        let text = read_all(&stream);
        assert!(text.contains("Connection: keep-alive\r\n"), "{text}");
        assert!(text.contains("GET /b \n"), "{text}");
    }

    #[test]
    fn client_connection_close_is_honoured() {
        let server = TestServer::start(Limits::default(), echo);
        let mut client = server.client();
        let response = client
            .send("GET", "/", &[("Connection", "close")], b"")
            .unwrap();
        assert_eq!(response.header_value("connection"), Some("close"));
        assert!(client.send("GET", "/", &[], b"").is_err());
    }

    #[test]
    fn idle_connection_is_closed_after_idle_timeout() {
        let limits = Limits {
            idle_timeout: Duration::from_millis(200),
            ..Limits::default()
        };
        let server = TestServer::start(limits, echo);
        let stream = server.raw();
        (&stream).write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        // The response, then a silent close once the connection has idled.
        let text = read_all(&stream);
        assert_eq!(text.matches("HTTP/1.1").count(), 1, "{text}");
    }

    #[test]
    fn concurrent_clients_are_all_answered() {
        let server = TestServer::start(Limits::default(), echo);
        let addr = server.addr;
        let workers: Vec<_> = (0..16)
            .map(|t| {
                thread::spawn(move || {
                    let mut client = Client::connect(addr).unwrap();
                    for i in 0..50 {
                        let body = format!("{t}-{i}");
                        let response = client.send("POST", "/c", &[], body.as_bytes()).unwrap();
                        assert_eq!(response.status, 200);
                        assert_eq!(response.body, format!("POST /c \n{t}-{i}").as_bytes());
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("client thread");
        }
    }

    #[test]
    fn large_bodies_round_trip() {
        let server = TestServer::start(Limits::default(), |request: &Request| {
            Response::new(200, "application/octet-stream", request.body.clone())
        });
        let mut client = server.client();
        let body: Vec<u8> = (0..512 * 1024).map(|i| (i % 251) as u8).collect();
        for _ in 0..4 {
            let response = client.send("PUT", "/blob", &[], &body).unwrap();
            assert_eq!(response.status, 200);
            assert!(response.body == body);
        }
    }

    #[test]
    fn a_kept_body_buffer_never_shows_an_earlier_body() {
        // The handler scribbles over each body after answering with it, so a length that
        // reused stale bytes would come back as 0xff.
        let server = Server::bind("127.0.0.1:0", Limits::default()).expect("bind");
        let (addr, stop) = (server.local_addr(), server.shutdown_handle());
        let serving = thread::spawn(move || {
            server.serve(|request: &mut Request| {
                let r = Response::new(200, "application/octet-stream", request.body.clone());
                request.body.fill(0xff);
                r
            })
        });
        let mut client = Client::connect(addr).expect("connect");
        for (i, len) in [
            512 * 1024,
            100,
            0,
            512 * 1024,
            700 * 1024,
            3,
            2 * 1024 * 1024,
            9,
        ]
        .into_iter()
        .enumerate()
        {
            let body: Vec<u8> = (0..len).map(|j| ((i + j) % 251) as u8).collect();
            let response = client.send("PUT", "/blob", &[], &body).unwrap();
            assert_eq!(response.status, 200);
            assert!(response.body == body, "body {i} of {len} bytes");
        }
        stop.shutdown();
        serving.join().unwrap().unwrap();
    }

    #[test]
    fn shutdown_lets_a_running_request_finish() {
        let (started_tx, started) = mpsc::channel::<()>();
        let (release, release_rx) = mpsc::channel::<()>();
        let started_tx = Mutex::new(started_tx);
        let release_rx = Mutex::new(release_rx);
        let mut server = TestServer::start(Limits::default(), move |request: &Request| {
            if request.path == "/slow" {
                started_tx.lock().unwrap().send(()).unwrap();
                release_rx.lock().unwrap().recv_timeout(WAIT).unwrap();
            }
            echo(request)
        });
        // An idle keep-alive connection, which shutdown must close.
        let mut idle = server.client();
        assert_eq!(idle.send("GET", "/", &[], b"").unwrap().status, 200);

        let addr = server.addr;
        let slow = thread::spawn(move || {
            let mut client = Client::connect(addr).unwrap();
            client.send("POST", "/slow", &[], b"payload")
        });
        started
            .recv_timeout(WAIT)
            .expect("the slow request reaches the handler");
        let handle = server.handle.clone();
        handle.shutdown();
        assert!(handle.is_shutdown());
        release.send(()).unwrap();
        server.stop();

        let response = slow
            .join()
            .unwrap()
            .expect("the running request is answered");
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"POST /slow \npayload");
        assert_eq!(response.header_value("connection"), Some("close"));
        assert!(
            idle.send("GET", "/", &[], b"").is_err(),
            "idle connection was closed"
        );
    }

    #[test]
    fn shutdown_before_serve_returns_at_once() {
        let server = Server::bind("127.0.0.1:0", Limits::default()).unwrap();
        let handle = server.shutdown_handle();
        handle.shutdown();
        handle.shutdown();
        server.serve(|request: &mut Request| echo(request)).unwrap();
    }

    #[test]
    fn panicking_handler_gets_500_and_the_server_goes_on() {
        let server = TestServer::start(Limits::default(), |request: &Request| {
            if request.path == "/panic" {
                panic!("deliberate test panic");
            }
            echo(request)
        });
        let mut client = server.client();
        let response = client.send("GET", "/panic", &[], b"").unwrap();
        assert_eq!(response.status, 500);
        assert_eq!(response.header_value("connection"), Some("close"));
        assert!(client.send("GET", "/", &[], b"").is_err());

        let mut other = server.client();
        let response = other.send("GET", "/fine", &[], b"").unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"GET /fine \n");
    }

    #[test]
    fn connections_over_the_limit_get_503() {
        let limits = Limits {
            max_connections: 1,
            ..Limits::default()
        };
        let server = TestServer::start(limits, echo);
        let mut first = server.client();
        assert_eq!(first.send("GET", "/", &[], b"").unwrap().status, 200);
        // `first` is idle but open, so its thread still counts.
        let second = server.raw();
        let text = read_all(&second);
        assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
        assert!(text.contains("Connection: close\r\n"));
        assert_eq!(first.send("GET", "/", &[], b"").unwrap().status, 200);
    }

    #[test]
    fn handler_connection_close_and_204_framing() {
        let server = TestServer::start(Limits::default(), |request: &Request| {
            match request.path.as_str() {
                "/empty" => Response::new(204, "", "ignored").header("Content-Length", "99"),
                _ => echo(request)
                    .header("Connection", "close")
                    .header("x-evil", "a\r\nb: c"),
            }
        });
        let mut client = server.client();
        let response = client.send("DELETE", "/empty", &[], b"").unwrap();
        assert_eq!(response.status, 204);
        assert!(response.body.is_empty());
        assert!(response.header_value("content-length").is_none());
        let response = client.send("GET", "/bye", &[], b"").unwrap();
        assert_eq!(response.header_value("connection"), Some("close"));
        assert_eq!(response.header_value("x-evil"), Some("a  b: c"));
        assert!(response.header_value("b").is_none());
        assert!(client.send("GET", "/", &[], b"").is_err());
    }

    fn head_of(bytes: &[u8]) -> Result<Head, ReadError> {
        read_head(&mut Cursor::new(bytes), 64 * 1024)
    }

    #[test]
    fn head_parsing_trims_and_tolerates_bare_lf() {
        let head = head_of(b"\r\nGET /p?q=1 HTTP/1.1\nHost:  h \nX-A:\tv w\t\n\n").unwrap();
        assert_eq!(head.method, "GET");
        assert_eq!(head.target, "/p?q=1");
        assert_eq!(head.version, Version::Http11);
        assert_eq!(
            head.headers,
            vec![("Host".into(), "h".into()), ("X-A".into(), "v w".into())]
        );
        assert_eq!(find_header(&head.headers, "x-a"), Some("v w"));
        assert!(head.wants_keep_alive());
    }

    #[test]
    fn head_parsing_rejects_what_it_must() {
        for bad in [
            &b"GET / HTTP/1.1\r\n folded\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nName : v\r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
            b"GET nopath HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1 extra\r\n\r\n",
        ] {
            assert!(
                matches!(head_of(bad), Err(ReadError::Reject(400, _))),
                "{bad:?}"
            );
        }
        let long = format!("GET / HTTP/1.1\r\nx: {}\r\n\r\n", "a".repeat(200));
        let result = read_head(&mut Cursor::new(long.as_bytes()), 100);
        assert!(matches!(result, Err(ReadError::Reject(431, _))));
        assert!(matches!(
            head_of(b"GET / HTTP/1.1\r\nx: y"),
            Err(ReadError::Closed(_))
        ));
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let h = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert_eq!(body_framing(&h(&[]), 10).unwrap(), Framing::Empty);
        assert_eq!(
            body_framing(&h(&[("content-length", "0")]), 10).unwrap(),
            Framing::Empty
        );
        assert_eq!(
            body_framing(&h(&[("Content-Length", "10")]), 10).unwrap(),
            Framing::Length(10)
        );
        let repeated = h(&[("Content-Length", "4, 4"), ("content-length", "4")]);
        assert_eq!(body_framing(&repeated, 10).unwrap(), Framing::Length(4));
        let chunked = h(&[("Transfer-Encoding", "Chunked")]);
        assert_eq!(body_framing(&chunked, 10).unwrap(), Framing::Chunked);
        let too_big = h(&[("Content-Length", "99999999999999999999999")]);
        assert!(matches!(
            body_framing(&too_big, 10),
            Err(ReadError::Reject(400, _))
        ));
        let big = h(&[("Content-Length", "11")]);
        assert!(matches!(
            body_framing(&big, 10),
            Err(ReadError::Reject(413, _))
        ));
        for bad in ["-1", "", "1e3", "+5"] {
            let headers = h(&[("Content-Length", bad)]);
            assert!(matches!(
                body_framing(&headers, 10),
                Err(ReadError::Reject(400, _))
            ));
        }
        let gz = h(&[("Transfer-Encoding", "gzip, chunked")]);
        assert!(matches!(
            body_framing(&gz, 10),
            Err(ReadError::Reject(501, _))
        ));
    }

    #[test]
    fn chunk_sizes_parse() {
        assert_eq!(parse_chunk_size(b"0"), Some(0));
        assert_eq!(parse_chunk_size(b"1aF"), Some(0x1af));
        assert_eq!(parse_chunk_size(b"10 ; ext=1"), Some(16));
        assert_eq!(parse_chunk_size(b""), None);
        assert_eq!(parse_chunk_size(b"x"), None);
        assert_eq!(parse_chunk_size(b"10000000000000000"), None);
        let mut cursor = Cursor::new(&b"4\r\nabcd\r\n0\r\n\r\n"[..]);
        assert_eq!(read_chunked(&mut cursor, 4, 100).unwrap(), b"abcd");
        let mut cursor = Cursor::new(&b"4\r\nabcdef\r\n0\r\n\r\n"[..]);
        assert!(matches!(
            read_chunked(&mut cursor, 10, 100),
            Err(ReadError::Reject(400, _))
        ));
    }

    #[test]
    fn targets_split_into_raw_path_and_query() {
        assert_eq!(split_target("/a%20b?x=1&y"), ("/a%20b", "x=1&y"));
        assert_eq!(split_target("/"), ("/", ""));
        assert_eq!(split_target("/p#frag"), ("/p", ""));
        assert_eq!(split_target("HTTP://host:1/p?q"), ("/p", "q"));
        assert_eq!(split_target("http://host?q"), ("/", "q"));
        assert_eq!(split_target("*"), ("*", ""));
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK"), Some(200));
        assert_eq!(parse_status_line(b"HTTP/1.0 404"), Some(404));
        assert_eq!(parse_status_line(b"HTTP/1.1 20 OK"), None);
        assert_eq!(parse_status_line(b"SIP/2.0 200 OK"), None);
    }

    #[test]
    fn http_dates_are_imf_fixdate() {
        let at = |secs| http_date(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(at(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(at(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(at(1_709_251_199), "Thu, 29 Feb 2024 23:59:59 GMT");
    }
}
