//! `verify_id_token` refusing tokens for what they are: size, shape, algorithm, header,
//! key choice and signature.

use super::*;

#[test]
fn too_large() {
    assert_eq!(
        check(&"a".repeat(MAX_ID_TOKEN_BYTES + 1)),
        Err(IdTokenError::TooLarge)
    );
    let padded = rs256_with(|c| {
        c.insert("padding".into(), json!("x".repeat(MAX_ID_TOKEN_BYTES)));
    });
    assert_eq!(
        refused_unsigned(&padded, &idp_jwks()),
        IdTokenError::TooLarge
    );
}

#[test]
fn malformed() {
    let good = rs256(&claims());
    let (h, rest) = good.split_once('.').expect("dots");
    let (p, s) = rest.split_once('.').expect("dots");
    let text = |t: &str| b64(t.as_bytes());
    let cases = [
        (String::new(), "not three dot-separated segments"),
        (format!("{h}.{p}"), "not three dot-separated segments"),
        (format!("{good}.{s}"), "not three dot-separated segments"),
        (
            format!("{h}.{p}.{s}.{s}.{s}"),
            "not three dot-separated segments",
        ),
        (format!("{h}=.{p}.{s}"), "header is not base64url"),
        (format!("{h}.{p}*.{s}"), "payload is not base64url"),
        (format!("{h}.{p}.{s}=="), "signature is not base64url"),
        (
            format!("{}.{p}.{s}", text("not json")),
            "header is not a JSON object with unique members",
        ),
        (
            format!("{}.{p}.{s}", text("[\"RS256\"]")),
            "header is not a JSON object with unique members",
        ),
        (
            format!("{h}.{}.{s}", text("[1,2]")),
            "payload is not a JSON object with unique members",
        ),
        (
            format!("{h}.{}.{s}", text("{\"sub\":")),
            "payload is not a JSON object with unique members",
        ),
        (
            format!("{}.{p}.{s}", text("{\"kid\":\"rsa1\"}")),
            "header has no alg",
        ),
        (
            format!("{}.{p}.{s}", text("{\"alg\":256}")),
            "header alg is not a string",
        ),
        (
            format!("{}.{p}.{s}", text("{\"alg\":\"RS256\",\"kid\":7}")),
            "header kid is not a string",
        ),
    ];
    for (raw, reason) in cases {
        assert_eq!(
            refused_unsigned(&raw, &idp_jwks()),
            IdTokenError::Malformed(reason),
            "{raw}"
        );
    }
}

/// A token whose header and payload are exactly these JSON texts, signed RS256 with `rsa1`.
fn rs256_text(header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let digest = Sha256::digest(input.as_bytes());
    let signature = rsa_key()
        .sign(Pkcs1v15Sign::new::<Sha256>(), &digest)
        .expect("RSA signing");
    format!("{input}.{}", b64(&signature))
}

#[test]
fn a_repeated_member_we_read_is_refused_not_read_once() {
    // A last-wins parser would take the second `nonce`, a first-wins one the first: which
    // one a check saw must never depend on the parser. RFC 7515 §4 and RFC 7519 §4 allow
    // refusing such a token, and it is refused before any signature work.
    let header = rs_header().to_string();
    let payload = claims().to_string();
    let good = rs256_text(&header, &payload);
    assert!(
        check(&good).is_ok(),
        "the texts themselves are a valid token"
    );
    let repeat = |json: &str, member: &str| json.replacen('{', &format!("{{{member},"), 1);
    let payload_cases = [
        repeat(&payload, "\"nonce\":\"someone-else\""),
        repeat(&payload, &format!("\"nonce\":\"{NONCE}\"")),
        repeat(&payload, "\"sub\":\"00u1eve\""),
        repeat(&payload, "\"aud\":\"other-client\""),
        repeat(&payload, "\"exp\":1"),
        repeat(&payload, "\"email\":\"eve@example.com\""),
    ];
    for p in payload_cases {
        assert_eq!(
            refused_unsigned(&rs256_text(&header, &p), &idp_jwks()),
            IdTokenError::Malformed("payload is not a JSON object with unique members"),
            "{p}"
        );
    }
    for h in [
        repeat(&header, "\"alg\":\"none\""),
        repeat(&header, "\"kid\":\"ec1\""),
        repeat(&header, "\"crit\":[\"b64\"],\"crit\":[\"b64\"]"),
    ] {
        assert_eq!(
            refused_unsigned(&rs256_text(&h, &payload), &idp_jwks()),
            IdTokenError::Malformed("header is not a JSON object with unique members"),
            "{h}"
        );
    }
    // A member nothing reads may repeat: it changes no decision.
    let unread = repeat(&payload, "\"locale\":\"en\"");
    assert!(check(&rs256_text(&header, &unread)).is_ok());
}

