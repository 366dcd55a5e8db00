use super::*;

fn event() -> ProvisionEvent {
    ProvisionEvent {
        tenant: "acme".into(),
        issuer: "https://acme.okta.com".into(),
        sub: "00u1abc".into(),
        email: "a@b.c".into(),
        email_verified: true,
        name: Some("Ada Lovelace".into()),
        given_name: Some("Ada".into()),
        family_name: Some("Lovelace".into()),
        idp: Some("0oa9".into()),
        groups: None,
    }
}

fn response(status: u16, headers: &[(&str, &str)], body: &str) -> InboundResponse {
    InboundResponse {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.as_bytes().to_vec(),
    }
}

// --- webhook id -------------------------------------------------------------------------

#[test]
fn webhook_id_is_stable_and_shaped() {
    let a = webhook_id("acme", "https://acme.okta.com", "00u1");
    assert_eq!(a, webhook_id("acme", "https://acme.okta.com", "00u1"));
    assert!(a.starts_with("msg_"));
    assert_eq!(a.len(), 4 + 24);
    assert!(a[4..]
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
}

#[test]
fn webhook_id_separates_its_parts() {
    let base = webhook_id("acme", "https://i", "sub");
    assert_ne!(base, webhook_id("acme", "https://i", "sub2"));
    assert_ne!(base, webhook_id("acme2", "https://i", "sub"));
    assert_ne!(base, webhook_id("acme", "https://j", "sub"));
    // Moving bytes across a boundary must change the id (length prefixes).
    assert_ne!(webhook_id("ab", "c", "d"), webhook_id("a", "bc", "d"));
    assert_ne!(webhook_id("a", "", "b"), webhook_id("a", "b", ""));
}

#[test]
fn delivery_carries_the_members_id() {
    let d = ProvisioningDelivery::new(event(), "https://hooks.example/p", 1_767_225_600);
    assert_eq!(
        d.webhook_id,
        webhook_id("acme", "https://acme.okta.com", "00u1abc")
    );
    assert_eq!(d.attempt, 0);
    let json = serde_json::to_string(&d).unwrap();
    let back: ProvisioningDelivery = serde_json::from_str(&json).unwrap();
    assert_eq!(back, d);
}

// --- body -------------------------------------------------------------------------------

#[test]
fn body_has_the_spec_shape() {
    let body = event_body(&event(), 1_767_225_600);
    assert_eq!(
        body,
        r#"{"type":"contact.provision","timestamp":"2026-01-01T00:00:00Z","data":{"tenant":"acme","issuer":"https://acme.okta.com","sub":"00u1abc","email":"a@b.c","email_verified":true,"name":"Ada Lovelace","given_name":"Ada","family_name":"Lovelace","idp":"0oa9","locations":"all"}}"#
    );
}

#[test]
fn unknown_optional_fields_are_null_and_text_is_escaped() {
    let mut e = event();
    e.name = Some("Ada \"the\" <Countess>\n".into());
    e.given_name = None;
    e.family_name = None;
    e.idp = None;
    e.email_verified = false;
    let body: serde_json::Value = serde_json::from_str(&event_body(&e, 0)).unwrap();
    let data = &body["data"];
    assert_eq!(data["name"], "Ada \"the\" <Countess>\n");
    assert!(data["given_name"].is_null() && data["family_name"].is_null());
    assert!(data["idp"].is_null());
    assert_eq!(data["email_verified"], false);
    assert_eq!(body["timestamp"], "1970-01-01T00:00:00Z");
}

#[test]
fn rfc3339_known_instants() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(1_767_225_600), "2026-01-01T00:00:00Z");
    assert_eq!(rfc3339(1_614_265_330), "2021-02-25T15:02:10Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z"); // 400-year leap
    assert_eq!(rfc3339(951_868_799), "2000-02-29T23:59:59Z");
    assert_eq!(rfc3339(951_868_800), "2000-03-01T00:00:00Z");
    assert_eq!(rfc3339(1_709_164_800), "2024-02-29T00:00:00Z");
    assert_eq!(rfc3339(1_709_251_199), "2024-02-29T23:59:59Z");
    assert_eq!(rfc3339(4_107_456_000), "2100-02-28T00:00:00Z");
    assert_eq!(rfc3339(4_107_542_400), "2100-03-01T00:00:00Z"); // 2100 is not leap
    assert_eq!(rfc3339(1_767_225_599), "2025-12-31T23:59:59Z");
    assert_eq!(rfc3339(253_402_300_799), "9999-12-31T23:59:59Z");
}

