//! `--query`: a JMESPath expression applied to a command's result before it is formatted, as the
//! AWS CLI does (after automatic pagination has joined the pages). The `jmespath` crate is the
//! JMESPath project's own Rust implementation, passing the same compliance suite as the Python
//! library the AWS CLI uses.
//!
//! Pure: a value in, a value out.

use serde_json::Value;

/// Checks `expr` as a clap value parser, so a bad expression is a usage error (exit 252) that
/// names the flag and shows where the expression went wrong.
///
/// # Errors
/// The parser's message, with a caret under the offending character.
pub fn parse(expr: &str) -> Result<String, String> {
    jmespath::compile(expr)
        .map(|_| expr.to_owned())
        .map_err(|e| format!("Bad value for --query {expr}: {e}"))
}

/// Applies `expr` (checked by [`parse`]) to `value`. A result with no match is JSON `null`.
///
/// # Errors
/// A run-time error of the expression, e.g. a function given an argument of the wrong type
/// (`length(`5`)`): the AWS CLI reports those after the call, as a failure of the command.
pub fn apply(expr: &str, value: &Value) -> Result<Value, String> {
    let compiled = jmespath::compile(expr).map_err(|e| e.to_string())?;
    let found = compiled.search(value).map_err(|e| e.to_string())?;
    serde_json::to_value(&*found).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn images() -> Value {
        json!({"Images": [
            {"ImageId": "ami-1", "Name": "web", "BlockDeviceMappings": [
                {"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": true}}]},
            {"ImageId": "ami-2", "Name": "db", "BlockDeviceMappings": []},
        ]})
    }

    #[test]
    fn projections_filters_and_functions() {
        let v = images();
        assert_eq!(
            apply("Images[].ImageId", &v).unwrap(),
            json!(["ami-1", "ami-2"])
        );
        assert_eq!(
            apply("Images[?Name=='db'].ImageId | [0]", &v).unwrap(),
            json!("ami-2")
        );
        assert_eq!(apply("length(Images)", &v).unwrap(), json!(2));
        assert_eq!(
            apply("Images[].BlockDeviceMappings[].Ebs.Encrypted", &v).unwrap(),
            json!([true])
        );
        assert_eq!(
            apply("Images[0].{Id: ImageId, N: Name}", &v).unwrap(),
            json!({"Id": "ami-1", "N": "web"})
        );
        assert_eq!(apply("Nothing", &v).unwrap(), Value::Null);
    }

    #[test]
    fn a_bad_expression_is_refused_with_its_position() {
        let e = parse("Images[?Name=='db'").unwrap_err();
        assert!(
            e.starts_with("Bad value for --query Images[?Name=='db'"),
            "{e}"
        );
        assert!(parse("Images[].ImageId").is_ok());
        let e = apply("length(`5`)", &images()).unwrap_err();
        assert!(e.contains("length"), "{e}");
    }
}
