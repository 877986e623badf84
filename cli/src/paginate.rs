//! The AWS CLI's automatic pagination: the paginated operations (botocore's
//! `paginators-1.json` for ec2 2016-11-15, kms 2014-11-01 and iam 2010-05-08), `--page-size`,
//! `--max-items` and `--starting-token`, with botocore's resume token (`botocore/paginate.py`:
//! base64 of `{"NextToken": …, "boto_truncate_amount": N}`), so a token from `aws` resumes in
//! blockseal and the other way round.
//!
//! Pure apart from the `call` it is given: no engine, no output.

use serde_json::{Map, Value};

/// How one operation pages, as botocore's paginator model says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paginator {
    /// The request member that carries the previous page's token.
    pub input_token: &'static str,
    /// The response member with the next page's token.
    pub output_token: &'static str,
    /// The request member that sets the page size (`--page-size`).
    pub limit_key: &'static str,
    /// The list the pages are joined on.
    pub result_key: &'static str,
    /// A response member that is false on the last page (KMS's `Truncated`).
    pub more_results: Option<&'static str>,
}

/// EC2's Describe calls: `MaxResults` and `NextToken`.
const fn ec2_pages(result_key: &'static str) -> Paginator {
    Paginator {
        input_token: "NextToken",
        output_token: "NextToken",
        limit_key: "MaxResults",
        result_key,
        more_results: None,
    }
}

/// KMS's List calls: `Limit`, `Marker`, `NextMarker` and `Truncated`.
const fn kms_pages(result_key: &'static str) -> Paginator {
    Paginator {
        input_token: "Marker",
        output_token: "NextMarker",
        limit_key: "Limit",
        result_key,
        more_results: Some("Truncated"),
    }
}

/// IAM's List calls: `MaxItems`, `Marker` (in the request and the answer) and `IsTruncated`.
const fn iam_pages(result_key: &'static str) -> Paginator {
    Paginator {
        input_token: "Marker",
        output_token: "Marker",
        limit_key: "MaxItems",
        result_key,
        more_results: Some("IsTruncated"),
    }
}

/// The paginator of operation `op`, if the AWS model pages it.
pub fn paginator(op: &str) -> Option<Paginator> {
    Some(match op {
        "DescribeImages" => ec2_pages("Images"),
        "DescribeSnapshots" => ec2_pages("Snapshots"),
        "DescribeVolumes" => ec2_pages("Volumes"),
        "DescribeInstances" => ec2_pages("Reservations"),
        "DescribeImportSnapshotTasks" => ec2_pages("ImportSnapshotTasks"),
        "ListKeys" => kms_pages("Keys"),
        "ListAliases" => kms_pages("Aliases"),
        "ListGrants" => kms_pages("Grants"),
        "DescribeTags" => ec2_pages("Tags"),
        "ListResourceTags" => kms_pages("Tags"),
        "ListRetirableGrants" => kms_pages("Grants"),
        "ListKeyRotations" => kms_pages("Rotations"),
        "ListUsers" => iam_pages("Users"),
        "ListUserPolicies" => iam_pages("PolicyNames"),
        _ => return None,
    })
}

/// The pagination flags of one command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Paging {
    /// `--page-size`: the limit sent with each call.
    pub page_size: Option<u64>,
    /// `--max-items`: the most items printed; the rest is left for `--starting-token`.
    pub max_items: Option<u64>,
    /// `--starting-token`: a resume token printed by an earlier `--max-items` run.
    pub starting_token: Option<String>,
}

/// What a paginated command got: the pages as they came (the first one cut where a starting
/// token said, the last one cut at `--max-items`) and the token to resume after them.
#[derive(Debug, Default, PartialEq)]
pub struct Pages {
    pub pages: Vec<Value>,
    pub resume: Option<String>,
}

impl Pages {
    /// The pages joined into one result, as `aws` prints it (json, table): the result list of
    /// every page, then `NextToken` when there is more.
    pub fn full_result(&self, p: &Paginator) -> Value {
        let mut full = Map::new();
        for page in &self.pages {
            if let Some(items) = page.get(p.result_key).and_then(Value::as_array) {
                match full.get_mut(p.result_key).and_then(Value::as_array_mut) {
                    Some(all) => all.extend(items.iter().cloned()),
                    None => {
                        full.insert(p.result_key.to_owned(), Value::Array(items.clone()));
                    }
                }
            }
        }
        if let Some(t) = &self.resume {
            full.insert("NextToken".to_owned(), Value::String(t.clone()));
        }
        Value::Object(full)
    }

