//! A small builder for request objects: AWS field names, optional fields left out when absent.

use serde_json::{Map, Value};

/// A request being built.
#[derive(Debug, Default)]
pub struct Req(Map<String, Value>);

impl Req {
    pub fn new() -> Req {
        Req::default()
    }

    /// Sets `key` to `value`.
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Req {
        self.0.insert(key.to_owned(), value.into());
        self
    }

    /// Sets `key` when `value` is present.
    pub fn opt<T: Into<Value>>(self, key: &str, value: Option<T>) -> Req {
        match value {
            Some(v) => self.set(key, v),
            None => self,
        }
    }

    pub fn build(self) -> Value {
        Value::Object(self.0)
    }
}