#[test]
fn rfc3339_walks_every_day_of_a_leap_cycle() {
    // Day by day from 1970 to 2100: dates must advance by exactly one calendar day.
    let days_in = |y: u64, m: u64| match m {
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let (mut y, mut m, mut d) = (1970, 1, 1);
    for day in 0..47_847u64 {
        assert_eq!(civil_from_days(day), (y, m, d), "day {day}");
        d += 1;
        if d > days_in(y, m) {
            d = 1;
            m += 1;
            if m > 12 {
                m = 1;
                y += 1;
            }
        }
    }
}

// --- signature --------------------------------------------------------------------------

const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const VECTOR_BODY: &str = r#"{"test": 2432232314}"#;
const VECTOR_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

#[test]
fn standard_webhooks_test_vector() {
    let secret = WebhookSecret::new(VECTOR_SECRET);
    let header = signature_header(&[&secret], VECTOR_ID, 1_614_265_330, VECTOR_BODY);
    assert_eq!(header.unwrap(), VECTOR_SIGNATURE);
}

#[test]
fn rotation_signs_with_every_secret() {
    let old = WebhookSecret::new(VECTOR_SECRET);
    let new = webhook_secret_from_random(&[7; 32]);
    let header = signature_header(&[&new, &old], VECTOR_ID, 1_614_265_330, VECTOR_BODY).unwrap();
    let parts: Vec<&str> = header.split(' ').collect();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[1], VECTOR_SIGNATURE);
    assert!(parts[0].starts_with("v1,") && parts[0] != VECTOR_SIGNATURE);
    assert_eq!(STANDARD.decode(&parts[0][3..]).unwrap().len(), 32);
}

#[test]
fn signature_depends_on_timestamp_and_body() {
    let s = WebhookSecret::new(VECTOR_SECRET);
    let a = signature_header(&[&s], VECTOR_ID, 1_614_265_330, VECTOR_BODY).unwrap();
    assert_ne!(
        a,
        signature_header(&[&s], VECTOR_ID, 1_614_265_331, VECTOR_BODY).unwrap()
    );
    assert_ne!(
        a,
        signature_header(&[&s], VECTOR_ID, 1_614_265_330, "{}").unwrap()
    );
}

#[test]
fn generated_secret_has_the_spec_format() {
    let s = webhook_secret_from_random(&[0xab; 32]);
    let raw = s.secret();
    assert!(raw.starts_with("whsec_"));
    assert_eq!(STANDARD.decode(&raw[6..]).unwrap(), vec![0xab; 32]);
    assert!(!format!("{s:?}").contains(&raw[6..]));
}

#[test]
fn no_secret_is_an_error() {
    assert_eq!(
        signature_header(&[], "msg_x", 1, "{}"),
        Err(WebhookError::NoSecret)
    );
}

#[test]
fn secret_without_prefix_is_refused() {
    let s = WebhookSecret::new("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    assert_eq!(
        signature_header(&[&s], "msg_x", 1, "{}"),
        Err(WebhookError::SecretPrefix)
    );
}

#[test]
fn secret_that_is_not_base64_is_refused() {
    let s = WebhookSecret::new("whsec_not*base64!");
    assert_eq!(
        signature_header(&[&s], "msg_x", 1, "{}"),
        Err(WebhookError::SecretEncoding)
    );
}

#[test]
fn secret_of_the_wrong_length_is_refused_without_showing_it() {
    let s = WebhookSecret::new(format!("whsec_{}", STANDARD.encode([1u8; 16])));
    let err = signature_header(&[&s], "msg_x", 1, "{}").unwrap_err();
    assert_eq!(err, WebhookError::SecretLength(16));
    assert!(!err.to_string().contains(&STANDARD.encode([1u8; 16])));
    let long = WebhookSecret::new(format!("whsec_{}", STANDARD.encode([1u8; 65])));
    let good = webhook_secret_from_random(&[1; 32]);
    // One bad secret among good ones fails the whole header: never sign partially.
    let err = signature_header(&[&good, &long], "msg_x", 1, "{}").unwrap_err();
    assert_eq!(err, WebhookError::SecretLength(65));
}

