//! A token a site issued to the agent may go back to that site: a
//! registry's or an OAuth endpoint's access token (a JSON body, compressed
//! or not) and a session cookie, sent back in `Authorization` / `Cookie`.
//! The benign twin of the header DLP, whose block stands for the same
//! value before it was issued, toward another site, and for a value the
//! site did not issue.

use super::common::*;
use base64::Engine;
use bottle_testkit::upstream;
use std::io::Write;

fn jwt(sub: &str) -> String {
    let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.{}",
        e(r#"{"alg":"RS256","typ":"JWT","kid":"K1"}"#),
        e(&format!(
            r#"{{"sub":"{sub}","access":[{{"type":"repository","name":"library/debian","actions":["pull"]}}],"iss":"auth.example.com"}}"#
        )),
        random_alnum(86)
    )
}

#[tokio::test]
async fn a_token_the_site_issued_goes_back_to_it_and_nowhere_else() {
    let mut h = Harness::new();
    let pull = jwt("pull");
    let zipped = jwt("zipped");
    let cookie = jwt("session");
    let gz = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(format!(r#"{{"access_token":"{zipped}","expires_in":300}}"#).as_bytes())
            .unwrap();
        e.finish().unwrap()
    };
    let set_cookie = format!("session={cookie}; Path=/; HttpOnly");
    let auth = upstream::https(&h.upstream_ca)
        .name("auth.example.com")
        .route_headers(
            "/token",
            &[
                ("content-type", "application/json"),
                ("set-cookie", &set_cookie),
            ],
            format!(r#"{{"token":"{pull}","expires_in":300}}"#),
        )
        .route_headers(
            "/token.gz",
            &[
                ("content-type", "application/json; charset=utf-8"),
                ("content-encoding", "gzip"),
            ],
            gz,
        )
        .run()
        .await;
    let registry = upstream::https(&h.upstream_ca)
        .name("registry.example.com")
        .route("/v2/library/debian/manifests/latest", "{}")
        .run()
        .await;
    let elsewhere = upstream::https(&h.upstream_ca)
        .name("elsewhere.example.org")
        .route("/v2/library/debian/manifests/latest", "{}")
        .run()
        .await;
    for (host, up) in [
        ("auth.example.com", &auth),
        ("registry.example.com", &registry),
        ("elsewhere.example.org", &elsewhere),
    ] {
        h.allow(host).map_host(host, up.addr());
    }
    let proxy = h.start().await;
    let addr = proxy.addr();
    let get = |host: &'static str, path: &'static str, headers: Vec<(&'static str, String)>| {
        let h = &h;
        async move {
            let hv: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            https(
                h,
                addr,
                &format!("{host}:443"),
                "GET",
                path,
                &hv,
                Vec::new(),
                false,
            )
            .await
            .unwrap()
        }
    };
    let manifest = "/v2/library/debian/manifests/latest";
    let bearer = |t: &str| vec![("authorization", format!("Bearer {t}"))];
    // Before it is issued, the token is a secret like any other.
    let r = get("registry.example.com", manifest, bearer(&pull)).await;
    assert_eq!(r.status, 403, "{}", r.text());
    let r = get(
        "registry.example.com",
        manifest,
        vec![("cookie", format!("session={cookie}"))],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text());

    let r = get("auth.example.com", "/token", Vec::new()).await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains(&pull));
    let r = get(
        "auth.example.com",
        "/token.gz",
        vec![("accept-encoding", "gzip".into())],
    )
    .await;
    assert_eq!(r.status, 200);

    // Issued by auth.example.com: back to any host of example.com.
    for (what, headers) in [
        ("json token", bearer(&pull)),
        ("gzip json token", bearer(&zipped)),
        ("cookie", vec![("cookie", format!("session={cookie}"))]),
    ] {
        let r = get("registry.example.com", manifest, headers).await;
        assert_eq!(r.status, 200, "{what}: {}", r.text());
    }
    assert_eq!(registry.requests().len(), 3);
    // Not to another site, and a token the site did not issue still blocks.
    let r = get("elsewhere.example.org", manifest, bearer(&pull)).await;
    assert_eq!(r.status, 403, "{}", r.text());
    let r = get("registry.example.com", manifest, bearer(&jwt("forged"))).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(elsewhere.requests().is_empty());
    assert_eq!(registry.requests().len(), 3);
}