#[test]
fn malformed_claim_types_and_es256_signature_length() {
    let cases: [(&str, Value, &str); 5] = [
        (
            "exp",
            json!("1767225900"),
            "exp is not a non-negative number",
        ),
        ("iat", json!(-1), "iat is not a non-negative number"),
        ("aud", json!(42), "aud is neither a string nor an array"),
        ("aud", json!([CLIENT, 42]), "aud has a non-string entry"),
        ("sub", json!(12345), "sub is not a string"),
    ];
    for (name, value, reason) in cases {
        let raw = rs256_with(|c| {
            c.insert(name.into(), value.clone());
        });
        assert_eq!(check(&raw), Err(IdTokenError::Malformed(reason)), "{name}");
    }
    // A DER-encoded ECDSA signature (as some libraries emit) is not JWS's r||s.
    let input = signing_input(&json!({"alg": "ES256", "kid": "ec1"}), &claims());
    let der = ec_key().sign(input.as_bytes());
    let der: EcSignature = der;
    let raw = format!("{input}.{}", b64(der.to_der().as_bytes()));
    let reason = "ES256 signature is not 64 bytes (r||s)";
    assert_eq!(
        refused_unsigned(&raw, &idp_jwks()),
        IdTokenError::Malformed(reason)
    );
}

#[test]
fn unsupported_alg_none_is_refused_before_any_key_lookup() {
    let payload = b64(claims().to_string().as_bytes());
    for alg in ["none", "None", "NONE"] {
        let raw = format!(
            "{}.{payload}.",
            b64(json!({"alg": alg}).to_string().as_bytes())
        );
        // An empty JWKS would give NoKey if a key were looked up first.
        let err = refused_unsigned(&raw, &Jwks::default());
        assert_eq!(err, IdTokenError::UnsupportedAlg(alg.into()));
    }
}

#[test]
fn unsupported_alg_hs256_keyed_with_the_rsa_public_key() {
    // The classic confusion attack: HMAC keyed with the IdP's public key, which anyone has.
    let pem = rsa_key()
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("pem");
    let header = json!({"alg": "HS256", "kid": "rsa1"});
    let input = signing_input(&header, &claims());
    let mut mac = Hmac::<Sha256>::new_from_slice(pem.as_bytes()).expect("any key length");
    mac.update(input.as_bytes());
    let raw = format!("{input}.{}", b64(&mac.finalize().into_bytes()));
    let err = refused_unsigned(&raw, &idp_jwks());
    assert_eq!(err, IdTokenError::UnsupportedAlg("HS256".into()));
}

#[test]
fn unsupported_alg_others() {
    for alg in [
        "RS384", "RS512", "PS256", "ES384", "EdDSA", "rs256", "RSA-OAEP",
    ] {
        let raw = mint(&json!({"alg": alg, "kid": "rsa1"}), &claims());
        let err = refused_unsigned(&raw, &idp_jwks());
        assert_eq!(err, IdTokenError::UnsupportedAlg(alg.into()));
    }
    let long = "X".repeat(1000);
    let raw = mint(&json!({"alg": long}), &claims());
    assert_eq!(
        check(&raw),
        Err(IdTokenError::UnsupportedAlg("X".repeat(32)))
    );
}

