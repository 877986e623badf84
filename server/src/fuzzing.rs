//! Fuzz targets for the endpoint's parsers of outside bytes: HTTP/1.1 request framing, the
//! SigV4 `Authorization` header and presigned query, and the request decoders of each protocol
//! (EC2/IAM/STS Query forms, KMS JSON, EBS direct REST paths, query strings and headers),
//! followed through to the engine's typed requests. Each target takes arbitrary bytes, must not
//! panic, and asserts that a refusal is the client's error in the protocol's own terms. The
//! `blockseal-fuzz` crate runs them under libFuzzer, its stable-toolchain driver and a
//! regression test.
//!
//! Hidden from the documentation and not part of the endpoint's API.

use crate::http::{self, Request};
use crate::service;
use crate::sigv4::{self, AuthError, SignedRequest};
use std::net::{Ipv4Addr, SocketAddr};

/// The secret the signature targets sign and verify with.
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// Raw bytes from a client connection: up to four pipelined HTTP/1.1 requests, each then
/// checked for a signature and decoded for its service as the endpoint would.
pub fn http_request(data: &[u8]) {
    for mut req in http::fuzzing::requests(data, 4) {
        signature(&req);
        service::fuzzing::decode_request(&mut req);
    }
}

/// A request in a lenient text form that mutations keep well-formed more often than raw HTTP:
/// `METHOD TARGET`, header lines `Name: value` up to an empty line, then the body. Decoded for
/// its service (an `X-Amz-Target` of `TrentService.*` is KMS JSON, a path under `/snapshots`
/// EBS direct REST, anything else a Query form) through to the engine's typed request.
pub fn api_request(data: &[u8]) {
    let mut req = text_request(data);
    service::fuzzing::decode_request(&mut req);
}

/// An `application/x-www-form-urlencoded` EC2 Query body (`Action=DescribeImages&ImageId.1=…`),
/// decoded through to the engine's typed request. The form decoding itself is also checked
/// against the encoding's rule.
pub fn query_form(data: &[u8]) {
    service::fuzzing::form_decoding(&String::from_utf8_lossy(data));
    let mut req = Request {
        method: "POST".into(),
        path: "/".into(),
        query: String::new(),
        headers: vec![(
            "Content-Type".into(),
            "application/x-www-form-urlencoded; charset=utf-8".into(),
        )],
        body: data.to_vec(),
        peer: peer(),
    };
    service::fuzzing::decode_request(&mut req);
}

/// A request in the text form of [`api_request`], for its signature. Properties: parsing the
/// `Authorization` header or presigned query never panics and refuses only as missing or
/// malformed; a parsed signature verifies or is refused as a mismatch or out of time; and the
/// same request signed by [`sigv4::Signer`] verifies.
pub fn sigv4(data: &[u8]) {
    let req = text_request(data);
    signature(&req);
    signs_and_verifies(&req);
}

fn peer() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

fn signed(req: &Request) -> SignedRequest<'_> {
    SignedRequest {
        method: &req.method,
        path: &req.path,
        query: &req.query,
        headers: &req.headers,
        body: &req.body,
    }
}

/// Parses and verifies the signature `req` carries.
fn signature(req: &Request) {
    let signed = signed(req);
    match sigv4::parse(&signed) {
        Ok((credential, parsed)) => {
            assert_eq!(&credential, parsed.credential());
            assert!(
                parsed.signed_headers().iter().any(|h| h == "host"),
                "host is signed"
            );
            let now = parsed.request_time_unix();
            match sigv4::verify(&signed, &parsed, SECRET, now) {
                Ok(())
                | Err(
                    AuthError::SignatureMismatch
                    | AuthError::ContentSha256Mismatch
                    | AuthError::Expired(_),
                ) => {}
                Err(e) => panic!("verify refused with {e:?}"),
            }
        }
        Err(AuthError::Missing | AuthError::Malformed(_)) => {}
        Err(e) => panic!("parse refused with {e:?}"),
    }
}

/// Signs `req` (without any signature it carries) and checks that the signature verifies.
fn signs_and_verifies(req: &Request) {
    if req.query.contains("X-Amz-") {
        // A presigned query next to the new Authorization header is refused by design.
        return;
    }
    let dropped = [
        "authorization",
        "x-amz-date",
        "x-amz-content-sha256",
        "date",
    ];
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .filter(|(n, _)| !dropped.iter().any(|d| n.eq_ignore_ascii_case(d)))
        .cloned()
        .collect();
    let now = 1_780_000_000;
    let signer = sigv4::Signer {
        access_key_id: "AKIDEXAMPLE",
        secret: SECRET,
        region: "us-east-1",
        service: "ec2",
        payload: sigv4::PayloadSigning::Hashed,
    };
    let unsigned = SignedRequest {
        method: &req.method,
        path: &req.path,
        query: &req.query,
        headers: &headers,
        body: &req.body,
    };
    let added = signer.headers_for(&unsigned, "localhost:8080", now);
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        headers.push(("Host".into(), "localhost:8080".into()));
    }
    headers.extend(added);
    let signed = SignedRequest {
        method: &req.method,
        path: &req.path,
        query: &req.query,
        headers: &headers,
        body: &req.body,
    };
    let (_, parsed) = sigv4::parse(&signed).expect("a signed request parses");
    assert_eq!(parsed.request_time_unix(), now);
    sigv4::verify(&signed, &parsed, SECRET, now).expect("a signed request verifies");
}

/// The lenient text form: never fails, so every input becomes some request.
fn text_request(data: &[u8]) -> Request {
    let mut lines = data.split(|&b| b == b'\n');
    let first = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let mut parts = first.split_ascii_whitespace();
    let method = parts.next().unwrap_or("POST").to_owned();
    let target = parts.next().unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let mut consumed = first.len().min(data.len()) + 1;
    let mut headers = Vec::new();
    for line in lines.by_ref() {
        consumed += line.len() + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let text = String::from_utf8_lossy(line);
        let Some((name, value)) = text.split_once(':') else {
            continue;
        };
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) || value.contains(['\r', '\0']) {
            continue;
        }
        headers.push((name.to_owned(), value.trim_matches([' ', '\t']).to_owned()));
    }
    let body = data.get(consumed..).unwrap_or_default().to_vec();
    Request {
        method,
        path,
        query: query.to_owned(),
        headers,
        body,
        peer: peer(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_requests_carry_their_parts() {
        let r = text_request(b"GET /snapshots/snap-1/blocks?maxResults=5\nA: 1\r\nB:2 \n\nbody");
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("GET", "/snapshots/snap-1/blocks")
        );
        assert_eq!(r.query, "maxResults=5");
        assert_eq!(
            r.headers,
            [("A".into(), "1".into()), ("B".into(), "2".into())]
        );
        assert_eq!(r.body, b"body");
        sigv4(b"GET /snapshots/snap-1/blocks?maxResults=5\nA: 1\r\nB:2 \n\nbody");
        api_request(b"POST /\nContent-Type: application/x-www-form-urlencoded\n\nAction=DescribeImages&Version=2016-11-15");
        query_form(b"Action=DescribeImages&ImageId.1=ami-0123456789abcdef0");
        http_request(
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n",
        );
    }
}