// --- request ----------------------------------------------------------------------------

#[test]
fn delivery_request_is_a_signed_json_post() {
    let secret = WebhookSecret::new(VECTOR_SECRET);
    let req = delivery_request(
        "https://hooks.example/p",
        &[&secret],
        VECTOR_ID,
        1_614_265_330,
        VECTOR_BODY,
        4_000,
    )
    .unwrap();
    assert_eq!(req.method, Method::Post);
    assert_eq!(req.url, "https://hooks.example/p");
    assert_eq!(req.timeout_ms, 4_000);
    assert_eq!(req.body.as_deref(), Some(VECTOR_BODY.as_bytes()));
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("content-type"), Some("application/json"));
    assert_eq!(header("webhook-id"), Some(VECTOR_ID));
    assert_eq!(header("webhook-timestamp"), Some("1614265330"));
    assert_eq!(header("webhook-signature"), Some(VECTOR_SIGNATURE));
}

#[test]
fn delivery_request_fails_on_bad_secret() {
    let s = WebhookSecret::new("nope");
    let r = delivery_request("https://h.example", &[&s], "msg_x", 1, "{}", 1_000);
    assert_eq!(r, Err(WebhookError::SecretPrefix));
}

// --- classification ---------------------------------------------------------------------

#[test]
fn success_statuses_are_delivered() {
    let delivered = |created| DeliveryOutcome::Delivered { created };
    assert_eq!(classify(Ok(&response(200, &[], ""))), delivered(false));
    assert_eq!(classify(Ok(&response(204, &[], ""))), delivered(false));
    assert_eq!(classify(Ok(&response(201, &[], ""))), delivered(true));
    assert_eq!(
        classify(Ok(&response(200, &[], r#"{"created":true}"#))),
        delivered(true)
    );
    assert_eq!(
        classify(Ok(&response(202, &[], r#"{"created":false}"#))),
        delivered(false)
    );
    assert_eq!(
        classify(Ok(&response(200, &[], r#"{"created":"yes"}"#))),
        delivered(false)
    );
    assert_eq!(
        classify(Ok(&response(200, &[], "created"))),
        delivered(false)
    );
}

#[test]
fn server_errors_and_throttling_are_retried_with_retry_after() {
    let retry = |secs| DeliveryOutcome::Retry {
        retry_after_secs: secs,
    };
    assert_eq!(classify(Ok(&response(500, &[], ""))), retry(None));
    assert_eq!(
        classify(Ok(&response(503, &[("Retry-After", "120")], ""))),
        retry(Some(120))
    );
    assert_eq!(
        classify(Ok(&response(429, &[("retry-after", " 3 ")], ""))),
        retry(Some(3))
    );
    // An HTTP-date counts from the response's own Date; without one it is unknown.
    let date = [("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT")];
    assert_eq!(classify(Ok(&response(429, &date, ""))), retry(None));
    let dated = [
        ("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"),
        ("Date", "Wed, 21 Oct 2015 07:26:30 GMT"),
    ];
    assert_eq!(classify(Ok(&response(429, &dated, ""))), retry(Some(90)));
    let past = [
        ("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"),
        ("Date", "Thu, 22 Oct 2015 00:00:00 GMT"),
    ];
    assert_eq!(classify(Ok(&response(503, &past, ""))), retry(Some(0)));
    let obsolete = [
        ("Retry-After", "Wednesday, 21-Oct-15 07:28:00 GMT"),
        ("Date", "Wed, 21 Oct 2015 07:26:30 GMT"),
    ];
    assert_eq!(classify(Ok(&response(503, &obsolete, ""))), retry(None));
    assert_eq!(
        classify(Ok(&response(429, &[("Retry-After", "-5")], ""))),
        retry(None)
    );
    let huge = [("Retry-After", "99999999999999999999999")];
    assert_eq!(
        classify(Ok(&response(503, &huge, ""))),
        retry(Some(u64::MAX))
    );
}

#[test]
fn redirects_and_fetch_failures_are_retried() {
    let retry = DeliveryOutcome::Retry {
        retry_after_secs: None,
    };
    let moved = [("location", "https://elsewhere.example/")];
    assert_eq!(classify(Ok(&response(301, &moved, ""))), retry);
    assert_eq!(classify(Ok(&response(307, &moved, ""))), retry);
    assert_eq!(classify(Ok(&response(100, &[], ""))), retry);
    assert_eq!(classify(Err(FetchFailure::Timeout)), retry);
    assert_eq!(classify(Err(FetchFailure::Unreachable)), retry);
}

#[test]
fn other_client_errors_are_final() {
    for status in [400, 401, 403, 404, 409, 410, 422, 499] {
        let r = response(status, &[("Retry-After", "5")], "");
        assert_eq!(classify(Ok(&r)), DeliveryOutcome::Rejected { status });
    }
}

// --- in-request retries -----------------------------------------------------------------

#[test]
fn in_request_backoff_doubles_and_caps() {
    let big = u64::MAX;
    let delays: Vec<_> = (1..=6)
        .map(|n| next_in_request_delay_ms(n, None, 0, big).unwrap())
        .collect();
    assert_eq!(delays, [250, 500, 1_000, 2_000, 2_000, 2_000]);
    assert_eq!(
        next_in_request_delay_ms(u32::MAX, None, 0, big),
        Some(2_000)
    );
}

#[test]
fn in_request_retry_stops_at_the_budget() {
    let budget = IN_REQUEST_BUDGET_MS;
    assert_eq!(next_in_request_delay_ms(1, None, 1_000, budget), Some(250));
    // 6_750 + 250 + MIN_ATTEMPT_MS = 8_000: still fits; one ms more does not.
    assert_eq!(next_in_request_delay_ms(1, None, 6_750, budget), Some(250));
    assert_eq!(next_in_request_delay_ms(1, None, 6_751, budget), None);
    assert_eq!(next_in_request_delay_ms(3, None, 7_900, budget), None);
    assert_eq!(next_in_request_delay_ms(1, None, u64::MAX, budget), None);
}

#[test]
fn in_request_retry_honours_retry_after_when_it_fits() {
    let budget = IN_REQUEST_BUDGET_MS;
    assert_eq!(
        next_in_request_delay_ms(1, Some(2), 500, budget),
        Some(2_000)
    );
    assert_eq!(next_in_request_delay_ms(4, Some(1), 0, budget), Some(2_000)); // backoff wins
    assert_eq!(next_in_request_delay_ms(1, Some(30), 0, budget), None); // queue takes over
    assert_eq!(next_in_request_delay_ms(1, Some(u64::MAX), 0, budget), None);
}

#[test]
fn attempt_timeout_uses_what_is_left() {
    let budget = IN_REQUEST_BUDGET_MS;
    assert_eq!(attempt_timeout_ms(0, budget), Some(4_000));
    assert_eq!(attempt_timeout_ms(5_000, budget), Some(3_000));
    assert_eq!(attempt_timeout_ms(7_000, budget), Some(1_000));
    assert_eq!(attempt_timeout_ms(7_001, budget), None);
    assert_eq!(attempt_timeout_ms(9_000, budget), None);
}

#[test]
fn in_request_loop_stays_within_the_budget() {
    // Every attempt hangs until its time limit: the worst case for the member's wait.
    let (mut elapsed, mut attempts) = (0u64, 0u32);
    while let Some(timeout) = attempt_timeout_ms(elapsed, IN_REQUEST_BUDGET_MS) {
        elapsed += u64::from(timeout);
        attempts += 1;
        match next_in_request_delay_ms(attempts, None, elapsed, IN_REQUEST_BUDGET_MS) {
            Some(delay) => elapsed += delay,
            None => break,
        }
    }
    assert!(elapsed <= IN_REQUEST_BUDGET_MS, "{elapsed}");
    assert!(
        attempts >= 2,
        "a hung first attempt still leaves room for a retry"
    );
}

// --- queue retries ----------------------------------------------------------------------

#[test]
fn queue_schedule_covers_a_day_with_few_attempts() {
    let start = 1_767_225_600;
    let mut now = start + 8; // the in-request attempts just gave up
    let mut attempt = 0;
    let mut delays = Vec::new();
    while let Some(delay) = next_queue_delay_secs(attempt, start, now, None) {
        delays.push(delay);
        now += delay + 10; // the attempt itself takes a while, and fails
        attempt += 1;
        assert!(attempt < 100, "too many attempts");
    }
    assert!(delays[0] <= 60, "first retry within 60 s");
    assert!(
        delays.windows(2).all(|w| w[0] <= w[1]),
        "delays grow: {delays:?}"
    );
    assert!(delays.iter().all(|&d| d <= 3_600));
    assert!(
        now - start >= 24 * 3_600,
        "gave up after only {} s",
        now - start
    );
    assert!(now - start <= 27 * 3_600);
    assert!(delays.len() < 40, "{} attempts", delays.len());
}

#[test]
fn queue_delays_follow_the_backoff() {
    let d: Vec<_> = (0..9)
        .map(|n| next_queue_delay_secs(n, 0, 100, None).unwrap())
        .collect();
    assert_eq!(d, [30, 60, 120, 240, 480, 960, 1_920, 3_600, 3_600]);
    assert_eq!(next_queue_delay_secs(u32::MAX, 0, 100, None), Some(3_600));
}

#[test]
fn queue_honours_retry_after_up_to_the_queues_maximum() {
    assert_eq!(next_queue_delay_secs(0, 0, 100, Some(7_200)), Some(7_200));
    assert_eq!(next_queue_delay_secs(5, 0, 100, Some(10)), Some(960));
    assert_eq!(
        next_queue_delay_secs(0, 0, 100, Some(u64::MAX)),
        Some(QUEUE_MAX_DELAY_SECS)
    );
}

#[test]
fn queue_gives_up_after_the_window() {
    let start = 1_000_000;
    assert!(next_queue_delay_secs(30, start, start + QUEUE_RETRY_WINDOW_SECS - 1, None).is_some());
    assert_eq!(
        next_queue_delay_secs(30, start, start + QUEUE_RETRY_WINDOW_SECS, None),
        None
    );
    // A clock that reads earlier than the first attempt does not end the window.
    assert_eq!(next_queue_delay_secs(0, start, start - 50, None), Some(30));
}

#[test]
fn first_queue_retry_honours_retry_after_within_60_s() {
    assert_eq!(first_queue_delay_secs(None), 30);
    assert_eq!(first_queue_delay_secs(Some(0)), 30);
    assert_eq!(first_queue_delay_secs(Some(45)), 45);
    assert_eq!(first_queue_delay_secs(Some(60)), 60);
    assert_eq!(first_queue_delay_secs(Some(3_600)), 60);
}

#[test]
fn http_dates_read_as_imf_fixdate_only() {
    assert_eq!(
        http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
        Some(784_111_777)
    );
    assert_eq!(http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
    assert_eq!(
        http_date("Tue, 29 Feb 2028 23:59:59 GMT"),
        Some(1_835_481_599)
    );
    // Round trip against the RFC 3339 writer for a spread of instants.
    for t in [0, 59, 86_399, 951_782_400, 1_795_789_283, 4_102_444_800] {
        let (days, rem) = (t / 86_400, t % 86_400);
        let (y, m, d) = civil_from_days(days);
        let text = format!(
            "Xyz, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
            MONTHS[(m - 1) as usize],
            rem / 3_600,
            rem % 3_600 / 60,
            rem % 60
        );
        assert_eq!(http_date(&text), Some(t), "{text}");
    }
    for bad in [
        "",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1969 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49 GMT",
        "Sun Nov  6 08:49:37 1994",
        "Sun, 32 Nov 1994 08:49:37 GMT",
    ] {
        assert_eq!(http_date(bad), None, "{bad:?}");
    }
}

#[test]
fn groups_are_in_the_body_only_when_the_tenant_wants_them() {
    let mut e = event();
    let body = event_body(&e, 1_767_225_600);
    assert!(!body.contains("groups"), "{body}");
    e.groups = Some(vec!["Members".into()]);
    let text = event_body(&e, 1_767_225_600);
    // SPEC's order: groups just before locations.
    assert!(
        text.contains(r#""idp":"0oa9","groups":["Members"],"locations":"all""#),
        "{text}"
    );
}