#[test]
fn crit_header() {
    let raw = mint(
        &json!({"alg": "RS256", "kid": "rsa1", "crit": ["exp"]}),
        &claims(),
    );
    assert_eq!(
        refused_unsigned(&raw, &idp_jwks()),
        IdTokenError::CritHeader
    );
}

#[test]
fn unknown_kid() {
    let raw = mint(&json!({"alg": "RS256", "kid": "rotated-2"}), &claims());
    assert_eq!(
        refused_unsigned(&raw, &idp_jwks()),
        IdTokenError::UnknownKid
    );
}

#[test]
fn ambiguous_key_without_kid() {
    let raw = mint(&json!({"alg": "RS256"}), &claims());
    let two = jwks(vec![
        rsa_jwk(Some("old")),
        rsa_jwk(Some("new")),
        ec_jwk(Some("ec1")),
    ]);
    assert_eq!(refused_unsigned(&raw, &two), IdTokenError::AmbiguousKey);
    // Exactly one RSA key fits (the EC key does not count): accepted.
    assert!(check_against(&raw, &jwks(vec![rsa_jwk(None), ec_jwk(Some("ec1"))])).is_ok());
}

#[test]
fn no_key_without_kid() {
    let raw = mint(&json!({"alg": "RS256"}), &claims());
    assert_eq!(
        refused_unsigned(&raw, &jwks(vec![ec_jwk(Some("ec1"))])),
        IdTokenError::NoKey
    );
}

#[test]
fn key_mismatch_rs256_against_ec_only_jwks() {
    let raw = mint(&json!({"alg": "RS256", "kid": "ec1"}), &claims());
    let ec_only = jwks(vec![ec_jwk(Some("ec1"))]);
    assert_eq!(refused_unsigned(&raw, &ec_only), IdTokenError::KeyMismatch);
}

#[test]
fn key_mismatch_for_an_encryption_key() {
    let mut enc = rsa_jwk(Some("rsa1"));
    enc["use"] = json!("enc");
    let raw = rs256(&claims());
    assert_eq!(
        refused_unsigned(&raw, &jwks(vec![enc])),
        IdTokenError::KeyMismatch
    );
}

#[test]
fn bad_signature() {
    let raw = rs256(&claims());
    let (input, sig) = raw.rsplit_once('.').expect("dots");
    let mut sig = URL_SAFE_NO_PAD.decode(sig).expect("b64");
    sig[10] ^= 0x01;
    let flipped = format!("{input}.{}", b64(&sig));
    assert_eq!(check(&flipped), Err(IdTokenError::BadSignature));

    // A payload swapped under a genuine signature (here: a different member).
    let mut other = claims();
    other["sub"] = json!("00u1eve");
    let forged = format!(
        "{}.{}",
        signing_input(&rs_header(), &other),
        raw.rsplit_once('.').expect("dots").1
    );
    assert_eq!(check(&forged), Err(IdTokenError::BadSignature));

    // A forgery reads as a bad signature, whatever else is wrong with it.
    let bad_claims = rs256_with(|c| {
        c.insert("iss".into(), json!("https://evil.example"));
    });
    let (input, _) = bad_claims.rsplit_once('.').expect("dots");
    assert_eq!(
        check(&format!("{input}.{}", b64(&sig))),
        Err(IdTokenError::BadSignature)
    );

    let es = mint(&json!({"alg": "ES256", "kid": "ec1"}), &claims());
    let (input, sig) = es.rsplit_once('.').expect("dots");
    let mut sig = URL_SAFE_NO_PAD.decode(sig).expect("b64");
    sig[63] ^= 0x80;
    assert_eq!(
        check(&format!("{input}.{}", b64(&sig))),
        Err(IdTokenError::BadSignature)
    );
}

#[test]
fn verifier_failure_is_not_a_bad_signature() {
    let err = check_with(&rs256(&claims()), &idp_jwks(), &BrokenVerifier);
    let expected = VerifierError::Runtime("crypto.subtle is not available".into());
    assert_eq!(err, Err(IdTokenError::Verifier(expected)));
}
