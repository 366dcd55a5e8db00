//! Provisioning webhook (SPEC "Provisioning webhook"): the event body, its Standard Webhooks
//! signature, the request that carries it, how a response is judged, and when to retry.
//! The edge sends, sleeps and queues; every decision about those is made here, from values.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::core::http::{FetchFailure, InboundResponse, Method, OutboundRequest};
use crate::core::secret::WebhookSecret;

#[cfg(test)]
mod tests;

/// Time the in-request attempts may take in all, before the delivery goes on the queue.
pub const IN_REQUEST_BUDGET_MS: u64 = 8_000;
/// Least time worth giving one attempt; a retry that would get less is not started.
pub const MIN_ATTEMPT_MS: u64 = 1_000;
/// Most time one in-request attempt gets, so one hung receiver leaves room for a retry.
pub const MAX_ATTEMPT_MS: u64 = 4_000;
/// The queue keeps retrying until this long after the first attempt (SPEC: at least 24 h).
pub const QUEUE_RETRY_WINDOW_SECS: u64 = 25 * 3_600;
/// Longest delay Cloudflare Queues accept for a retry or a delayed send.
pub const QUEUE_MAX_DELAY_SECS: u64 = 12 * 3_600;

const IN_REQUEST_FIRST_DELAY_MS: u64 = 250;
const IN_REQUEST_MAX_DELAY_MS: u64 = 2_000;
const QUEUE_FIRST_DELAY_SECS: u64 = 30;
const QUEUE_MAX_BACKOFF_SECS: u64 = 3_600;
/// Standard Webhooks asks for signing keys of 24 to 64 bytes.
const SECRET_KEY_BYTES: std::ops::RangeInclusive<usize> = 24..=64;
const SECRET_PREFIX: &str = "whsec_";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("no webhook secret to sign with")]
    NoSecret,
    #[error("webhook secret does not start with `whsec_`")]
    SecretPrefix,
    #[error("webhook secret is not standard base64 after `whsec_`")]
    SecretEncoding,
    #[error("webhook secret decodes to {0} bytes; 24 to 64 are required")]
    SecretLength(usize),
}

/// What the receiver needs to find or create the member's contact.
/// `name`, `given_name`, `family_name` and `idp` are `None` when neither the ID token nor
/// userinfo said; the body then carries JSON `null` for them (never an empty string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionEvent {
    pub tenant: String,
    pub issuer: String,
    pub sub: String,
    pub email: String,
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub idp: Option<String>,
    /// The member's groups, only when the tenant sets `groups_claim`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

/// A delivery that did not succeed inside the request, as it travels on the queue.
/// Secrets are not carried: the consumer signs with the tenant's secrets of the moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisioningDelivery {
    pub event: ProvisionEvent,
    pub webhook_id: String,
    pub url: String,
    /// Epoch seconds of the very first (in-request) attempt; also the body's `timestamp`.
    pub first_attempt_at: u64,
    /// Queue attempts already made (0 when first enqueued after the in-request attempts).
    pub attempt: u32,
}

impl ProvisioningDelivery {
    pub fn new(event: ProvisionEvent, url: impl Into<String>, first_attempt_at: u64) -> Self {
        let webhook_id = webhook_id(&event.tenant, &event.issuer, &event.sub);
        Self {
            event,
            webhook_id,
            url: url.into(),
            first_attempt_at,
            attempt: 0,
        }
    }
}

/// The member's stable delivery id: same (tenant, issuer, sub), same id, so every retry and
/// every later sign-in is recognisably the same message to an idempotent receiver.
/// Each part is length-prefixed, so no two different triples hash the same input.
pub fn webhook_id(tenant: &str, issuer: &str, sub: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"portal-sso webhook-id v1");
    for part in [tenant, issuer, sub] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    format!("msg_{}", URL_SAFE_NO_PAD.encode(&digest[..18]))
}

