//! Reading a config body field by field: each reader takes its field out of the map, so
//! whatever is left at the end is unknown; every error is collected with its JSON path.

use serde_json::{Map, Value};

use super::{rules, ConfigContext, FieldError, MAX_CUSTOM_DOMAINS, READ_ONLY_FIELDS};

/// Takes fields out of the body one by one, so whatever is left at the end is unknown.
pub(super) struct Reader {
    pub(super) map: Map<String, Value>,
    pub(super) errors: Vec<FieldError>,
}

impl Reader {
    pub(super) fn new(map: Map<String, Value>) -> Self {
        Self {
            map,
            errors: Vec::new(),
        }
    }

    pub(super) fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    pub(super) fn is_given(&self, field: &str) -> bool {
        self.map.get(field).is_some_and(|v| !v.is_null())
    }

    /// The value, with `null` read as absent.
    pub(super) fn take(&mut self, field: &str) -> Option<Value> {
        self.map.remove(field).filter(|v| !v.is_null())
    }

    pub(super) fn boolean(&mut self, field: &str, default: bool) -> bool {
        match self.take(field) {
            None => default,
            Some(Value::Bool(b)) => b,
            Some(_) => {
                self.fail(field, "must be a boolean");
                default
            }
        }
    }

    pub(super) fn optional<T>(
        &mut self,
        field: &str,
        rule: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match self.take(field)? {
            Value::String(s) => rule(&s).map_err(|message| self.fail(field, message)).ok(),
            _ => {
                self.fail(field, "must be a string");
                None
            }
        }
    }

    pub(super) fn required<T>(
        &mut self,
        field: &str,
        rule: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        if !self.is_given(field) {
            self.map.remove(field);
            self.fail(field, "is required");
            return None;
        }
        self.optional(field, rule)
    }

    /// SPEC: required when `provision_new_users` is true.
    pub(super) fn webhook_url(&mut self, required: bool, local_dev: bool) -> Option<String> {
        const FIELD: &str = "provisioning_webhook_url";
        if required && !self.is_given(FIELD) {
            self.fail(FIELD, "is required when provision_new_users is true");
        }
        self.optional(FIELD, |s| rules::https_url(s, local_dev))
    }

    pub(super) fn custom_domains(&mut self, ctx: &ConfigContext<'_>) -> Vec<String> {
        self.list(
            "custom_domains",
            "host names",
            MAX_CUSTOM_DOMAINS,
            &mut |s| rules::custom_domain(s, ctx.base_domain, ctx.local_dev),
        )
    }

    /// A list of strings, each through `rule` (errors at `field[i]`), duplicates dropped in
    /// order, at most `max` entries; absent or `null` is the empty list.
    ///
    /// One copy for every list field, and `rule` behind a pointer: the stored config is parsed
    /// again on an isolate's first sign-in, and V8 compiles a wasm function whole when it is
    /// first called — the rules of lists a tenant leaves empty are then never compiled.
    #[inline(never)]
    pub(super) fn list(
        &mut self,
        field: &str,
        what: &str,
        max: usize,
        rule: &mut dyn FnMut(&str) -> Result<String, String>,
    ) -> Vec<String> {
        let items = match self.take(field) {
            None => return Vec::new(),
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.fail(field, format!("must be a list of {what}"));
                return Vec::new();
            }
        };
        let mut out: Vec<String> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let parsed = match item {
                Value::String(s) => rule(s),
                _ => Err("must be a string".to_owned()),
            };
            match parsed {
                Ok(value) if !out.contains(&value) => out.push(value),
                Ok(_) => {}
                Err(message) => self.fail(&format!("{field}[{i}]"), message),
            }
        }
        if out.len() > max {
            self.fail(field, format!("must list at most {max} {what}"));
        }
        out
    }

    /// A whole number in `min..=max`; absent or `null` is `None`.
    pub(super) fn integer(&mut self, field: &str, min: u64, max: u64) -> Option<u64> {
        let value = self.take(field)?;
        match value.as_u64().filter(|n| (min..=max).contains(n)) {
            Some(n) => Some(n),
            None => {
                self.fail(field, format!("must be a whole number from {min} to {max}"));
                None
            }
        }
    }

    pub(super) fn refuse_unknown(&mut self) {
        let unknown: Vec<String> = std::mem::take(&mut self.map)
            .into_iter()
            .map(|(key, _)| key)
            .filter(|key| !READ_ONLY_FIELDS.contains(&key.as_str()))
            .collect();
        for key in unknown {
            self.fail(&key, "unknown field");
        }
    }
}