    /// The pages one by one, as `aws --output text` prints them (each page formatted on its
    /// own), and the resume token as its last `{"NextToken": {"NextToken": …}}` page.
    pub fn text_pages(&self, p: &Paginator) -> Vec<Value> {
        let mut out: Vec<Value> = self
            .pages
            .iter()
            .map(|page| {
                let mut m = Map::new();
                m.insert(
                    p.result_key.to_owned(),
                    page.get(p.result_key).cloned().unwrap_or(Value::Null),
                );
                Value::Object(m)
            })
            .collect();
        if let Some(t) = &self.resume {
            out.push(serde_json::json!({"NextToken": {"NextToken": t}}));
        }
        out
    }
}

/// Why paging stopped short.
#[derive(Debug)]
pub enum Error<E> {
    /// `--starting-token` is not a token botocore or blockseal made.
    BadStartingToken(String),
    /// The service handed out the same token twice (it would loop forever).
    SameTokenTwice(String),
    /// A call failed.
    Call(E),
}

/// A resume token: the service's token (or none, for the first page) and how many items of
/// that page were already printed.
#[derive(Debug, Clone, PartialEq)]
struct Token {
    service: Option<String>,
    truncate: Option<u64>,
}

/// botocore's encoding: `json.dumps` (", " and ": " separators, keys in insertion order) of
/// `{input_token: …, "boto_truncate_amount": N}`, base64.
fn encode(p: &Paginator, t: &Token) -> String {
    let service = match &t.service {
        Some(s) => Value::String(s.clone()).to_string(),
        None => "null".to_owned(),
    };
    let json = match t.truncate {
        Some(n) => format!(
            "{{\"{}\": {service}, \"boto_truncate_amount\": {n}}}",
            p.input_token
        ),
        None => format!("{{\"{}\": {service}}}", p.input_token),
    };
    blockseal_engine::base64::encode(json.as_bytes())
}

fn decode(p: &Paginator, token: &str) -> Option<Token> {
    let bytes = blockseal_engine::base64::decode(token).ok()?;
    let Value::Object(mut m) = serde_json::from_slice::<Value>(&bytes).ok()? else {
        return None;
    };
    let truncate = match m.remove("boto_truncate_amount") {
        None => None,
        Some(n) => Some(n.as_u64()?),
    };
    let service = match m.remove(p.input_token)? {
        Value::Null => None,
        Value::String(s) if s.is_empty() || s == "None" => None,
        Value::String(s) => Some(s),
        _ => return None,
    };
    m.is_empty().then_some(Token { service, truncate })
}