/// Creates a tenant's signing secret from 32 random bytes (the edge supplies them).
pub fn webhook_secret_from_random(bytes: &[u8; 32]) -> WebhookSecret {
    WebhookSecret::new(format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes)))
}

#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: String,
    data: EnvelopeData<'a>,
}

// Field order is the SPEC's; serde keeps declaration order.
#[derive(Serialize)]
struct EnvelopeData<'a> {
    tenant: &'a str,
    issuer: &'a str,
    sub: &'a str,
    email: &'a str,
    email_verified: bool,
    name: Option<&'a str>,
    given_name: Option<&'a str>,
    family_name: Option<&'a str>,
    idp: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    groups: Option<&'a [String]>,
    locations: &'static str,
}

/// The JSON body. Pass the delivery's `first_attempt_at` as `occurred_at` so that every
/// attempt carries the same body (only the signature headers change between attempts).
pub fn event_body(event: &ProvisionEvent, occurred_at: u64) -> String {
    let envelope = Envelope {
        kind: "contact.provision",
        timestamp: rfc3339(occurred_at),
        data: EnvelopeData {
            tenant: &event.tenant,
            issuer: &event.issuer,
            sub: &event.sub,
            email: &event.email,
            email_verified: event.email_verified,
            name: event.name.as_deref(),
            given_name: event.given_name.as_deref(),
            family_name: event.family_name.as_deref(),
            idp: event.idp.as_deref(),
            groups: event.groups.as_deref(),
            locations: "all",
        },
    };
    // Structs of strings, bools and options have no failing case in serde_json (errors
    // come only from non-string map keys or custom impls), whatever their content.
    serde_json::to_string(&envelope).unwrap_or_default()
}

