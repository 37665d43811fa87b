//! The dashboard over real HTTP on a real server (`trainyard_server::run` on a temporary
//! data directory): sign-in, sessions and CSRF, authorization by the caller's policies,
//! escaping, error pages and live streams. The browser suite (`tests/e2e/dashboard.py`)
//! covers what needs a browser.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, LOCATION, SET_COOKIE};
use reqwest::{redirect, Client, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

struct Platform {
    url: String,
    token: String,
    http: Client,
    _stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

impl Platform {
    async fn start() -> Platform {
        let dir = tempfile::tempdir().unwrap();
        let flags = trainyard_server::Flags {
            data_dir: Some(dir.path().to_path_buf()),
            listen: Some("127.0.0.1:0".into()),
            aws_listen: Some("127.0.0.1:0".into()),
            ..Default::default()
        };
        let config = trainyard_server::Config::load(&flags, &Default::default()).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready, address) = oneshot::channel();
        tokio::spawn(trainyard_server::run(
            config,
            Box::pin(async move {
                let _ = stopped.await;
            }),
            move |a| {
                let _ = ready.send(a);
            },
        ));
        let address = address.await.expect("the server starts");
        let token = std::fs::read_to_string(dir.path().join("admin.token")).unwrap().trim().to_string();
        let http = Client::builder().redirect(redirect::Policy::none()).build().unwrap();
        Platform { url: format!("http://{address}"), token, http, _stop: stop, _dir: dir }
    }

    async fn api(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method, format!("{}/api/v1{path}", self.url))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap_or(Value::Null)
    }

    /// Signs in with `secret`; the session cookie (`name=value`).
    async fn sign_in(&self, secret: &str) -> String {
        let response = self
            .http
            .post(format!("{}/ui/login", self.url))
            .form(&[("token", secret), ("next", "/ui/")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let set = response.headers()[SET_COOKIE].to_str().unwrap().to_string();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
            assert!(set.contains(attribute), "{set}");
        }
        set.split(';').next().unwrap().to_string()
    }

    async fn get(&self, cookie: &str, path: &str) -> (StatusCode, String) {
        let response = self.http.get(format!("{}{path}", self.url)).header("cookie", cookie).send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    }

    async fn post_form(&self, cookie: &str, path: &str, form: &[(&str, &str)]) -> StatusCode {
        let response =
            self.http.post(format!("{}{path}", self.url)).header("cookie", cookie).form(form).send().await.unwrap();
        response.status()
    }
}

fn csrf_of(page: &str) -> String {
    let start = page.find("name=\"csrf-token\" content=\"").expect("every page carries its CSRF token") + 27;
    page[start..start + 64].to_string()
}

#[tokio::test]
async fn pages_need_a_session_and_a_wrong_secret_gets_none() {
    let platform = Platform::start().await;
    let response = platform.http.get(format!("{}/ui/", platform.url)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/ui/login?next=%2Fui%2F");
    let wrong =
        platform.http.post(format!("{}/ui/login", platform.url)).form(&[("token", "tyk_nope")]).send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get(SET_COOKIE).is_none());
    assert!(wrong.text().await.unwrap().contains("id=\"token\""), "the form again");
    // A cookie this server never issued (another server's, or from before a restart).
    let (status, _) = platform.get("ty_session=0123", "/ui/training-jobs").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = platform.sign_in(&platform.token).await;
    let (status, page) = platform.get(&cookie, "/ui/").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("<h1>The loop</h1>"));
    // Signed out: the cookie no longer works.
    let signed_out = platform.post_form(&cookie, "/ui/logout", &[("csrf", &csrf_of(&page))]).await;
    assert_eq!(signed_out, StatusCode::SEE_OTHER);
    assert_eq!(platform.get(&cookie, "/ui/").await.0, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn no_site_can_sign_a_visitor_in() {
    let platform = Platform::start().await;
    let cross_site = platform
        .http
        .post(format!("{}/ui/login", platform.url))
        .header("origin", "https://evil.example")
        .form(&[("token", platform.token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    assert!(cross_site.headers().get(SET_COOKIE).is_none());
}

#[tokio::test]
async fn unknown_pages_are_404_pages_and_every_page_is_under_a_strict_policy() {
    let platform = Platform::start().await;
    let cookie = platform.sign_in(&platform.token).await;
    let response =
        platform.http.get(format!("{}/ui/no-such-page", platform.url)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    let csp = response.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert!(response.text().await.unwrap().contains("<h1>404 Not Found</h1>"));
    let (status, _) = platform.get(&cookie, "/ui/training-jobs/no-such-job").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = platform.get(&cookie, "/ui/training-jobs?status=Bogus").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("Bogus"), "{body}");
}

#[tokio::test]
async fn forms_need_the_sessions_csrf_token_and_policies_decide_actions() {
    let platform = Platform::start().await;
    platform.api(reqwest::Method::POST, "/model-package-groups", json!({"ModelPackageGroupName": "churn"})).await;
    platform
        .api(
            reqwest::Method::POST,
            "/model-packages",
            json!({"ModelPackageGroupName": "churn", "ModelDataUrl": "s3://b/model.tar.gz", "ModelApprovalStatus": "PendingManualApproval"}),
        )
        .await;
    let root = platform.sign_in(&platform.token).await;
    let (status, page) = platform.get(&root, "/ui/models/churn").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("class=\"approval\""), "root may approve");
    let csrf = csrf_of(&page);
    let path = "/ui/models/churn/versions/1/status";
    assert_eq!(platform.post_form(&root, path, &[("status", "Approved")]).await, StatusCode::FORBIDDEN, "no token");
    assert_eq!(
        platform.post_form(&root, path, &[("status", "Approved"), ("csrf", "f00")]).await,
        StatusCode::FORBIDDEN
    );
    let cross_site = platform
        .http
        .post(format!("{}{path}", platform.url))
        .header("cookie", &root)
        .header("sec-fetch-site", "cross-site")
        .form(&[("status", "Approved"), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        platform.post_form(&root, path, &[("status", "Approved"), ("csrf", &csrf)]).await,
        StatusCode::SEE_OTHER
    );
    let version = platform.api(reqwest::Method::GET, "/model-package-groups/churn/versions/1", json!(null)).await;
    assert_eq!(version["ModelApprovalStatus"], "Approved");

    // A read-only user sees the versions, gets no approval form, and a forged POST is 403.
    platform.api(reqwest::Method::POST, "/iam/users", json!({"Name": "viewer"})).await;
    platform.api(reqwest::Method::PUT, "/iam/users/viewer/attached-policies/ReadOnlyAccess", json!(null)).await;
    let key = platform.api(reqwest::Method::POST, "/iam/users/viewer/access-keys", json!({})).await;
    let viewer = platform.sign_in(key["AccessKey"]["SecretAccessKey"].as_str().unwrap()).await;
    let (status, page) = platform.get(&viewer, "/ui/models/churn").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("data-version=\"1\"") && !page.contains("class=\"approval\""), "{page}");
    let forged = platform.post_form(&viewer, path, &[("status", "Rejected"), ("csrf", &csrf_of(&page))]).await;
    assert_eq!(forged, StatusCode::FORBIDDEN);
    let version = platform.api(reqwest::Method::GET, "/model-package-groups/churn/versions/1", json!(null)).await;
    assert_eq!(version["ModelApprovalStatus"], "Approved", "nothing changed");
    // Allowed only to list versions: the list, not each version's details.
    platform.api(reqwest::Method::POST, "/iam/users", json!({"Name": "lister"})).await;
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "sagemaker:ListModelPackages", "Resource": "*"}]});
    platform
        .api(reqwest::Method::PUT, "/iam/users/lister/policies/list", json!({"PolicyDocument": policy.to_string()}))
        .await;
    let key = platform.api(reqwest::Method::POST, "/iam/users/lister/access-keys", json!({})).await;
    let lister = platform.sign_in(key["AccessKey"]["SecretAccessKey"].as_str().unwrap()).await;
    let (status, page) = platform.get(&lister, "/ui/models/churn").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("data-version=\"1\"") && !page.contains("from the dashboard"), "{page}");

    // The audit trail is written by a batching writer: look for a few seconds.
    let mut text = String::new();
    for _ in 0..50 {
        text = platform.api(reqwest::Method::GET, "/audit?limit=50", json!(null)).await.to_string();
        if text.contains("UpdateModelPackage") && text.contains("AccessDenied") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(text.contains("UpdateModelPackage") && text.contains("AccessDenied"), "audited: {text}");
}

