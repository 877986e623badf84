//! AWS Signature Version 4 (`AWS4-HMAC-SHA256`): verification of incoming requests, in both the
//! `Authorization` header form and the presigned query form, and signing for Rust clients in
//! tests and benchmarks.
//!
//! Pure functions only: no I/O, no clock (callers pass "now" as seconds since the epoch), no
//! global state, no key store. Looking up the secret of an access key, choosing which regions
//! and services to accept, and turning an [`AuthError`] into an AWS error code all belong to the
//! caller (the HTTP layer).
//!
//! The canonical forms follow AWS's "Create a signed AWS API request" and botocore's `SigV4Auth`,
//! which is what the aws CLI and boto3 send.

use std::fmt::Write as _;

use crate::http::header_values;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The only algorithm AWS defines for Signature Version 4 with HMAC.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The literal a client puts in `X-Amz-Content-Sha256` when it does not sign the body.
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// AWS rejects header-signed requests whose timestamp is further than this from its clock.
const MAX_SKEW_SECS: i64 = 15 * 60;
/// AWS caps `X-Amz-Expires` at seven days.
const MAX_PRESIGN_EXPIRES_SECS: i64 = 7 * 24 * 60 * 60;
/// Headers botocore never signs (hop-by-hop, tracing, the user agent); [`sign`] skips them too
/// so its signatures match what the aws CLI would send for the same request.
const UNSIGNABLE_HEADERS: &[&str] = &[
    "authorization",
    "baggage",
    "connection",
    "expect",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "traceparent",
    "tracestate",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "x-amzn-trace-id",
];

/// What the server knows of a request, as received.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// The HTTP method, as on the request line.
    pub method: &'a str,
    /// The path, raw as on the wire (still percent-encoded), without the query.
    pub path: &'a str,
    /// The raw query string, without the leading `?`.
    pub query: &'a str,
    /// Every header as received, names in any case, repeated names allowed.
    pub headers: &'a [(String, String)],
    /// The whole body.
    pub body: &'a [u8],
}

/// The parsed credential of a request (before the secret is known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The access key id the client claims to sign with.
    pub access_key_id: String,
    /// The day of the signing key, `YYYYMMDD`.
    pub date: String,
    /// The region the client signed for.
    pub region: String,
    /// The service the client signed for (`ec2`, `kms`, `ebs`, `sts`).
    pub service: String,
}

impl Credential {
    /// The credential scope: `date/region/service/aws4_request`.
    #[must_use]
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// How the body enters the canonical request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PayloadHash {
    /// No `X-Amz-Content-Sha256`: the server hashes the body itself.
    FromBody,
    /// `X-Amz-Content-Sha256` carries a hex SHA-256, used verbatim and checked against the body.
    Declared(String),
    /// `X-Amz-Content-Sha256: UNSIGNED-PAYLOAD`.
    Unsigned,
    /// A presigned URL without `X-Amz-Content-Sha256`: S3-style signers (and AWS's presigning
    /// documentation) sign `UNSIGNED-PAYLOAD`, while botocore's `SigV4QueryAuth`, used for every
    /// service but S3, signs the body's hash (of the empty body, for a GET). Either is accepted;
    /// accepting the hashed form as well adds nothing a forger could use, since it binds more.
    UnsignedOrBody,
}

/// Everything [`parse`] read from a request that [`verify`] needs besides the secret.
///
/// Only [`parse`] makes one, so a `Parsed` always describes a well-formed signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    credential: Credential,
    /// Lowercased, sorted and deduplicated; always contains `host`.
    signed_headers: Vec<String>,
    /// As sent by the client (expected to be 64 lowercase hex digits).
    signature: String,
    /// The request time in AWS's basic ISO 8601 form, `YYYYMMDDTHHMMSSZ`.
    timestamp: String,
    request_unix: i64,
    payload: PayloadHash,
    /// `Some(X-Amz-Expires)` for the presigned query form.
    presigned_expires: Option<i64>,
}

impl Parsed {
    /// The credential the request claims.
    #[must_use]
    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// The signed header names, lowercased and sorted.
    #[must_use]
    pub fn signed_headers(&self) -> &[String] {
        &self.signed_headers
    }

    /// The request time as the client stated it, `YYYYMMDDTHHMMSSZ`.
    #[must_use]
    pub fn timestamp(&self) -> &str {
        &self.timestamp
    }

    /// The request time in seconds since the epoch.
    #[must_use]
    pub fn request_time_unix(&self) -> i64 {
        self.request_unix
    }

    /// `Some(X-Amz-Expires)` when the request is a presigned URL.
    #[must_use]
    pub fn presigned_expires(&self) -> Option<i64> {
        self.presigned_expires
    }

    /// Whether the body may be outside the signature: `UNSIGNED-PAYLOAD` was declared, or the
    /// request is a presigned URL, which may have been signed either way.
    #[must_use]
    pub fn is_payload_unsigned(&self) -> bool {
        matches!(
            self.payload,
            PayloadHash::Unsigned | PayloadHash::UnsignedOrBody
        )
    }
}

/// Why a request's signature was not accepted. Messages follow AWS's wording so that clients
/// show familiar text; the caller picks the error code per protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Neither an `Authorization` header nor an `X-Amz-Signature` query parameter.
    #[error("Request is missing Authentication Token")]
    Missing,
    /// The header, credential scope, signed headers or date could not be parsed.
    #[error("{0}")]
    Malformed(String),
    /// The caller's lookup found no secret for the access key id.
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
    /// The signature does not match the request.
    #[error(
        "The request signature we calculated does not match the signature you provided. Check \
         your AWS Secret Access Key and signing method. Consult the service documentation for \
         details."
    )]
    SignatureMismatch,
    /// The signature is valid but the body is not the one declared in `X-Amz-Content-Sha256`.
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    ContentSha256Mismatch,
    /// The request time is more than 15 minutes from the server's clock, or a presigned URL is
    /// past its `X-Amz-Expires`. The text says which times were compared.
    #[error("{0}")]
    Expired(String),
}

/// Step 1: finds who claims to sign the request, without any secret.
///
/// Reads either `Authorization: AWS4-HMAC-SHA256 Credential=AKID/YYYYMMDD/region/service/
/// aws4_request, SignedHeaders=host;x-amz-date, Signature=hex` or the presigned query parameters
/// `X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders`
/// and `X-Amz-Signature`. The request time comes from `X-Amz-Date` (header, or query when
/// presigned), else from an RFC 1123 `Date` header.
///
/// # Errors
///
/// [`AuthError::Missing`] when the request carries no signature at all;
/// [`AuthError::Malformed`] when it carries one that cannot be read: an unknown algorithm, a
/// missing part, a credential scope not of the form `AKID/YYYYMMDD/region/service/aws4_request`,
/// `host` not among the signed headers, no or an unparsable date, a credential day other than
/// the request's day, or an `X-Amz-Content-Sha256` that is neither a SHA-256 nor
/// `UNSIGNED-PAYLOAD`.
pub fn parse(req: &SignedRequest) -> Result<(Credential, Parsed), AuthError> {
    let authorization = header_values(req.headers, "authorization").next();
    let query = decode_query(req.query);
    let presigned = query
        .iter()
        .any(|(name, _)| name == b"X-Amz-Signature" || name == b"X-Amz-Algorithm");
    let parsed = match (authorization, presigned) {
        (None, false) => return Err(AuthError::Missing),
        (Some(_), true) => {
            return Err(AuthError::Malformed(
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or \
                 the Authorization header should be specified"
                    .to_owned(),
            ))
        }
        (Some(auth), false) => parse_header_auth(req, auth)?,
        (None, true) => parse_query_auth(req, &query)?,
    };
    Ok((parsed.credential.clone(), parsed))
}