/// Pages through operation `p` with `request`, calling `call` for each page, as botocore's
/// `PageIterator` does: `--page-size` is sent as the limit, pages are followed until the
/// service has no more or `--max-items` items were seen, and a page cut short by
/// `--max-items` yields a token that says how far into that page to resume.
///
/// # Errors
/// A bad `--starting-token`, a repeated token, or the first failed call.
pub fn run<E>(
    p: &Paginator,
    request: &Value,
    paging: &Paging,
    mut call: impl FnMut(Value) -> Result<Value, E>,
) -> Result<Pages, Error<E>> {
    let start = match &paging.starting_token {
        Some(t) => Some(decode(p, t).ok_or_else(|| Error::BadStartingToken(t.clone()))?),
        None => None,
    };
    let mut req = request.clone();
    let mut next = start.as_ref().and_then(|t| t.service.clone());
    let set_token = |req: &mut Value, token: &Option<String>| {
        if let Some(m) = req.as_object_mut() {
            match token {
                Some(t) => m.insert(p.input_token.to_owned(), Value::String(t.clone())),
                None => m.remove(p.input_token),
            };
        }
    };
    set_token(&mut req, &next);
    if let (Some(n), Some(m)) = (paging.page_size, req.as_object_mut()) {
        m.insert(p.limit_key.to_owned(), Value::from(n));
    }
    let mut out = Pages::default();
    let mut seen: u64 = 0;
    let mut skip = start.as_ref().and_then(|t| t.truncate).unwrap_or(0);
    loop {
        let mut page = call(req.clone()).map_err(Error::Call)?;
        let items = page
            .get_mut(p.result_key)
            .and_then(Value::as_array_mut)
            .map(|items| {
                // The first page after a starting token drops what was already printed.
                let cut = usize::try_from(skip).unwrap_or(usize::MAX).min(items.len());
                items.drain(..cut);
                items.len() as u64
            })
            .unwrap_or(0);
        if let Some(max) = paging.max_items {
            if seen + items > max {
                let keep = max - seen;
                if let Some(list) = page.get_mut(p.result_key).and_then(Value::as_array_mut) {
                    list.truncate(keep as usize);
                }
                out.resume = Some(encode(
                    p,
                    &Token {
                        service: next.clone(),
                        truncate: Some(keep + skip),
                    },
                ));
                out.pages.push(page);
                return Ok(out);
            }
        }
        skip = 0;
        seen += items;
        let more = p
            .more_results
            .is_none_or(|k| page.get(k).and_then(Value::as_bool).unwrap_or(false));
        let token = match page.get(p.output_token) {
            Some(Value::String(s)) if more && !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        out.pages.push(page);
        let Some(token) = token else {
            return Ok(out);
        };
        if paging.max_items == Some(seen) {
            out.resume = Some(encode(
                p,
                &Token {
                    service: Some(token),
                    truncate: None,
                },
            ));
            return Ok(out);
        }
        if next.as_ref() == Some(&token) {
            return Err(Error::SameTokenTwice(token));
        }
        next = Some(token);
        set_token(&mut req, &next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const VOLS: Paginator = Paginator {
        input_token: "NextToken",
        output_token: "NextToken",
        limit_key: "MaxResults",
        result_key: "Volumes",
        more_results: None,
    };

    /// A service with `n` volumes `v0..`, pages of `MaxResults` (all when absent) after the
    /// index its token names; records the requests it got.
    fn service(n: usize, log: &mut Vec<Value>) -> impl FnMut(Value) -> Result<Value, String> + '_ {
        move |req: Value| {
            log.push(req.clone());
            let from: usize = req
                .get("NextToken")
                .and_then(Value::as_str)
                .map_or(0, |t| t.parse().unwrap());
            let size = req
                .get("MaxResults")
                .and_then(Value::as_u64)
                .map_or(n, |m| m as usize);
            let to = (from + size).min(n);
            let vols: Vec<Value> = (from..to)
                .map(|i| json!({"VolumeId": format!("v{i}")}))
                .collect();
            let mut page = json!({ "Volumes": vols });
            if to < n {
                page["NextToken"] = json!(to.to_string());
            }
            Ok(page)
        }
    }

    fn ids(v: &Value) -> Vec<String> {
        v["Volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["VolumeId"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn page_size_follows_every_token_and_joins_the_pages() {
        let mut log = Vec::new();
        let paging = Paging {
            page_size: Some(5),
            ..Paging::default()
        };
        let pages = run(
            &VOLS,
            &json!({"Filters": []}),
            &paging,
            service(12, &mut log),
        )
        .unwrap();
        assert_eq!(pages.pages.len(), 3);
        assert_eq!(pages.resume, None);
        let full = pages.full_result(&VOLS);
        assert_eq!(ids(&full).len(), 12);
        assert!(full.get("NextToken").is_none());
        assert_eq!(log[0], json!({"Filters": [], "MaxResults": 5}));
        assert_eq!(
            log[2],
            json!({"Filters": [], "MaxResults": 5, "NextToken": "10"})
        );
    }

    #[test]
    fn max_items_cuts_a_page_and_the_token_resumes_inside_it() {
        let mut log = Vec::new();
        let paging = Paging {
            page_size: Some(5),
            max_items: Some(7),
            ..Paging::default()
        };
        let pages = run(&VOLS, &json!({}), &paging, service(12, &mut log)).unwrap();
        let full = pages.full_result(&VOLS);
        assert_eq!(ids(&full), ["v0", "v1", "v2", "v3", "v4", "v5", "v6"]);
        // botocore's token: the token of the page that was cut, and how far into it we got.
        let token = full["NextToken"].as_str().unwrap();
        let json = blockseal_engine::base64::decode(token).unwrap();
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"{"NextToken": "5", "boto_truncate_amount": 2}"#
        );
        let paging = Paging {
            page_size: Some(5),
            max_items: Some(4),
            starting_token: Some(token.to_owned()),
        };
        let mut log = Vec::new();
        let pages = run(&VOLS, &json!({}), &paging, service(12, &mut log)).unwrap();
        assert_eq!(ids(&pages.full_result(&VOLS)), ["v7", "v8", "v9", "v10"]);
        let token = pages.resume.unwrap();
        let json = blockseal_engine::base64::decode(&token).unwrap();
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"{"NextToken": "10", "boto_truncate_amount": 1}"#
        );
    }

    #[test]
    fn max_items_on_a_page_boundary_and_on_the_first_page() {
        let mut log = Vec::new();
        let paging = Paging {
            page_size: Some(5),
            max_items: Some(5),
            ..Paging::default()
        };
        let pages = run(&VOLS, &json!({}), &paging, service(12, &mut log)).unwrap();
        let token = pages.resume.unwrap();
        assert_eq!(
            blockseal_engine::base64::decode(&token).unwrap(),
            br#"{"NextToken": "5"}"#
        );
        // One page of everything, cut at 3: the token has no service token yet.
        let paging = Paging {
            max_items: Some(3),
            ..Paging::default()
        };
        let pages = run(&VOLS, &json!({}), &paging, service(12, &mut log)).unwrap();
        assert_eq!(
            blockseal_engine::base64::decode(pages.resume.as_deref().unwrap()).unwrap(),
            br#"{"NextToken": null, "boto_truncate_amount": 3}"#
        );
        assert_eq!(
            pages.text_pages(&VOLS).last().unwrap()["NextToken"]["NextToken"],
            json!(pages.resume.unwrap())
        );
    }

    #[test]
    fn bad_tokens_and_loops_are_errors() {
        let mut log = Vec::new();
        let paging = Paging {
            starting_token: Some("not a token".into()),
            ..Paging::default()
        };
        assert!(matches!(
            run(&VOLS, &json!({}), &paging, service(3, &mut log)),
            Err(Error::BadStartingToken(_))
        ));
        assert!(log.is_empty());
        let stuck = |_req: Value| Ok::<_, String>(json!({"Volumes": [], "NextToken": "same"}));
        assert!(matches!(
            run(&VOLS, &json!({}), &Paging::default(), stuck),
            Err(Error::SameTokenTwice(_))
        ));
    }

    #[test]
    fn kms_pages_stop_when_not_truncated() {
        let keys = paginator("ListKeys").unwrap();
        let mut calls = 0;
        let call = |req: Value| {
            calls += 1;
            Ok::<_, String>(match req.get("Marker") {
                None => json!({"Keys": [{"KeyId": "a"}], "NextMarker": "m1", "Truncated": true}),
                Some(_) => {
                    json!({"Keys": [{"KeyId": "b"}], "NextMarker": "m2", "Truncated": false})
                }
            })
        };
        let pages = run(&keys, &json!({}), &Paging::default(), call).unwrap();
        assert_eq!(calls, 2);
        assert_eq!(
            pages.full_result(&keys),
            json!({"Keys": [{"KeyId": "a"}, {"KeyId": "b"}]})
        );
        assert!(paginator("DescribeKey").is_none());
    }

    #[test]
    fn iam_pages_follow_the_marker_until_not_truncated() {
        let users = paginator("ListUsers").unwrap();
        let mut log = Vec::new();
        let call = |req: Value| {
            log.push(req.clone());
            Ok::<_, String>(match req.get("Marker") {
                None => json!({"Users": [{"UserName": "a"}], "IsTruncated": true, "Marker": "a"}),
                Some(_) => json!({"Users": [{"UserName": "b"}], "IsTruncated": false}),
            })
        };
        let paging = Paging {
            page_size: Some(1),
            ..Paging::default()
        };
        let pages = run(&users, &json!({}), &paging, call).unwrap();
        assert_eq!(
            pages.full_result(&users),
            json!({"Users": [{"UserName": "a"}, {"UserName": "b"}]})
        );
        assert_eq!(
            log,
            [
                json!({"MaxItems": 1}),
                json!({"MaxItems": 1, "Marker": "a"})
            ]
        );
        assert_eq!(
            paginator("ListUserPolicies").map(|p| p.result_key),
            Some("PolicyNames")
        );
    }
}