#[tokio::test]
async fn no_page_echoes_markup_a_user_put_in() {
    let platform = Platform::start().await;
    let hostile = "<img src=x onerror=alert(1)>";
    platform
        .api(reqwest::Method::POST, "/events", json!({"Entries": [{"Source": "shop", "DetailType": hostile, "Detail": "{\"a\": \"</pre><script>x()</script>\"}"}]}))
        .await;
    let cookie = platform.sign_in(&platform.token).await;
    let (status, page) = platform.get(&cookie, "/ui/events").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains(hostile) && (page.contains("&#60;img src=x") || page.contains("&lt;img src=x")), "{page}");
    let start = page.find("data-event-id=\"").unwrap() + 15;
    let id = &page[start..start + 36];
    let (status, page) = platform.get(&cookie, &format!("/ui/events/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("<script>x()") && !page.contains(hostile), "{page}");
}

#[tokio::test]
async fn the_event_tail_streams_a_new_event_within_half_a_second() {
    let platform = Platform::start().await;
    let cookie = platform.sign_in(&platform.token).await;
    let mut response =
        platform.http.get(format!("{}/ui/events/live", platform.url)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "text/event-stream");
    let first = tokio::time::timeout(Duration::from_secs(5), response.chunk()).await.unwrap().unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("event: tail"));
    let put = std::time::Instant::now();
    platform
        .api(
            reqwest::Method::POST,
            "/events",
            json!({"Entries": [{"Source": "shop", "DetailType": "order-42", "Detail": "{}"}]}),
        )
        .await;
    let mut seen = String::new();
    while !seen.contains("order-42") {
        let chunk = tokio::time::timeout(Duration::from_secs(2), response.chunk())
            .await
            .expect("a fragment in time")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(put.elapsed() < Duration::from_millis(500), "{:?}", put.elapsed());
}

#[tokio::test]
async fn a_rules_pattern_is_tested_on_a_stored_event() {
    let platform = Platform::start().await;
    let put = |detail_type: &'static str| {
        let platform = &platform;
        async move {
            let body =
                json!({"Entries": [{"Source": "shop", "DetailType": detail_type, "Detail": "{\"total\": 250}"}]});
            platform.api(reqwest::Method::POST, "/events", body).await["Entries"][0]["EventId"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let before = put("Order Placed").await;
    let pattern = json!({"source": ["shop"], "detail": {"total": [{"numeric": [">", 100]}]}});
    platform.api(reqwest::Method::POST, "/rules", json!({"Name": "big-orders", "EventPattern": pattern})).await;
    let after = put("Order Placed").await;
    let cookie = platform.sign_in(&platform.token).await;
    let (status, page) = platform.get(&cookie, "/ui/rules").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("big-orders"));
    let (_, page) = platform.get(&cookie, &format!("/ui/rules/big-orders?bus=default&event={after}")).await;
    assert!(page.contains("data-matches=\"true\"") && page.contains("matched when the event was put"), "{page}");
    let (_, page) = platform.get(&cookie, &format!("/ui/rules/big-orders?event={before}")).await;
    assert!(page.contains("data-matches=\"true\"") && page.contains("did not when the event was put"), "{page}");
    let (status, _) = platform.get(&cookie, "/ui/rules/big-orders?event=no-such-event").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for page in ["/ui/images", "/ui/builds"] {
        assert_eq!(platform.get(&cookie, page).await.0, StatusCode::OK, "{page}");
    }
}

#[tokio::test]
async fn a_dead_letter_is_redriven_from_its_page_by_whom_policies_allow() {
    let platform = Platform::start().await;
    let post = reqwest::Method::POST;
    platform.api(post.clone(), "/functions", json!({"FunctionName": "garbled", "Command": "echo not-json"})).await;
    platform.api(post.clone(), "/rules", json!({"Name": "to-garbled", "EventPattern": {"source": ["shop"]}})).await;
    platform.api(post.clone(), "/rules/to-garbled/targets", json!({"Id": "fn", "FunctionName": "garbled"})).await;
    platform
        .api(post.clone(), "/events", json!({"Entries": [{"Source": "shop", "DetailType": "x", "Detail": "{}"}]}))
        .await;
    let cookie = platform.sign_in(&platform.token).await;
    let mut page = String::new();
    for _ in 0..100 {
        page = platform.get(&cookie, "/ui/dlq").await.1;
        if page.contains("data-dead-letter=") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let start = page.find("data-dead-letter=\"").expect("the dead letter is listed") + 18;
    let id = page[start..].split('"').next().unwrap().to_string();
    let redriven = platform
        .http
        .post(format!("{}/ui/dlq/redrive", platform.url))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf_of(&page).as_str()), ("id", id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(redriven.status(), StatusCode::SEE_OTHER);
    assert_eq!(redriven.headers()[LOCATION], "/ui/dlq?redriven=1", "one dead letter sent back");
    let (_, page) = platform.get(&cookie, "/ui/dlq?redriven=1").await;
    assert!(page.contains("1 dead letter(s) sent back for delivery."), "{page}");
    let bad = platform.post_form(&cookie, "/ui/dlq/redrive", &[("csrf", &csrf_of(&page))]).await;
    assert_eq!(bad, StatusCode::BAD_REQUEST, "neither one nor all");
    // A read-only user sees the queue but no redrive button, and may not redrive.
    platform.api(post.clone(), "/iam/users", json!({"Name": "viewer"})).await;
    platform.api(reqwest::Method::PUT, "/iam/users/viewer/attached-policies/ReadOnlyAccess", json!(null)).await;
    let key = platform.api(post, "/iam/users/viewer/access-keys", json!({})).await;
    let viewer = platform.sign_in(key["AccessKey"]["SecretAccessKey"].as_str().unwrap()).await;
    let (status, page) = platform.get(&viewer, "/ui/dlq").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("Redrive"), "{page}");
    let forged = platform.post_form(&viewer, "/ui/dlq/redrive", &[("csrf", &csrf_of(&page)), ("all", "true")]).await;
    assert_eq!(forged, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_landing_page_says_what_a_caller_may_not_see() {
    let platform = Platform::start().await;
    let post = reqwest::Method::POST;
    platform.api(post.clone(), "/iam/users", json!({"Name": "watcher"})).await;
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "events:ListEvents",
        "Resource": "arn:aws:events:local:000000000000:event-bus/default"}]});
    platform
        .api(reqwest::Method::PUT, "/iam/users/watcher/policies/events", json!({"PolicyDocument": policy.to_string()}))
        .await;
    let key = platform.api(post, "/iam/users/watcher/access-keys", json!({})).await;
    let watcher = platform.sign_in(key["AccessKey"]["SecretAccessKey"].as_str().unwrap()).await;
    let (status, page) = platform.get(&watcher, "/ui/").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("do not allow listing pipelines") && page.contains("id=\"event-tail\""), "{page}");
    assert_eq!(platform.get(&watcher, "/ui/training-jobs").await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn open_live_pages_do_not_hold_up_the_servers_stop() {
    let platform = Platform::start().await;
    let cookie = platform.sign_in(&platform.token).await;
    let mut response =
        platform.http.get(format!("{}/ui/events/live", platform.url)).header("cookie", &cookie).send().await.unwrap();
    response.chunk().await.unwrap().expect("the first fragment");
    let Platform { _stop: stop, _dir: dir, .. } = platform;
    let stopped = std::time::Instant::now();
    stop.send(()).unwrap();
    let ended =
        tokio::time::timeout(Duration::from_secs(5), async { while let Ok(Some(_)) = response.chunk().await {} }).await;
    assert!(ended.is_ok(), "the stream ends when the server stops");
    assert!(stopped.elapsed() < Duration::from_secs(2), "{:?}", stopped.elapsed());
    drop(dir);
}

#[tokio::test]
async fn assets_are_embedded_and_cached_for_good() {
    let platform = Platform::start().await;
    let cookie = platform.sign_in(&platform.token).await;
    let (_, page) = platform.get(&cookie, "/ui/").await;
    let start = page.find("/ui/assets/htmx.min.js?v=").unwrap();
    let url = &page[start..page[start..].find('"').unwrap() + start];
    let response = platform.http.get(format!("{}{url}", platform.url)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    assert!(response.bytes().await.unwrap().len() > 10_000);
}