/// Step 2: with the secret for the parsed access key, checks the request time and the signature.
///
/// `now_unix` is the server's clock in seconds since the epoch.
///
/// The canonical URI is tried in up to three forms, because clients disagree on it and the
/// server only sees the path as sent: first the raw path as received (what S3-style signers and
/// most hand-written clients sign); then the path with dot segments and empty segments removed
/// and every byte other than unreserved characters and `/` percent-encoded again, `%` included
/// (AWS's rule for every service but S3, and what botocore signs); then the same path decoded
/// once and encoded once (for clients that sent reserved characters unencoded). All three are
/// the same string for ordinary paths such as `/snapshots/snap-0123/blocks/5`, so one HMAC
/// usually decides. A presigned URL without `X-Amz-Content-Sha256` is tried with both
/// `UNSIGNED-PAYLOAD` and the body's hash, since signers differ there too. The price of accepting the raw form next to the double-encoded one is
/// that a signature for wire path `/a%20b` also matches wire path `/a%2520b`; routes whose
/// segments are resource ids never contain `%`, so this cannot select another resource.
///
/// # Errors
///
/// [`AuthError::Expired`] when a header-signed request's time is more than 15 minutes from
/// `now_unix` either way, or a presigned URL is past `X-Amz-Expires` (or more than 15 minutes in
/// the future); [`AuthError::SignatureMismatch`] when no canonical form gives the client's
/// signature (wrong secret, or anything signed was changed); [`AuthError::ContentSha256Mismatch`]
/// when the signature holds but the body's SHA-256 is not the declared `X-Amz-Content-Sha256`.
pub fn verify(
    req: &SignedRequest,
    parsed: &Parsed,
    secret: &str,
    now_unix: i64,
) -> Result<(), AuthError> {
    check_time(parsed, now_unix)?;

    // A signature that is not 32 bytes of hex cannot match anything; treating it as a mismatch
    // rather than a parse error keeps one answer for every wrong signature.
    let expected = hex::decode(&parsed.signature).map_err(|_| AuthError::SignatureMismatch)?;
    let body_hash = match &parsed.payload {
        PayloadHash::Unsigned => None,
        _ => Some(sha256_hex(req.body)),
    };
    let payloads: Vec<&str> = match (&parsed.payload, &body_hash) {
        (PayloadHash::Declared(declared), _) => vec![declared.as_str()],
        (PayloadHash::FromBody, Some(hash)) => vec![hash.as_str()],
        (PayloadHash::UnsignedOrBody, Some(hash)) => vec![UNSIGNED_PAYLOAD, hash.as_str()],
        _ => vec![UNSIGNED_PAYLOAD],
    };

    let mut query = decode_query(req.query);
    if parsed.presigned_expires.is_some() {
        query.retain(|(name, _)| name != b"X-Amz-Signature");
    }
    let canonical_query = canonical_query(&query);
    let (canonical_headers, signed_line) = canonical_headers(req.headers, &parsed.signed_headers);
    let key = signing_key(secret, &parsed.credential);
    let scope = parsed.credential.scope();

    let uris = uri_candidates(req.path);
    let matched = uris.iter().any(|uri| {
        payloads.iter().any(|payload| {
            let creq = canonical_request(
                req.method,
                uri,
                &canonical_query,
                &canonical_headers,
                &signed_line,
                payload,
            );
            let sts = string_to_sign(&parsed.timestamp, &scope, &creq);
            let mut mac = new_mac(&key);
            mac.update(sts.as_bytes());
            // `verify_slice` compares in constant time, so the response time does not leak how
            // many leading bytes of a forged signature were right.
            mac.verify_slice(&expected).is_ok()
        })
    });
    if !matched {
        return Err(AuthError::SignatureMismatch);
    }
    if let (PayloadHash::Declared(declared), Some(actual)) = (&parsed.payload, &body_hash) {
        if !declared.eq_ignore_ascii_case(actual) {
            return Err(AuthError::ContentSha256Mismatch);
        }
    }
    Ok(())
}

/// Signs a request (for Rust clients in tests and benchmarks) the way botocore does, and returns
/// the headers to add: `X-Amz-Date` and `Authorization`.
///
/// `host` is signed as the `Host` header; the caller's HTTP client must send exactly that value
/// (it is not returned, since every HTTP client sets `Host` itself). All of `headers` are signed
/// except hop-by-hop and tracing headers and `User-Agent`, as botocore does. The body's SHA-256
/// is signed without sending `X-Amz-Content-Sha256`, unless `headers` already carries one, whose
/// value (a hash or `UNSIGNED-PAYLOAD`) is then signed as given. Use [`Signer`] to have the
/// header added or the body left unsigned, or to presign a URL.
#[allow(clippy::too_many_arguments)] // The flat form the test clients call; `Signer` groups them.
#[must_use]
pub fn sign(
    method: &str,
    host: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    body: &[u8],
    access_key_id: &str,
    secret: &str,
    region: &str,
    service: &str,
    now_unix: i64,
) -> Vec<(String, String)> {
    let signer = Signer {
        access_key_id,
        secret,
        region,
        service,
        payload: PayloadSigning::Hashed,
    };
    let req = SignedRequest {
        method,
        path,
        query,
        headers,
        body,
    };
    signer.headers_for(&req, host, now_unix)
}

/// How [`Signer`] covers the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PayloadSigning {
    /// Sign the body's SHA-256 without sending `X-Amz-Content-Sha256` (botocore's default).
    #[default]
    Hashed,
    /// Sign the body's SHA-256 and send it as `X-Amz-Content-Sha256`.
    HashedWithHeader,
    /// Send and sign `X-Amz-Content-Sha256: UNSIGNED-PAYLOAD`; the body is not covered.
    Unsigned,
}

/// One credential and scope to sign requests with.
#[derive(Clone, Copy)]
pub struct Signer<'a> {
    /// The access key id put in the credential.
    pub access_key_id: &'a str,
    /// The secret access key.
    pub secret: &'a str,
    /// The region of the credential scope.
    pub region: &'a str,
    /// The service of the credential scope.
    pub service: &'a str,
    /// How the body is covered.
    pub payload: PayloadSigning,
}

// By hand so that the secret never reaches a log.
impl std::fmt::Debug for Signer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .field("service", &self.service)
            .field("payload", &self.payload)
            .finish_non_exhaustive()
    }
}