/// `YYYY-MM-DDTHH:MM:SSZ` for epoch seconds (UTC, proleptic Gregorian).
pub fn rfc3339(epoch_secs: u64) -> String {
    let (days, rem) = (epoch_secs / 86_400, epoch_secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (rem / 3_600, rem % 3_600 / 60, rem % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

/// Howard Hinnant's `civil_from_days`, for days on or after 1970-01-01 (so unsigned).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z / 146_097;
    let doe = z % 146_097; // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1st
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

fn signing_key(secret: &WebhookSecret) -> Result<Vec<u8>, WebhookError> {
    let encoded = secret
        .secret()
        .strip_prefix(SECRET_PREFIX)
        .ok_or(WebhookError::SecretPrefix)?;
    let key = STANDARD
        .decode(encoded)
        .map_err(|_| WebhookError::SecretEncoding)?;
    if !SECRET_KEY_BYTES.contains(&key.len()) {
        return Err(WebhookError::SecretLength(key.len()));
    }
    Ok(key)
}

/// `webhook-signature` value: one `v1,<base64 HMAC-SHA256("{id}.{timestamp}.{body}")>` per
/// secret, space-separated, so that during a rotation receivers holding either secret verify.
pub fn signature_header(
    secrets: &[&WebhookSecret],
    id: &str,
    timestamp: u64,
    body: &str,
) -> Result<String, WebhookError> {
    if secrets.is_empty() {
        return Err(WebhookError::NoSecret);
    }
    let mut signatures = Vec::with_capacity(secrets.len());
    for secret in secrets {
        let key = signing_key(secret)?;
        let prefix = format!("{id}.{timestamp}.");
        let mac = crate::core::crypto::hmac_sha256(&key, &[prefix.as_bytes(), body.as_bytes()]);
        signatures.push(format!("v1,{}", STANDARD.encode(mac)));
    }
    Ok(signatures.join(" "))
}

/// One signed attempt. Sign afresh for every attempt: `now` is the attempt's own time.
pub fn delivery_request(
    url: &str,
    secrets: &[&WebhookSecret],
    id: &str,
    now: u64,
    body: &str,
    timeout_ms: u32,
) -> Result<OutboundRequest, WebhookError> {
    let signature = signature_header(secrets, id, now, body)?;
    Ok(OutboundRequest {
        method: Method::Post,
        url: url.to_owned(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("webhook-id".into(), id.to_owned()),
            ("webhook-timestamp".into(), now.to_string()),
            ("webhook-signature".into(), signature),
        ],
        body: Some(body.as_bytes().to_vec()),
        timeout_ms,
    })
}

/// What an attempt's result means for the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// 2xx. `created`: the receiver made the contact just now (201 or `{"created":true}`).
    Delivered { created: bool },
    /// Worth trying again, after at least `retry_after_secs` when the receiver said so.
    Retry { retry_after_secs: Option<u64> },
    /// The receiver refused the member for good (a 4xx other than 429).
    Rejected { status: u16 },
}

/// Judges one attempt.
///
/// - 2xx: delivered.
/// - 429 and 5xx: retry, honouring `Retry-After` (RFC 9110 §10.2.3) in seconds, or as an
///   HTTP-date measured against the response's own `Date` (so the receiver's clock and ours
///   need not agree; without a `Date`, or with a date in the past, the backoff applies).
/// - 3xx: retry. Redirects are never followed (SSRF), yet a redirect is not the receiver
///   refusing the member either; it is mostly a transient or fixable setup problem, and
///   retrying keeps the delivery alive until the queue's window ends and the edge logs it.
/// - Other 4xx: rejected, final (SPEC). 1xx or out-of-range codes, time-outs and
///   unreachable receivers: retry.
pub fn classify(result: Result<&InboundResponse, FetchFailure>) -> DeliveryOutcome {
    let response = match result {
        Ok(response) => response,
        // No answer at all (time-out, unreachable): nothing says the receiver refused.
        Err(_) => {
            return DeliveryOutcome::Retry {
                retry_after_secs: None,
            }
        }
    };
    match response.status {
        200..=299 => DeliveryOutcome::Delivered {
            created: reports_created(response),
        },
        429 | 500..=599 => DeliveryOutcome::Retry {
            retry_after_secs: response
                .header("retry-after")
                .and_then(|v| retry_after_secs(v, response.header("date"))),
        },
        status @ 400..=499 => DeliveryOutcome::Rejected { status },
        _ => DeliveryOutcome::Retry {
            retry_after_secs: None,
        },
    }
}

fn reports_created(response: &InboundResponse) -> bool {
    if response.status == 201 {
        return true;
    }
    serde_json::from_slice::<serde_json::Value>(&response.body)
        .ok()
        .and_then(|body| body.get("created").and_then(serde_json::Value::as_bool))
        .unwrap_or(false)
}

/// `Retry-After` as seconds to wait (RFC 9110 §10.2.3): delay-seconds, or an HTTP-date less
/// the response's `Date`; `None` for garbage, or a date with no `Date` to measure it from.
fn retry_after_secs(value: &str, date: Option<&str>) -> Option<u64> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        // All digits yet too large for u64: treat as "very long", which the policies clamp.
        return Some(value.parse().unwrap_or(u64::MAX));
    }
    let (at, now) = (http_date(value)?, http_date(date?)?);
    Some(at.saturating_sub(now))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// An IMF-fixdate (RFC 9110 §5.6.7, `Sun, 06 Nov 1994 08:49:37 GMT`) as seconds since the
/// epoch; `None` for anything else, the obsolete RFC 850 and asctime forms included.
fn http_date(value: &str) -> Option<u64> {
    let (_weekday, rest) = value.trim().split_once(", ")?;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let number = |s: &str, len: usize| {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    let (day, year) = (number(day, 2)?, number(year, 4)?);
    let month = MONTHS.iter().position(|m| m == month)? as u64 + 1;
    let hms: Vec<&str> = time.split(':').collect();
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    let (h, m, s) = (number(h, 2)?, number(m, 2)?, number(s, 2)?);
    if !(1..=31).contains(&day) || year < 1970 || h > 23 || m > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3_600 + m * 60 + s)
}

/// Howard Hinnant's `days_from_civil`, the inverse of [`civil_from_days`], for dates on or
/// after 1970-01-01.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400; // [0, 399]
    let mp = (month + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + day - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    (era * 146_097 + doe).saturating_sub(719_468)
}

/// Delay before in-request attempt `attempt + 1`, after `attempt` failed ones (≥ 1), or
/// `None` when that attempt would not fit in `budget_ms` ([`IN_REQUEST_BUDGET_MS`]).
///
/// Backoff is 250, 500, 1000, 2000, 2000… ms; a `Retry-After` longer than that is honoured
/// only if it still leaves [`MIN_ATTEMPT_MS`] for the attempt, else the queue takes over.
/// The attempt itself then runs with [`attempt_timeout_ms`] as its time limit.
pub fn next_in_request_delay_ms(
    attempt: u32,
    retry_after_secs: Option<u64>,
    elapsed_ms: u64,
    budget_ms: u64,
) -> Option<u64> {
    let shift = attempt.saturating_sub(1).min(16);
    let backoff = (IN_REQUEST_FIRST_DELAY_MS << shift).min(IN_REQUEST_MAX_DELAY_MS);
    let asked = retry_after_secs.map_or(0, |secs| secs.saturating_mul(1_000));
    let delay = backoff.max(asked);
    let attempt_starts = elapsed_ms.saturating_add(delay);
    (attempt_starts.saturating_add(MIN_ATTEMPT_MS) <= budget_ms).then_some(delay)
}

/// Time limit for an in-request attempt starting `elapsed_ms` into the budget: what is
/// left of it, at most [`MAX_ATTEMPT_MS`]; `None` when less than [`MIN_ATTEMPT_MS`] is left.
pub fn attempt_timeout_ms(elapsed_ms: u64, budget_ms: u64) -> Option<u32> {
    let left = budget_ms.saturating_sub(elapsed_ms);
    if left < MIN_ATTEMPT_MS {
        return None;
    }
    u32::try_from(left.min(MAX_ATTEMPT_MS)).ok()
}

/// SPEC: a delivery that fails inside the request "goes on the queue (first retry within
/// 60 s …)". The receiver's last `Retry-After` is honoured inside that bound: 30 s, or what
/// it asked for, at most 60 s.
pub const QUEUE_FIRST_RETRY_BOUND_SECS: u64 = 60;

/// Delay of the queue's first attempt, after the in-request attempts failed.
pub fn first_queue_delay_secs(retry_after_secs: Option<u64>) -> u64 {
    retry_after_secs
        .unwrap_or(0)
        .clamp(QUEUE_FIRST_DELAY_SECS, QUEUE_FIRST_RETRY_BOUND_SECS)
}

/// Delay before the next queue attempt, after `attempt` queue attempts already failed
/// (0 when the delivery is first enqueued), or `None` once the retry window
/// ([`QUEUE_RETRY_WINDOW_SECS`] after `first_attempt_at`) is over: the edge then gives up
/// and logs it loudly.
///
/// Delays run 30 s, 60 s, 2 min … doubling up to 1 h, then hourly: about 33 attempts over
/// the window. A longer `Retry-After` is honoured up to the Queues maximum of 12 h.
pub fn next_queue_delay_secs(
    attempt: u32,
    first_attempt_at: u64,
    now: u64,
    retry_after_secs: Option<u64>,
) -> Option<u64> {
    if now.saturating_sub(first_attempt_at) >= QUEUE_RETRY_WINDOW_SECS {
        return None;
    }
    let backoff = (QUEUE_FIRST_DELAY_SECS << attempt.min(16)).min(QUEUE_MAX_BACKOFF_SECS);
    let delay = backoff.max(retry_after_secs.unwrap_or(0));
    Some(delay.min(QUEUE_MAX_DELAY_SECS))
}
