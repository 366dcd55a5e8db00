//! The one structured log line per request. Only stable codes and non-secret facts go here.

use serde::Serialize;

#[derive(Debug, Serialize, Default)]
pub struct RequestLog {
    pub tenant: Option<String>,
    pub route: &'static str,
    pub method: String,
    pub status: u16,
    pub outcome: &'static str,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    /// A human-readable reason for operators (never secrets: error messages are written so).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl RequestLog {
    pub fn line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_has_required_fields() {
        let l = RequestLog {
            tenant: Some("acme".into()),
            route: "/login",
            method: "GET".into(),
            status: 200,
            outcome: "ok",
            duration_ms: 3,
            ..Default::default()
        };
        let v: serde_json::Value = serde_json::from_str(&l.line()).unwrap();
        for k in ["tenant", "route", "status", "outcome", "duration_ms"] {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert!(v.get("error").is_none());
    }
}