impl Signer<'_> {
    /// Signs `req` for `host` at `now_unix` and returns the headers to add: `X-Amz-Date`,
    /// `X-Amz-Content-Sha256` when [`PayloadSigning`] asks for it and `req.headers` has none,
    /// and `Authorization`. `req.path` is the path as it will be sent; it is canonicalised the
    /// way botocore does for every service but S3 (dot segments removed, encoded again).
    ///
    /// A `Host` in `req.headers` is signed instead of `host`. Any `X-Amz-Date` or
    /// `Authorization` in `req.headers` is left out of the signature and must not be sent
    /// alongside the returned ones.
    #[must_use]
    pub fn headers_for(
        &self,
        req: &SignedRequest,
        host: &str,
        now_unix: i64,
    ) -> Vec<(String, String)> {
        let timestamp = format_amz_date(now_unix);
        let credential = self.credential(&timestamp);

        let mut added = vec![("X-Amz-Date".to_owned(), timestamp.clone())];
        let declared = header_values(req.headers, "x-amz-content-sha256").next();
        let payload = match (declared, self.payload) {
            (Some(value), _) => value.trim().to_owned(),
            (None, PayloadSigning::Hashed) => sha256_hex(req.body),
            (None, PayloadSigning::HashedWithHeader) => {
                let hash = sha256_hex(req.body);
                added.push(("X-Amz-Content-Sha256".to_owned(), hash.clone()));
                hash
            }
            (None, PayloadSigning::Unsigned) => {
                added.push((
                    "X-Amz-Content-Sha256".to_owned(),
                    UNSIGNED_PAYLOAD.to_owned(),
                ));
                UNSIGNED_PAYLOAD.to_owned()
            }
        };

        let mut all: Vec<(String, String)> = req
            .headers
            .iter()
            .filter(|(name, _)| {
                let lower = name.to_ascii_lowercase();
                !UNSIGNABLE_HEADERS.contains(&lower.as_str()) && lower != "x-amz-date"
            })
            .cloned()
            .collect();
        if header_values(&all, "host").next().is_none() {
            all.push(("host".to_owned(), host.to_owned()));
        }
        all.extend(added.iter().cloned());
        let names: Vec<String> = sorted_names(all.iter().map(|(name, _)| name.as_str()));
        let (canonical_headers, signed_line) = canonical_headers(&all, &names);

        let creq = canonical_request(
            req.method,
            &uri_encode(normalize_path(req.path).as_bytes(), true),
            &canonical_query(&decode_query(req.query)),
            &canonical_headers,
            &signed_line,
            &payload,
        );
        let signature = self.signature(&credential, &timestamp, &creq);
        added.push((
            "Authorization".to_owned(),
            format!(
                "{ALGORITHM} Credential={}/{}, SignedHeaders={signed_line}, Signature={signature}",
                self.access_key_id,
                credential.scope()
            ),
        ));
        added
    }

    /// Presigns a request with no headers other than `Host` and returns its whole query string
    /// (without `?`): `query`, then the `X-Amz-*` parameters, `X-Amz-Signature` last, in the
    /// order botocore writes them. Like botocore for services other than S3, it signs the hash
    /// of an empty body, which is what a presigned GET has.
    #[must_use]
    pub fn presign(
        &self,
        method: &str,
        host: &str,
        path: &str,
        query: &str,
        now_unix: i64,
        expires_secs: u32,
    ) -> String {
        let timestamp = format_amz_date(now_unix);
        let credential = self.credential(&timestamp);
        let auth_params = [
            ("X-Amz-Algorithm", ALGORITHM.to_owned()),
            (
                "X-Amz-Credential",
                format!("{}/{}", self.access_key_id, credential.scope()),
            ),
            ("X-Amz-Date", timestamp.clone()),
            ("X-Amz-Expires", expires_secs.to_string()),
            ("X-Amz-SignedHeaders", "host".to_owned()),
        ];
        let mut full = query.to_owned();
        for (name, value) in &auth_params {
            if !full.is_empty() {
                full.push('&');
            }
            let _ = write!(full, "{name}={}", uri_encode(value.as_bytes(), false));
        }
        let headers = [("host".to_owned(), host.to_owned())];
        let (canonical_headers, signed_line) = canonical_headers(&headers, &["host".to_owned()]);
        let creq = canonical_request(
            method,
            &uri_encode(normalize_path(path).as_bytes(), true),
            &canonical_query(&decode_query(&full)),
            &canonical_headers,
            &signed_line,
            &sha256_hex(b""),
        );
        let signature = self.signature(&credential, &timestamp, &creq);
        let _ = write!(full, "&X-Amz-Signature={signature}");
        full
    }

    fn credential(&self, timestamp: &str) -> Credential {
        Credential {
            access_key_id: self.access_key_id.to_owned(),
            date: timestamp[..8].to_owned(),
            region: self.region.to_owned(),
            service: self.service.to_owned(),
        }
    }

    fn signature(&self, credential: &Credential, timestamp: &str, creq: &str) -> String {
        let key = signing_key(self.secret, credential);
        let sts = string_to_sign(timestamp, &credential.scope(), creq);
        hex::encode(hmac(&key, sts.as_bytes()))
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing the two forms.

fn parse_header_auth(req: &SignedRequest, auth: &str) -> Result<Parsed, AuthError> {
    let auth = auth.trim();
    let Some(rest) = auth
        .strip_prefix(ALGORITHM)
        .filter(|r| r.starts_with([' ', '\t']))
    else {
        return Err(AuthError::Malformed(
            "The authorization mechanism you have provided is not supported. Please use \
             AWS4-HMAC-SHA256."
                .to_owned(),
        ));
    };

    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((name, value)) = part.split_once('=') else {
            return Err(AuthError::Malformed(format!(
                "Authorization header requires each component to be of the form key=value, \
                 not '{part}'. Authorization={auth}"
            )));
        };
        let slot = match name.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        *slot = Some(value.trim());
    }
    let mut missing = String::new();
    for (name, value) in [
        ("Credential", &credential),
        ("Signature", &signature),
        ("SignedHeaders", &signed_headers),
    ] {
        if value.is_none() {
            let _ = write!(
                missing,
                "Authorization header requires '{name}' parameter. "
            );
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(AuthError::Malformed(format!(
            "{missing}Authorization={auth}"
        )));
    };

    let credential = parse_credential(credential)?;
    let signed_headers = parse_signed_headers(signed_headers)?;
    let (timestamp, request_unix) = if let Some(amz) = header_values(req.headers, "x-amz-date")
        .next()
        .map(str::trim)
    {
        (
            amz.to_owned(),
            parse_amz_date(amz).ok_or_else(|| bad_amz_date(amz))?,
        )
    } else if let Some(date) = header_values(req.headers, "date").next().map(str::trim) {
        let unix = parse_http_date(date).ok_or_else(|| {
            AuthError::Malformed(format!(
                "Invalid Date header: '{date}'; expected an RFC 1123 date such as \
                 'Mon, 30 Nov 2026 00:10:00 GMT'."
            ))
        })?;
        (format_amz_date(unix), unix)
    } else {
        return Err(AuthError::Malformed(format!(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' \
             header. Authorization={auth}"
        )));
    };
    check_scope_date(&credential, &timestamp)?;

    Ok(Parsed {
        credential,
        signed_headers,
        signature: signature.to_owned(),
        timestamp,
        request_unix,
        payload: declared_payload(req.headers)?.unwrap_or(PayloadHash::FromBody),
        presigned_expires: None,
    })
}

fn parse_query_auth(
    req: &SignedRequest,
    query: &[(Vec<u8>, Vec<u8>)],
) -> Result<Parsed, AuthError> {
    let param = |name: &str| -> Result<String, AuthError> {
        let value = query
            .iter()
            .find(|(n, _)| n == name.as_bytes())
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned());
        value.ok_or_else(|| {
            AuthError::Malformed(format!(
                "AWS query-string parameters must include '{name}'. Re-examine the query-string \
                 parameters."
            ))
        })
    };
    let algorithm = param("X-Amz-Algorithm")?;
    if algorithm != ALGORITHM {
        return Err(AuthError::Malformed(format!(
            "X-Amz-Algorithm only supports \"{ALGORITHM}\", not \"{algorithm}\"."
        )));
    }
    let credential = parse_credential(&param("X-Amz-Credential")?)?;
    let signed_headers = parse_signed_headers(&param("X-Amz-SignedHeaders")?)?;
    let signature = param("X-Amz-Signature")?;
    let timestamp = param("X-Amz-Date")?;
    let request_unix = parse_amz_date(&timestamp).ok_or_else(|| bad_amz_date(&timestamp))?;
    let expires = param("X-Amz-Expires")?;
    let expires = expires
        .parse::<i64>()
        .ok()
        .filter(|secs| (1..=MAX_PRESIGN_EXPIRES_SECS).contains(secs))
        .ok_or_else(|| {
            AuthError::Malformed(format!(
                "X-Amz-Expires must be a number of seconds from 1 to {MAX_PRESIGN_EXPIRES_SECS} \
                 (one week), not '{expires}'."
            ))
        })?;
    check_scope_date(&credential, &timestamp)?;

    Ok(Parsed {
        credential,
        signed_headers,
        signature,
        timestamp,
        request_unix,
        payload: declared_payload(req.headers)?.unwrap_or(PayloadHash::UnsignedOrBody),
        presigned_expires: Some(expires),
    })
}

fn parse_credential(value: &str) -> Result<Credential, AuthError> {
    let malformed = || {
        AuthError::Malformed(format!(
            "Credential '{value}' is malformed; expecting \
             \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."
        ))
    };
    let parts: Vec<&str> = value.trim().split('/').collect();
    let [akid, date, region, service, terminator] = parts[..] else {
        return Err(malformed());
    };
    if terminator != "aws4_request" {
        return Err(AuthError::Malformed(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not \
             '{terminator}'."
        )));
    }
    if [akid, region, service].iter().any(|s| s.is_empty()) {
        return Err(malformed());
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AuthError::Malformed(format!(
            "Credential should be scoped to a valid date (YYYYMMDD), not '{date}'."
        )));
    }
    Ok(Credential {
        access_key_id: akid.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
    })
}

fn parse_signed_headers(value: &str) -> Result<Vec<String>, AuthError> {
    let names = sorted_names(value.split(';').map(str::trim));
    if names.iter().any(String::is_empty) {
        return Err(AuthError::Malformed(format!(
            "SignedHeaders '{value}' has an empty header name."
        )));
    }
    if !names.iter().any(|n| n == "host") {
        return Err(AuthError::Malformed(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".to_owned(),
        ));
    }
    Ok(names)
}

/// The `X-Amz-Content-Sha256` header, if any, as a payload mode.
fn declared_payload(headers: &[(String, String)]) -> Result<Option<PayloadHash>, AuthError> {
    let Some(value) = header_values(headers, "x-amz-content-sha256")
        .next()
        .map(str::trim)
    else {
        return Ok(None);
    };
    if value == UNSIGNED_PAYLOAD {
        return Ok(Some(PayloadHash::Unsigned));
    }
    if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(Some(PayloadHash::Declared(value.to_owned())));
    }
    // Refused rather than passed through: streaming (aws-chunked) values such as
    // `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` sign each chunk separately, and nothing here checks
    // chunk signatures, so accepting them would leave the body unauthenticated.
    Err(AuthError::Malformed(format!(
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a SHA-256 hex digest, not '{value}'."
    )))
}

fn check_scope_date(credential: &Credential, timestamp: &str) -> Result<(), AuthError> {
    let day = &timestamp[..8];
    if credential.date != day {
        return Err(AuthError::Malformed(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from \
             HTTP: '{}' != '{day}', from '{timestamp}'.",
            credential.date
        )));
    }
    Ok(())
}

fn bad_amz_date(value: &str) -> AuthError {
    AuthError::Malformed(format!(
        "Invalid X-Amz-Date '{value}': must be in ISO 8601 basic format, YYYYMMDD'T'HHMMSS'Z'."
    ))
}

fn check_time(parsed: &Parsed, now_unix: i64) -> Result<(), AuthError> {
    let signed = parsed.request_unix;
    let ts = &parsed.timestamp;
    let now = format_amz_date(now_unix);
    if signed > now_unix.saturating_add(MAX_SKEW_SECS) {
        let limit = format_amz_date(now_unix.saturating_add(MAX_SKEW_SECS));
        return Err(AuthError::Expired(format!(
            "Signature not yet current: {ts} is still later than {limit} ({now} + 15 min.)"
        )));
    }
    match parsed.presigned_expires {
        Some(expires) if now_unix > signed.saturating_add(expires) => {
            let until = format_amz_date(signed.saturating_add(expires));
            Err(AuthError::Expired(format!(
                "Request has expired: signed at {ts} for {expires} seconds, valid until \
                 {until}, now {now}."
            )))
        }
        Some(_) => Ok(()),
        None if signed < now_unix.saturating_sub(MAX_SKEW_SECS) => {
            let limit = format_amz_date(now_unix.saturating_sub(MAX_SKEW_SECS));
            Err(AuthError::Expired(format!(
                "Signature expired: {ts} is now earlier than {limit} ({now} - 15 min.)"
            )))
        }
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Canonical forms.

fn canonical_request(
    method: &str,
    uri: &str,
    query: &str,
    headers: &str,
    signed_headers: &str,
    payload: &str,
) -> String {
    // `headers` ends with its own newline, so the blank line AWS specifies after it appears.
    format!("{method}\n{uri}\n{query}\n{headers}\n{signed_headers}\n{payload}")
}

fn string_to_sign(timestamp: &str, scope: &str, canonical_request: &str) -> String {
    let hashed = sha256_hex(canonical_request.as_bytes());
    format!("{ALGORITHM}\n{timestamp}\n{scope}\n{hashed}")
}

/// `name:value\n` for each of `names` (already lowercase and sorted) and the `;`-joined list.
/// Values are trimmed with inner whitespace runs collapsed to one space, and repeated headers
/// joined with `,` in the order received. A signed header the request lacks gets an empty
/// value, which can only match if the client signed it empty.
fn canonical_headers(headers: &[(String, String)], names: &[String]) -> (String, String) {
    let mut out = String::new();
    for name in names {
        out.push_str(name);
        out.push(':');
        for (i, value) in header_values(headers, name).enumerate() {
            if i > 0 {
                out.push(',');
            }
            for (j, word) in value.split_ascii_whitespace().enumerate() {
                if j > 0 {
                    out.push(' ');
                }
                out.push_str(word);
            }
        }
        out.push('\n');
    }
    (out, names.join(";"))
}

/// Sorted by encoded name, then encoded value, as botocore sorts.
fn canonical_query(params: &[(Vec<u8>, Vec<u8>)]) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .map(|(name, value)| (uri_encode(name, false), uri_encode(value, false)))
        .collect();
    encoded.sort();
    let mut out = String::new();
    for (i, (name, value)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// Splits a raw query on `&` and percent-decodes each name and value. `+` stays a literal `+`:
/// AWS SDKs encode spaces as `%20`, and reading `+` as a space would change what was signed.
fn decode_query(query: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

/// The canonical URIs to try for a raw path, most likely first, without repeats.
fn uri_candidates(raw: &str) -> Vec<String> {
    let raw = if raw.is_empty() { "/" } else { raw };
    let normalized = normalize_path(raw);
    let mut out = vec![raw.to_owned()];
    for candidate in [
        uri_encode(normalized.as_bytes(), true),
        uri_encode(&percent_decode(&normalized), true),
    ] {
        if !out.contains(&candidate) {
            out.push(candidate);
        }
    }
    out
}

/// RFC 3986 section 5.2.4 dot-segment removal plus dropping empty segments, exactly as
/// botocore's `normalize_url_path` (AWS services other than S3 collapse `//`).
fn normalize_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(segment),
        }
    }
    let mut out = String::new();
    if path.starts_with('/') {
        out.push('/');
    }
    out.push_str(&segments.join("/"));
    if path.ends_with('/') && !segments.is_empty() {
        out.push('/');
    }
    out
}

/// AWS's URI encoding: unreserved characters (`A-Z a-z 0-9 - _ . ~`) kept, `/` kept when
/// `keep_slash`, every other byte as `%XX` with uppercase hex.
fn uri_encode(bytes: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Percent-decodes to bytes; a `%` not followed by two hex digits is kept as is.
fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex_digit(bytes[i + 1]), hex_digit(bytes[i + 2])) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn hex_digit(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn sorted_names<'n>(names: impl Iterator<Item = &'n str>) -> Vec<String> {
    let mut out: Vec<String> = names.map(str::to_ascii_lowercase).collect();
    out.sort();
    out.dedup();
    out
}

// ---------------------------------------------------------------------------------------------
// Keys and hashes.

fn new_mac(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC-SHA256 accepts keys of any length")
}

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = new_mac(key);
    mac.update(msg);
    let mut out = [0u8; 32];
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

/// `HMAC("AWS4" + secret, date)`, then region, service and `aws4_request` in turn.
fn signing_key(secret: &str, credential: &Credential) -> [u8; 32] {
    let k_date = hmac(
        format!("AWS4{secret}").as_bytes(),
        credential.date.as_bytes(),
    );
    let k_region = hmac(&k_date, credential.region.as_bytes());
    let k_service = hmac(&k_region, credential.service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

// ---------------------------------------------------------------------------------------------
// Dates, in UTC, without a date library: SigV4 needs only two fixed formats.

/// Parses `YYYYMMDDTHHMMSSZ`.
fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    // ASCII first: the digit ranges below slice `s`, and a header value may hold any text.
    if !s.is_ascii() || b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = &s[range];
        digits
            .bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let n = |range| num(range).map(i64::from);
    let millis = crate::time::civil_millis(
        n(0..4)?,
        n(4..6)?,
        n(6..8)?,
        n(9..11)?,
        n(11..13)?,
        n(13..15)?,
        0,
    )?;
    Some(millis.div_euclid(1000))
}

/// Formats seconds since the epoch as `YYYYMMDDTHHMMSSZ`.
fn format_amz_date(unix: i64) -> String {
    let (year, month, day, ms) = crate::time::civil(unix.saturating_mul(1000));
    let secs = ms / 1000;
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Parses an RFC 1123 date (`Mon, 30 Nov 2026 00:10:00 GMT`, also with `+0000`/`-0000` as
/// Python's `formatdate` writes, or without the weekday) to seconds since the epoch.
fn parse_http_date(s: &str) -> Option<i64> {
    crate::time::parse_http_date(s).map(|ms| ms.div_euclid(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The credential of AWS's published SigV4 test suite and of the IAM signing example.
    const SUITE_AKID: &str = "AKIDEXAMPLE";
    const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const SUITE_DATE: &str = "20150830T123600Z";

    /// The credential and time the botocore vectors below were signed with (botocore's
    /// `SigV4Auth`/`SigV4QueryAuth` with `get_current_datetime` fixed), against an endpoint at
    /// `http://127.0.0.1:8787`.
    const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const BOTO_DATE: &str = "20261130T001000Z";
    const HOST: &str = "127.0.0.1:8787";

    fn hdrs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn at(ts: &str) -> i64 {
        parse_amz_date(ts).expect("test timestamps are valid")
    }

    fn req<'a>(
        method: &'a str,
        path: &'a str,
        query: &'a str,
        headers: &'a [(String, String)],
        body: &'a [u8],
    ) -> SignedRequest<'a> {
        SignedRequest {
            method,
            path,
            query,
            headers,
            body,
        }
    }

    fn check(req: &SignedRequest, secret: &str, now: i64) -> Result<(), AuthError> {
        let (_, parsed) = parse(req)?;
        verify(req, &parsed, secret, now)
    }

    fn header<'h>(headers: &'h [(String, String)], name: &str) -> &'h str {
        header_values(headers, name).next().expect("header present")
    }

    /// The block body of the EBS vectors: bytes 0..=255 twice.
    fn block() -> Vec<u8> {
        (0..512u32).map(|i| (i % 256) as u8).collect()
    }

    /// Checks an AWS test-suite vector, then that [`sign`] produces the same header.
    fn suite_vector(
        method: &str,
        host: &str,
        query: &str,
        extra: &[(&str, &str)],
        body: &[u8],
        service: &str,
        authorization: &str,
    ) {
        let mut headers = hdrs(extra);
        headers.extend(hdrs(&[
            ("Host", host),
            ("X-Amz-Date", SUITE_DATE),
            ("Authorization", authorization),
        ]));
        let r = req(method, "/", query, &headers, body);
        let (cred, parsed) = parse(&r).expect("parses");
        assert_eq!(cred.access_key_id, SUITE_AKID);
        assert_eq!(verify(&r, &parsed, SUITE_SECRET, at(SUITE_DATE)), Ok(()));

        let extra = hdrs(extra);
        let added = sign(
            method,
            host,
            "/",
            query,
            &extra,
            body,
            SUITE_AKID,
            SUITE_SECRET,
            "us-east-1",
            service,
            at(SUITE_DATE),
        );
        assert_eq!(header(&added, "x-amz-date"), SUITE_DATE);
        assert_eq!(header(&added, "authorization"), authorization);
    }

    // -- AWS's published vectors (aws-sig-v4-test-suite, and the IAM signing example). --

    #[test]
    fn aws_suite_get_vanilla() {
        suite_vector(
            "GET",
            "example.amazonaws.com",
            "",
            &[],
            b"",
            "service",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        );
    }

    #[test]
    fn aws_suite_get_vanilla_query_order_key_case() {
        suite_vector(
            "GET",
            "example.amazonaws.com",
            "Param2=value2&Param1=value1",
            &[],
            b"",
            "service",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        );
    }

    #[test]
    fn aws_suite_post_x_www_form_urlencoded() {
        suite_vector(
            "POST",
            "example.amazonaws.com",
            "",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"Param1=value1",
            "service",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
        );
    }

    #[test]
    fn aws_suite_post_x_www_form_urlencoded_parameters() {
        suite_vector(
            "POST",
            "example.amazonaws.com",
            "",
            &[(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf8",
            )],
            b"Param1=value1",
            "service",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe",
        );
    }

    #[test]
    fn iam_docs_list_users_example() {
        suite_vector(
            "GET",
            "iam.amazonaws.com",
            "Action=ListUsers&Version=2010-05-08",
            &[(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            b"",
            "iam",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        );
    }

    #[test]
    fn iam_docs_signing_key_and_string_to_sign() {
        // The intermediate values printed in the IAM example.
        let cred = Credential {
            access_key_id: SUITE_AKID.to_owned(),
            date: "20150830".to_owned(),
            region: "us-east-1".to_owned(),
            service: "iam".to_owned(),
        };
        assert_eq!(
            hex::encode(signing_key(SUITE_SECRET, &cred)),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        let creq = "GET\n/\nAction=ListUsers&Version=2010-05-08\n\
                    content-type:application/x-www-form-urlencoded; charset=utf-8\n\
                    host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
                    content-type;host;x-amz-date\n\
                    e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            sha256_hex(creq.as_bytes()),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
    }

    // -- Vectors signed by botocore (what the aws CLI and boto3 send). --

    #[test]
    fn botocore_ec2_query_post() {
        let body = b"Action=DescribeImages&Version=2016-11-15&ImageId.1=ami-0123456789abcdef0";
        let headers = hdrs(&[
            ("Host", HOST),
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("X-Amz-Date", BOTO_DATE),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261130/us-east-1/ec2/\
                 aws4_request, SignedHeaders=content-type;host;x-amz-date, \
                 Signature=073e9ccdab13df604b0305a1dc0805dc81ed5bc4fd715771437d1902c54c95e2",
            ),
            // Sent by botocore but not signed.
            ("User-Agent", "aws-cli/2.0 Python/3.11"),
            ("Content-Length", "72"),
        ]);
        let r = req("POST", "/", "", &headers, body);
        let (cred, parsed) = parse(&r).expect("parses");
        assert_eq!(
            cred,
            Credential {
                access_key_id: AKID.to_owned(),
                date: "20261130".to_owned(),
                region: "us-east-1".to_owned(),
                service: "ec2".to_owned(),
            }
        );
        assert_eq!(
            parsed.signed_headers(),
            ["content-type", "host", "x-amz-date"]
        );
        assert_eq!(verify(&r, &parsed, SECRET, at(BOTO_DATE)), Ok(()));
    }

    #[test]
    fn botocore_kms_json_post_with_session_token() {
        let headers = hdrs(&[
            ("Host", HOST),
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", "TrentService.ListKeys"),
            ("X-Amz-Date", BOTO_DATE),
            ("X-Amz-Security-Token", "FQoGZXIvYXdzEXAMPLETOKEN"),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261130/us-east-1/kms/\
                 aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;\
                 x-amz-target, \
                 Signature=6a628929f90857af260879e79058391b063995eca99d6983d0bef9767b42a106",
            ),
        ]);
        let r = req("POST", "/", "", &headers, b"{}");
        assert_eq!(check(&r, SECRET, at(BOTO_DATE)), Ok(()));
        // The token is an ordinary signed header: changing it breaks the signature.
        let mut forged = headers.clone();
        forged[4].1 = "FQoGZXIvYXdzOTHERTOKEN".to_owned();
        let r = req("POST", "/", "", &forged, b"{}");
        assert_eq!(
            check(&r, SECRET, at(BOTO_DATE)),
            Err(AuthError::SignatureMismatch)
        );
    }

    fn ebs_put_headers() -> Vec<(String, String)> {
        hdrs(&[
            ("Host", HOST),
            ("Content-Type", "application/octet-stream"),
            (
                "X-Amz-Content-Sha256",
                "110009dcee21620b166f3abfecb5eff7a873be729d1c2d53822e7acc5f34eb9b",
            ),
            ("x-amz-Data-Length", "512"),
            ("x-amz-Checksum", "dGVzdA=="),
            ("x-amz-Checksum-Algorithm", "SHA256"),
            ("X-Amz-Date", BOTO_DATE),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261130/us-east-1/ebs/\
                 aws4_request, SignedHeaders=content-type;host;x-amz-checksum;\
                 x-amz-checksum-algorithm;x-amz-content-sha256;x-amz-data-length;x-amz-date, \
                 Signature=b6143bcda61cfe08b0f13f3bcff3761dda8c9552ff58a4fb7d6ce9ba99d8c835",
            ),
        ])
    }

    #[test]
    fn botocore_ebs_put_block_with_content_sha256() {
        let headers = ebs_put_headers();
        let body = block();
        let path = "/snapshots/snap-0123456789abcdef0/blocks/3";
        let r = req("PUT", path, "", &headers, &body);
        assert_eq!(sha256_hex(&body), header(&headers, "x-amz-content-sha256"));
        assert_eq!(check(&r, SECRET, at(BOTO_DATE)), Ok(()));

        // Same signed hash, different bytes on the wire.
        let mut other = body.clone();
        other[100] ^= 1;
        let r = req("PUT", path, "", &headers, &other);
        assert_eq!(
            check(&r, SECRET, at(BOTO_DATE)),
            Err(AuthError::ContentSha256Mismatch)
        );
    }

    #[test]
    fn botocore_ebs_put_unsigned_payload() {
        let headers = hdrs(&[
            ("Host", HOST),
            ("Content-Type", "application/octet-stream"),
            ("X-Amz-Date", BOTO_DATE),
            ("X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD"),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261130/us-east-1/ebs/\
                 aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, \
                 Signature=232524adb8a7d448627d0d05db60ae3be7cac07127a82b591c04dc5783decd66",
            ),
        ]);
        let path = "/snapshots/snap-0123456789abcdef0/blocks/4";
        let body = block();
        let r = req("PUT", path, "", &headers, &body);
        let (_, parsed) = parse(&r).expect("parses");
        assert!(parsed.is_payload_unsigned());
        assert_eq!(verify(&r, &parsed, SECRET, at(BOTO_DATE)), Ok(()));
        // The body is outside the signature, by the client's choice.
        let r = req("PUT", path, "", &headers, b"other bytes");
        assert_eq!(check(&r, SECRET, at(BOTO_DATE)), Ok(()));
    }

    #[test]
    fn botocore_ebs_get_with_encoded_query_value() {
        let headers = hdrs(&[
            ("Host", HOST),
            ("X-Amz-Date", BOTO_DATE),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261130/us-east-1/ebs/\
                 aws4_request, SignedHeaders=host;x-amz-date, \
                 Signature=8bae2ed8b4d6982ed53b32a51e057e89e8ded19784c79dc15ef14b43716d52dd",
            ),
        ]);
        let path = "/snapshots/snap-0123456789abcdef0/blocks/5";
        let r = req("GET", path, "blockToken=a%2Fb%3D%3D", &headers, b"");
        assert_eq!(check(&r, SECRET, at(BOTO_DATE)), Ok(()));
        // Lowercase hex in the wire form canonicalises the same.
        let r = req("GET", path, "blockToken=a%2fb%3d%3d", &headers, b"");
        assert_eq!(check(&r, SECRET, at(BOTO_DATE)), Ok(()));
        let r = req("GET", path, "blockToken=a%2Fb%3D", &headers, b"");
        assert_eq!(
            check(&r, SECRET, at(BOTO_DATE)),
            Err(AuthError::SignatureMismatch)
        );
    }

    #[test]
    fn botocore_double_encoded_path() {
        // botocore sent `/x/a%3Ab%20c` and signed `/x/a%253Ab%2520c`: only the second candidate
        // URI matches.
        let headers = hdrs(&[
            ("Host", HOST),
            ("X-Amz-Date", BOTO_DATE),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261130/us-east-1/ebs/\
                 aws4_request, SignedHeaders=host;x-amz-date, \
                 Signature=dacda46bd346778b0e854b7ce2b0a4832f6024d20b2372f0b838b036e6096372",
            ),
        ]);
        assert_eq!(
            uri_candidates("/x/a%3Ab%20c"),
            ["/x/a%3Ab%20c", "/x/a%253Ab%2520c"]
        );
        let r = req("GET", "/x/a%3Ab%20c", "", &headers, b"");
        assert_eq!(check(&r, SECRET, at(BOTO_DATE)), Ok(()));
        let r = req("GET", "/x/a%3Ab%20d", "", &headers, b"");
        assert_eq!(
            check(&r, SECRET, at(BOTO_DATE)),
            Err(AuthError::SignatureMismatch)
        );
    }

    const BOTO_PRESIGNED_QUERY: &str = "Action=DescribeRegions&Version=2016-11-15&\
        X-Amz-Algorithm=AWS4-HMAC-SHA256&\
        X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261130%2Fus-east-1%2Fec2%2Faws4_request&\
        X-Amz-Date=20261130T001000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&\
        X-Amz-Signature=83366645b9d2ac5779dcafa8f79caa28df4a6973bd514bbcbf6d6f115d0460c5";

    #[test]
    fn botocore_presigned_query() {
        let headers = hdrs(&[("Host", HOST)]);
        let r = req("GET", "/", BOTO_PRESIGNED_QUERY, &headers, b"");
        let (cred, parsed) = parse(&r).expect("parses");
        assert_eq!(cred.service, "ec2");
        assert_eq!(parsed.presigned_expires(), Some(300));
        assert!(parsed.is_payload_unsigned());
        let now = at(BOTO_DATE);
        assert_eq!(verify(&r, &parsed, SECRET, now), Ok(()));
        assert_eq!(verify(&r, &parsed, SECRET, now + 300), Ok(()));
        assert!(matches!(
            verify(&r, &parsed, SECRET, now + 301),
            Err(AuthError::Expired(_))
        ));

        // `Signer::presign` writes the same URL botocore does.
        let signer = Signer {
            access_key_id: AKID,
            secret: SECRET,
            region: "us-east-1",
            service: "ec2",
            payload: PayloadSigning::Hashed,
        };
        let ours = signer.presign(
            "GET",
            HOST,
            "/",
            "Action=DescribeRegions&Version=2016-11-15",
            now,
            300,
        );
        assert_eq!(ours, BOTO_PRESIGNED_QUERY);
    }

    // -- Round trips through `sign` and `Signer`. --

    /// A signed EBS-style request, as the tamper tests start from it.
    struct Fixture {
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        now: i64,
    }

    const PATH: &str = "/snapshots/snap-0123456789abcdef0/blocks/3";
    const QUERY: &str = "pageToken=abc&maxResults=10";

    fn fixture(payload: PayloadSigning) -> Fixture {
        let now = at("20261130T001000Z");
        let body = block();
        let mut headers = hdrs(&[
            ("Host", HOST),
            ("Content-Type", "application/octet-stream"),
            ("X-Amz-Target", "Example.Op"),
        ]);
        let signer = Signer {
            access_key_id: AKID,
            secret: SECRET,
            region: "us-east-1",
            service: "ebs",
            payload,
        };
        let added = signer.headers_for(&req("PUT", PATH, QUERY, &headers, &body), HOST, now);
        headers.extend(added);
        Fixture { headers, body, now }
    }

    impl Fixture {
        fn check(&self) -> Result<(), AuthError> {
            let r = req("PUT", PATH, QUERY, &self.headers, &self.body);
            check(&r, SECRET, self.now)
        }

        fn set(&mut self, name: &str, value: &str) {
            let slot = self
                .headers
                .iter_mut()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .expect("header present");
            slot.1 = value.to_owned();
        }

        fn edit_auth(&mut self, from: &str, to: &str) {
            let auth = header(&self.headers, "authorization").replace(from, to);
            self.set("authorization", &auth);
        }
    }

    #[test]
    fn sign_then_verify() {
        for payload in [
            PayloadSigning::Hashed,
            PayloadSigning::HashedWithHeader,
            PayloadSigning::Unsigned,
        ] {
            let f = fixture(payload);
            assert_eq!(f.check(), Ok(()), "{payload:?}");
            let declared = header_values(&f.headers, "x-amz-content-sha256").next();
            match payload {
                PayloadSigning::HashedWithHeader => {
                    assert_eq!(declared, Some(sha256_hex(&f.body).as_str()));
                }
                PayloadSigning::Unsigned => assert_eq!(declared, Some(UNSIGNED_PAYLOAD)),
                _ => assert_eq!(declared, None),
            }
        }
    }

    #[test]
    fn sign_signs_what_botocore_signs() {
        let f = fixture(PayloadSigning::Hashed);
        let r = req("PUT", PATH, QUERY, &f.headers, &f.body);
        let (_, parsed) = parse(&r).expect("parses");
        assert_eq!(
            parsed.signed_headers(),
            ["content-type", "host", "x-amz-date", "x-amz-target"]
        );
        // A caller-provided X-Amz-Content-Sha256 is signed as given (as botocore does).
        let headers = hdrs(&[
            ("X-Amz-Content-Sha256", UNSIGNED_PAYLOAD),
            ("User-Agent", "t"),
        ]);
        let added = sign(
            "PUT",
            HOST,
            PATH,
            "",
            &headers,
            b"x",
            AKID,
            SECRET,
            "us-east-1",
            "ebs",
            f.now,
        );
        assert!(header_values(&added, "x-amz-content-sha256")
            .next()
            .is_none());
        let mut all = headers.clone();
        all.push(("Host".to_owned(), HOST.to_owned()));
        all.extend(added);
        let r = req("PUT", PATH, "", &all, b"anything");
        let (_, parsed) = parse(&r).expect("parses");
        assert_eq!(
            parsed.signed_headers(),
            ["host", "x-amz-content-sha256", "x-amz-date"]
        );
        assert_eq!(verify(&r, &parsed, SECRET, f.now), Ok(()));
    }

    #[test]
    fn every_single_field_tamper_fails() {
        let f = fixture(PayloadSigning::Hashed);
        let now = f.now;
        let mismatch = Err(AuthError::SignatureMismatch);
        let tampered =
            |method: &str, path: &str, query: &str, headers: &[(String, String)], body: &[u8]| {
                check(&req(method, path, query, headers, body), SECRET, now)
            };

        assert_eq!(
            tampered("POST", PATH, QUERY, &f.headers, &f.body),
            mismatch,
            "method"
        );
        let other_path = "/snapshots/snap-0123456789abcdef0/blocks/4";
        assert_eq!(
            tampered("PUT", other_path, QUERY, &f.headers, &f.body),
            mismatch,
            "path"
        );
        let other_query = "pageToken=abd&maxResults=10";
        assert_eq!(
            tampered("PUT", PATH, other_query, &f.headers, &f.body),
            mismatch,
            "query"
        );
        let more_query = "pageToken=abc&maxResults=10&x=1";
        assert_eq!(
            tampered("PUT", PATH, more_query, &f.headers, &f.body),
            mismatch,
            "param"
        );
        let mut body = f.body.clone();
        body[0] ^= 0x80;
        assert_eq!(
            tampered("PUT", PATH, QUERY, &f.headers, &body),
            mismatch,
            "body"
        );

        // The access key id is not in the string to sign: another id fails because the caller
        // looks up another secret (`wrong_secret_fails`), not because of the signature.
        type Edit = fn(&mut Fixture);
        let edits: [(&str, Edit); 7] = [
            ("signed header", |f| f.set("x-amz-target", "Example.Other")),
            ("host", |f| f.set("host", "127.0.0.1:8788")),
            ("date", |f| f.set("x-amz-date", "20261130T001001Z")),
            ("region in scope", |f| {
                f.edit_auth("/us-east-1/", "/us-west-2/")
            }),
            ("service in scope", |f| f.edit_auth("/ebs/", "/ec2/")),
            ("signed header list", |f| f.edit_auth(";x-amz-target", "")),
            ("signature", |f| {
                let auth = header(&f.headers, "authorization").to_owned();
                let last = auth.chars().last().expect("non-empty");
                let flipped = if last == '0' { '1' } else { '0' };
                f.set(
                    "authorization",
                    &format!("{}{flipped}", &auth[..auth.len() - 1]),
                );
            }),
        ];
        for (what, edit) in edits {
            let mut g = fixture(PayloadSigning::Hashed);
            edit(&mut g);
            assert_eq!(g.check(), mismatch, "{what}");
        }
    }

    #[test]
    fn declared_hash_guards_the_body() {
        let mut f = fixture(PayloadSigning::HashedWithHeader);
        f.body[7] ^= 1;
        assert_eq!(f.check(), Err(AuthError::ContentSha256Mismatch));
        // Rewriting the declared hash to match the new body breaks the signature instead.
        let f2 = {
            let mut g = fixture(PayloadSigning::HashedWithHeader);
            g.body[7] ^= 1;
            let hash = sha256_hex(&g.body);
            g.set("x-amz-content-sha256", &hash);
            g
        };
        assert_eq!(f2.check(), Err(AuthError::SignatureMismatch));
    }

    #[test]
    fn wrong_secret_fails() {
        let f = fixture(PayloadSigning::Hashed);
        let r = req("PUT", PATH, QUERY, &f.headers, &f.body);
        let (_, parsed) = parse(&r).expect("parses");
        assert_eq!(
            verify(
                &r,
                &parsed,
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEz",
                f.now
            ),
            Err(AuthError::SignatureMismatch)
        );
    }

    #[test]
    fn unsigned_extra_headers_are_ignored() {
        let mut f = fixture(PayloadSigning::Hashed);
        f.headers.extend(hdrs(&[
            ("User-Agent", "curl/8"),
            ("X-Forwarded-For", "10.0.0.1"),
            ("Accept-Encoding", "identity"),
        ]));
        assert_eq!(f.check(), Ok(()));
    }

    #[test]
    fn header_order_case_and_whitespace_do_not_matter() {
        let mut f = fixture(PayloadSigning::Hashed);
        f.headers.reverse();
        for (name, value) in &mut f.headers {
            *name = name.to_ascii_uppercase();
            if name == "X-AMZ-TARGET" {
                *value = format!("  {value}\t ");
            }
        }
        assert_eq!(f.check(), Ok(()));
    }

    #[test]
    fn skew_beyond_fifteen_minutes_is_expired() {
        let f = fixture(PayloadSigning::Hashed);
        let r = req("PUT", PATH, QUERY, &f.headers, &f.body);
        let (_, parsed) = parse(&r).expect("parses");
        let signed = f.now;
        assert_eq!(verify(&r, &parsed, SECRET, signed + 900), Ok(()));
        assert_eq!(verify(&r, &parsed, SECRET, signed - 900), Ok(()));

        let late = verify(&r, &parsed, SECRET, signed + 901).expect_err("too old");
        assert_eq!(
            late.to_string(),
            "Signature expired: 20261130T001000Z is now earlier than 20261130T001001Z \
             (20261130T002501Z - 15 min.)"
        );
        let early = verify(&r, &parsed, SECRET, signed - 901).expect_err("too new");
        assert_eq!(
            early.to_string(),
            "Signature not yet current: 20261130T001000Z is still later than 20261130T000959Z \
             (20261129T235459Z + 15 min.)"
        );
        assert!(matches!(late, AuthError::Expired(_)) && matches!(early, AuthError::Expired(_)));
    }

    #[test]
    fn presigned_round_trip_and_expiry() {
        let now = at("20261130T235500Z");
        let signer = Signer {
            access_key_id: AKID,
            secret: SECRET,
            region: "us-east-1",
            service: "ebs",
            payload: PayloadSigning::Hashed,
        };
        let query = signer.presign("GET", HOST, PATH, "startingBlockIndex=0", now, 600);
        let headers = hdrs(&[("Host", HOST), ("User-Agent", "test")]);
        let r = req("GET", PATH, &query, &headers, b"");
        let (cred, parsed) = parse(&r).expect("parses");
        assert_eq!(cred.date, "20261130");
        // Valid past midnight: the scope's day is the signing day, not today.
        assert_eq!(verify(&r, &parsed, SECRET, now + 600), Ok(()));
        let expired = verify(&r, &parsed, SECRET, now + 601).expect_err("expired");
        assert!(matches!(expired, AuthError::Expired(_)));
        assert!(
            expired.to_string().contains("valid until 20261201T000500Z"),
            "{expired}"
        );
        assert!(matches!(
            verify(&r, &parsed, SECRET, now - 901),
            Err(AuthError::Expired(_))
        ));

        let tampered = query.replace("startingBlockIndex=0", "startingBlockIndex=1");
        let r = req("GET", PATH, &tampered, &headers, b"");
        assert_eq!(check(&r, SECRET, now), Err(AuthError::SignatureMismatch));
        let longer = query.replace("X-Amz-Expires=600", "X-Amz-Expires=6000");
        let r = req("GET", PATH, &longer, &headers, b"");
        assert_eq!(check(&r, SECRET, now), Err(AuthError::SignatureMismatch));
    }

    #[test]
    fn presigned_parameters_are_checked() {
        let headers = hdrs(&[("Host", HOST)]);
        let parse_query = |q: &str| parse(&req("GET", "/", q, &headers, b"")).map(|_| ());
        let without_date = BOTO_PRESIGNED_QUERY.replace("X-Amz-Date=20261130T001000Z&", "");
        let err = parse_query(&without_date).expect_err("no date");
        assert_eq!(
            err.to_string(),
            "AWS query-string parameters must include 'X-Amz-Date'. Re-examine the query-string \
             parameters."
        );
        let too_long = BOTO_PRESIGNED_QUERY.replace("X-Amz-Expires=300", "X-Amz-Expires=604801");
        assert!(matches!(
            parse_query(&too_long),
            Err(AuthError::Malformed(_))
        ));
        let zero = BOTO_PRESIGNED_QUERY.replace("X-Amz-Expires=300", "X-Amz-Expires=0");
        assert!(matches!(parse_query(&zero), Err(AuthError::Malformed(_))));
        let sha1 = BOTO_PRESIGNED_QUERY.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1");
        assert!(matches!(parse_query(&sha1), Err(AuthError::Malformed(_))));

        let both = hdrs(&[
            ("Host", HOST),
            ("Authorization", "AWS4-HMAC-SHA256 Credential=x"),
        ]);
        let r = req("GET", "/", BOTO_PRESIGNED_QUERY, &both, b"");
        assert!(matches!(parse(&r), Err(AuthError::Malformed(m)) if m.contains("Only one auth")));
    }

    #[test]
    fn presigned_with_unsigned_payload_is_accepted() {
        // S3-style presigners put UNSIGNED-PAYLOAD where botocore (non-S3) puts the empty hash.
        let now = at(BOTO_DATE);
        let signer = Signer {
            access_key_id: AKID,
            secret: SECRET,
            region: "us-east-1",
            service: "ebs",
            payload: PayloadSigning::Hashed,
        };
        let unsigned = BOTO_PRESIGNED_QUERY
            .replace("%2Fec2%2F", "%2Febs%2F")
            .split("&X-Amz-Signature=")
            .next()
            .expect("has a signature")
            .to_owned();
        let (canonical_headers, signed_line) =
            canonical_headers(&hdrs(&[("host", HOST)]), &["host".to_owned()]);
        let creq = canonical_request(
            "PUT",
            PATH,
            &canonical_query(&decode_query(&unsigned)),
            &canonical_headers,
            &signed_line,
            UNSIGNED_PAYLOAD,
        );
        let credential = signer.credential(BOTO_DATE);
        let query = format!(
            "{unsigned}&X-Amz-Signature={}",
            signer.signature(&credential, BOTO_DATE, &creq)
        );
        let headers = hdrs(&[("Host", HOST)]);
        let r = req("PUT", PATH, &query, &headers, b"any body at all");
        assert_eq!(check(&r, SECRET, now), Ok(()));
        // The hashed form binds the body: the same URL signed for an empty body refuses another.
        let hashed = signer.presign("PUT", HOST, PATH, "", now, 300);
        let r = req("PUT", PATH, &hashed, &headers, b"");
        assert_eq!(check(&r, SECRET, now), Ok(()));
        let r = req("PUT", PATH, &hashed, &headers, b"x");
        assert_eq!(check(&r, SECRET, now), Err(AuthError::SignatureMismatch));
    }

    #[test]
    fn missing_authentication() {
        let headers = hdrs(&[("Host", HOST), ("X-Amz-Date", BOTO_DATE)]);
        let r = req("GET", "/", "Action=DescribeRegions", &headers, b"");
        assert_eq!(parse(&r).map(|_| ()), Err(AuthError::Missing));
        assert_eq!(
            AuthError::Missing.to_string(),
            "Request is missing Authentication Token"
        );
    }

    fn parse_with(auth: &str, date: Option<&str>) -> Result<(Credential, Parsed), AuthError> {
        let mut headers = hdrs(&[("Host", HOST), ("Authorization", auth)]);
        if let Some(date) = date {
            headers.push(("X-Amz-Date".to_owned(), date.to_owned()));
        }
        parse(&req("GET", "/", "", &headers, b""))
    }

    fn malformed(auth: &str, date: Option<&str>) -> String {
        match parse_with(auth, date) {
            Err(AuthError::Malformed(message)) => message,
            other => panic!("expected Malformed for {auth:?}, got {other:?}"),
        }
    }

    const GOOD_AUTH: &str = "AWS4-HMAC-SHA256 \
        Credential=AKIAIOSFODNN7EXAMPLE/20261130/us-east-1/ec2/aws4_request, \
        SignedHeaders=host;x-amz-date, Signature=0123";

    #[test]
    fn malformed_authorization_headers() {
        let d = Some(BOTO_DATE);
        assert!(parse_with(GOOD_AUTH, d).is_ok());

        let m = malformed("AWS AKIAIOSFODNN7EXAMPLE:c2lnbmF0dXJl", d);
        assert!(m.contains("Please use AWS4-HMAC-SHA256"), "{m}");
        let m = malformed("AWS4-HMAC-SHA256", d);
        assert!(m.contains("Please use AWS4-HMAC-SHA256"), "{m}");

        let m = malformed(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261130/us-east-1/ec2/aws4_request",
            d,
        );
        assert!(
            m.starts_with(
                "Authorization header requires 'Signature' parameter. Authorization header \
                 requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 Credential="
            ),
            "{m}"
        );
        let m = malformed(&GOOD_AUTH.replace("Signature=0123", "Signature"), d);
        assert!(m.contains("key=value, not 'Signature'"), "{m}");

        let m = malformed(&GOOD_AUTH.replace("/us-east-1/ec2/", "/us-east-1/"), d);
        assert!(
            m.contains("<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request"),
            "{m}"
        );
        let m = malformed(&GOOD_AUTH.replace("/aws4_request", "/aws5_request"), d);
        assert!(m.contains("valid terminator"), "{m}");
        let m = malformed(&GOOD_AUTH.replace("/20261130/", "/2026-11-30/"), d);
        assert!(m.contains("valid date (YYYYMMDD), not '2026-11-30'"), "{m}");
        let m = malformed(&GOOD_AUTH.replace("/20261130/", "/20261129/"), d);
        assert_eq!(
            m,
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from \
             HTTP: '20261129' != '20261130', from '20261130T001000Z'."
        );

        let m = malformed(&GOOD_AUTH.replace("host;x-amz-date", "x-amz-date"), d);
        assert_eq!(
            m,
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
        );
        let m = malformed(&GOOD_AUTH.replace("host;x-amz-date", "host;;x-amz-date"), d);
        assert!(m.contains("empty header name"), "{m}");

        let m = malformed(GOOD_AUTH, None);
        assert!(m.starts_with("Authorization header requires existence of either a 'X-Amz-Date'"));
        for bad in [
            "2026-11-30T00:10:00Z",
            "20261130T001000",
            "20261131T001000Z",
            "20261130T241000Z",
        ] {
            let m = malformed(GOOD_AUTH, Some(bad));
            assert!(m.starts_with(&format!("Invalid X-Amz-Date '{bad}'")), "{m}");
        }
    }

    #[test]
    fn streaming_payload_is_refused() {
        let headers = hdrs(&[
            ("Host", HOST),
            ("X-Amz-Date", BOTO_DATE),
            ("X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            ("Authorization", GOOD_AUTH),
        ]);
        let r = req("PUT", "/", "", &headers, b"");
        assert!(matches!(parse(&r), Err(AuthError::Malformed(m)) if m.contains("x-amz-content")));
    }

    #[test]
    fn non_hex_signature_is_a_mismatch() {
        let mut f = fixture(PayloadSigning::Hashed);
        let auth = header(&f.headers, "authorization");
        let (head, _) = auth.split_once("Signature=").expect("has signature");
        let auth = format!("{head}Signature=zz");
        f.set("authorization", &auth);
        assert_eq!(f.check(), Err(AuthError::SignatureMismatch));
    }

    #[test]
    fn botocore_date_header_instead_of_x_amz_date() {
        // Given a `Date` header, botocore rewrites it with `formatdate` (zone `-0000`) and signs
        // it instead of sending X-Amz-Date; the string to sign still uses the basic ISO form.
        let body = b"Action=GetCallerIdentity&Version=2011-06-15";
        let mut headers = hdrs(&[
            ("Host", HOST),
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("Date", "Mon, 30 Nov 2026 00:10:00 -0000"),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261130/us-east-1/sts/\
                 aws4_request, SignedHeaders=content-type;date;host, \
                 Signature=da8a2c06fd0839e329214e2c07a70a60554314cfe1709ba4936c21c3bcc9d468",
            ),
        ]);
        let now = at(BOTO_DATE);
        let r = req("POST", "/", "", &headers, body);
        let (_, parsed) = parse(&r).expect("parses");
        assert_eq!(parsed.timestamp(), BOTO_DATE);
        assert_eq!(parsed.request_time_unix(), now);
        assert_eq!(verify(&r, &parsed, SECRET, now), Ok(()));

        headers[2].1 = "Mon, 30 Nov 2026 00:10:01 -0000".to_owned();
        let r = req("POST", "/", "", &headers, body);
        assert_eq!(check(&r, SECRET, now), Err(AuthError::SignatureMismatch));
        headers[2].1 = "yesterday".to_owned();
        let r = req("POST", "/", "", &headers, body);
        assert!(matches!(parse(&r), Err(AuthError::Malformed(m)) if m.contains("Invalid Date")));
    }

    // -- Canonical forms. --

    #[test]
    fn canonical_query_encoding_and_order() {
        let q = |raw: &str| canonical_query(&decode_query(raw));
        assert_eq!(q(""), "");
        assert_eq!(q("b=2&a=1&a=0"), "a=0&a=1&b=2");
        assert_eq!(q("flag&x="), "flag=&x=");
        assert_eq!(q("k=a b"), "k=a%20b");
        assert_eq!(q("k=a%20b"), "k=a%20b");
        assert_eq!(q("k=a+b"), "k=a%2Bb");
        assert_eq!(q("k=~-_.!*'()"), "k=~-_.%21%2A%27%28%29");
        assert_eq!(q("k=%e2%82%ac"), "k=%E2%82%AC");
        assert_eq!(q("k=\u{20ac}"), "k=%E2%82%AC");
        assert_eq!(q("k=100%"), "k=100%25");
        assert_eq!(q("Filter.1.Name=tag%3AName"), "Filter.1.Name=tag%3AName");
        // Uppercase sorts before lowercase (byte order), as in the AWS suite.
        assert_eq!(q("b=1&B=2&a=3"), "B=2&a=3&b=1");
    }

    #[test]
    fn canonical_headers_trim_collapse_and_join() {
        let headers = hdrs(&[
            ("My-Header1", "  value1  "),
            ("my-header2", "\"a   b   c\""),
            ("MY-HEADER1", "value2"),
            ("Host", "example.amazonaws.com"),
        ]);
        let names = sorted_names(["host", "my-header1", "my-header2"].into_iter());
        let (canonical, signed) = canonical_headers(&headers, &names);
        assert_eq!(
            canonical,
            "host:example.amazonaws.com\nmy-header1:value1,value2\nmy-header2:\"a b c\"\n"
        );
        assert_eq!(signed, "host;my-header1;my-header2");
    }

    #[test]
    fn uri_normalisation_matches_botocore() {
        assert_eq!(normalize_path(""), "/");
        assert_eq!(normalize_path("/"), "/");
        assert_eq!(normalize_path("//a//b/"), "/a/b/");
        assert_eq!(normalize_path("/a/./b/../c"), "/a/c");
        assert_eq!(normalize_path("/../.."), "/");
        assert_eq!(
            uri_candidates("/snapshots/snap-0123/blocks/5"),
            ["/snapshots/snap-0123/blocks/5"]
        );
        assert_eq!(uri_candidates(""), ["/"]);
        assert_eq!(uri_candidates("/a:b"), ["/a:b", "/a%3Ab"]);
        assert_eq!(uri_candidates("/a/../b"), ["/a/../b", "/b"]);
    }

    // -- Dates. --

    #[test]
    fn amz_dates_round_trip() {
        for unix in [
            -86_400 * 800,
            -1,
            0,
            59,
            951_782_400,
            1_764_460_800,
            2_932_896 * 86_400,
        ] {
            assert_eq!(parse_amz_date(&format_amz_date(unix)), Some(unix), "{unix}");
        }
        assert_eq!(format_amz_date(1_764_460_800), "20251130T000000Z");
        assert_eq!(at("20150830T123600Z"), 1_440_938_160);
        assert_eq!(format_amz_date(1_440_938_160), "20150830T123600Z");
        assert_eq!(format_amz_date(-1), "19691231T235959Z");
    }

    #[test]
    fn amz_date_parsing_checks_the_calendar() {
        assert!(parse_amz_date("20240229T000000Z").is_some());
        assert!(parse_amz_date("20000229T000000Z").is_some());
        for bad in [
            "20230229T000000Z",
            "19000229T000000Z",
            "20261301T000000Z",
            "20261100T000000Z",
            "20261130T006000Z",
            "20261130T000060Z",
            "2026113OT000000Z",
            "+0261130T000000Z",
            // 16 bytes with a multi-byte character across a field boundary (a fuzz find).
            "20\u{20ac}101T000000Z",
            "20261130t000000Z",
            "",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
        for ts in ["20261130T001000Z", "20240229T235959Z", "19700101T000000Z"] {
            assert_eq!(format_amz_date(at(ts)), ts);
        }
    }

    #[test]
    fn http_date_parsing() {
        let want = at("20261130T001000Z");
        for s in [
            "Mon, 30 Nov 2026 00:10:00 GMT",
            "Mon, 30 Nov 2026 00:10:00 -0000",
            "Mon, 30 Nov 2026 00:10:00 +0000",
            "30 Nov 2026 00:10:00 UTC",
        ] {
            assert_eq!(parse_http_date(s), Some(want), "{s}");
        }
        for bad in [
            "Mon, 30 Nov 2026 00:10:00 +0100",
            "Mon, 31 Nov 2026 00:10:00 GMT",
            "Mon, 30 Foo 2026 00:10:00 GMT",
            "Mon, 30 Nov 2026 00:10 GMT",
            "Mon, 30 Nov 2026 00:10:00:00 GMT",
            "Mon, 30 Nov 99999999999999999 00:10:00 GMT",
            "Mon, 30 Nov -026 00:10:00 GMT",
            "20261130T001000Z",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }
}
