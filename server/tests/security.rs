//! The attacks of issue 10, replayed against the real server on 127.0.0.1: run hijack,
//! cross-site WebSockets, per-host tokens, logins, TLS (wrong CA, SIGHUP reload, plain
//! text on the TLS port), and 3,000 slowloris sockets at a 1,024 descriptor limit.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use common::process::{binary, start_server, Proc};
use common::{
    connect, expect_ack, hello, read_until_close, sample_text, send_text, wait_for, TestServer,
    DEADLINE,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use utizmon_protocol::{encode, EdgeFrame};
use utizmon_server::auth::{edge_tokens, users};

/// A raw HTTP/1.1 exchange: status, headers (lowercase names) and body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request (`Connection: close`) and reads the whole reply.
async fn request<S>(
    mut stream: S,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut raw))
        .await
        .expect("reply in time")
        .ok();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    request(
        TcpStream::connect(addr).await.unwrap(),
        method,
        path,
        headers,
        body,
    )
    .await
}

fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

fn hello_with_secret(host: &str, run_id: &str, secret: Option<&str>) -> String {
    let mut hello = hello(host, run_id);
    hello.run_secret = secret.map(str::to_owned);
    encode(&EdgeFrame::Hello(hello))
}

#[tokio::test]
async fn a_run_cannot_be_hijacked_by_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "shared-token\n").unwrap();
    let server = TestServer::start(&["--edge-token-file", token_file.to_str().unwrap()]).await;
    let secret = "a".repeat(64);

    let mut genuine = connect(&server.edge_url(), Some("shared-token")).await;
    send_text(
        &mut genuine,
        hello_with_secret("web-1", "genuine-run", Some(&secret)),
    )
    .await;
    for seq in 1..=5 {
        send_text(&mut genuine, sample_text(seq)).await;
    }
    expect_ack(&mut genuine, 5).await;

    // The attacker knows the run id and the shared token, not the run secret.
    for forged in [None, Some("b".repeat(64))] {
        let mut attacker = connect(&server.edge_url(), Some("shared-token")).await;
        send_text(
            &mut attacker,
            hello_with_secret("web-1", "genuine-run", forged.as_deref()),
        )
        .await;
        send_text(&mut attacker, sample_text(6)).await;
        send_text(&mut attacker, sample_text(1_000_000_000_000)).await;
        let ending = read_until_close(&mut attacker).await;
        assert_eq!(ending.close_code, Some(4403), "{ending:?}");
        assert_eq!(ending.error_code.as_deref(), Some("forbidden"));
        assert!(ending.close_reason.starts_with("forbidden"), "{ending:?}");
        assert!(!ending.close_reason.contains("genuine-run"), "{ending:?}");
        assert!(ending.acks.is_empty());
    }
    // Another run while the genuine one is live: refused without naming the live run.
    let mut squatter = connect(&server.edge_url(), Some("shared-token")).await;
    send_text(
        &mut squatter,
        hello_with_secret("web-1", "other-run", Some(&"c".repeat(64))),
    )
    .await;
    let ending = read_until_close(&mut squatter).await;
    assert_eq!(ending.close_code, Some(4409));
    assert!(!ending.close_reason.contains("genuine-run"), "{ending:?}");

    // The genuine edge was never superseded and keeps its history.
    for seq in 6..=10 {
        send_text(&mut genuine, sample_text(seq)).await;
    }
    expect_ack(&mut genuine, 10).await;
    let view = server.host("web-1").await.unwrap();
    assert_eq!(view["edge"]["last_seq"], 10);
    assert_eq!(view["edge"]["duplicates"], 0);
    assert_eq!(view["connected"], true);
    // Nobody is logged in on this open loopback server: the run id is not shown.
    assert!(view["edge"]["run_id"].is_null(), "{view}");

    // The genuine edge may resume its own run with its secret after a reconnect.
    drop(genuine);
    let mut again = connect(&server.edge_url(), Some("shared-token")).await;
    send_text(
        &mut again,
        hello_with_secret("web-1", "genuine-run", Some(&secret)),
    )
    .await;
    send_text(&mut again, sample_text(11)).await;
    expect_ack(&mut again, 11).await;
}

#[tokio::test]
async fn cross_site_websockets_are_refused() {
    let server = TestServer::start(&[]).await;
    let url = format!("ws://{}/ws/dashboard", server.addr);
    let mut evil = url.as_str().into_client_request().unwrap();
    evil.headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(evil).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("cross-site upgrade not refused: {:?}", other.map(|_| ())),
    }
    let mut own = url.as_str().into_client_request().unwrap();
    own.headers_mut()
        .insert("origin", format!("http://{}", server.addr).parse().unwrap());
    tokio_tungstenite::connect_async(own)
        .await
        .expect("same-origin upgrade");
}

#[tokio::test]
async fn a_per_host_token_admits_only_its_host() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("edge-tokens");
    let web = edge_tokens::add(&tokens, "web-1").unwrap();
    let db = edge_tokens::add(&tokens, "db-1").unwrap();
    let server = TestServer::start(&["--edge-tokens-file", tokens.to_str().unwrap()]).await;

    let mut wrong = connect(&server.edge_url(), Some(&db)).await;
    send_text(&mut wrong, hello_with_secret("web-1", "r1", None)).await;
    let ending = read_until_close(&mut wrong).await;
    assert_eq!(ending.close_code, Some(4403), "{ending:?}");
    assert!(ending.close_reason.starts_with("forbidden"), "{ending:?}");

    let mut none = connect(&server.edge_url(), None).await;
    send_text(&mut none, hello_with_secret("web-1", "r1", None)).await;
    assert_eq!(read_until_close(&mut none).await.close_code, Some(4401));

    let mut right = connect(&server.edge_url(), Some(&web)).await;
    send_text(&mut right, hello_with_secret("web-1", "r1", None)).await;
    send_text(&mut right, sample_text(1)).await;
    expect_ack(&mut right, 1).await;

    // Revoking takes effect on the next connection, without a restart.
    edge_tokens::revoke(&tokens, "web-1").unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await; // The file is looked at once a second.
    let mut revoked = connect(&server.edge_url(), Some(&web)).await;
    send_text(&mut revoked, hello_with_secret("web-1", "r2", None)).await;
    assert_eq!(read_until_close(&mut revoked).await.close_code, Some(4403));
}

#[tokio::test]
async fn logins_protect_pages_api_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let users_file = dir.path().join("users");
    users::add(&users_file, "alice", "correct horse battery").unwrap();
    let metrics_token = dir.path().join("metrics-token");
    std::fs::write(&metrics_token, "scrape-me\n").unwrap();
    let server = TestServer::start(&[
        "--users-file",
        users_file.to_str().unwrap(),
        "--metrics-token-file",
        metrics_token.to_str().unwrap(),
    ])
    .await;
    let addr = server.addr;
    let mut edge = common::GoodEdge::connect(&server, "web-1", None).await;
    edge.step().await;

    // Without credentials: 401 for the API and /metrics, the login page for a browser.
    for path in [
        "/api/v1/hosts",
        "/api/v1/hosts/web-1",
        "/metrics",
        "/ws/dashboard",
    ] {
        let reply = http(addr, "GET", path, &[], "").await;
        assert_eq!(reply.status, 401, "{path}");
        assert!(reply
            .header("www-authenticate")
            .is_some_and(|v| v.starts_with("Basic")));
    }
    let page = http(addr, "GET", "/hosts/web-1", &[("Accept", "text/html")], "").await;
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), Some("/login?next=/hosts/web-1"));
    for path in ["/healthz", "/login", "/static/app.css"] {
        assert_eq!(http(addr, "GET", path, &[], "").await.status, 200, "{path}");
    }
    let wrong = basic("alice", "wrong");
    assert_eq!(
        http(
            addr,
            "GET",
            "/api/v1/hosts",
            &[("Authorization", &wrong)],
            ""
        )
        .await
        .status,
        401
    );

    // Basic credentials: 200, and a logged-in user sees run ids.
    let good = basic("alice", "correct horse battery");
    let reply = http(
        addr,
        "GET",
        "/api/v1/hosts/web-1",
        &[("Authorization", &good)],
        "",
    )
    .await;
    assert_eq!(reply.status, 200);
    let view: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(view["edge"]["run_id"], "good-run");

    // The metrics token, any scheme case.
    let scrape = http(
        addr,
        "GET",
        "/metrics",
        &[("Authorization", "bearer scrape-me")],
        "",
    )
    .await;
    assert_eq!(scrape.status, 200);
    let bad = http(
        addr,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer nope")],
        "",
    )
    .await;
    assert_eq!(bad.status, 401);

    // The login form: wrong password stays on the page, the right one sets the cookie.
    let form = "user=alice&password=nope&next=%2Fhosts%2Fweb-1";
    let form_type = ("Content-Type", "application/x-www-form-urlencoded");
    let refused = http(addr, "POST", "/login", &[form_type], form).await;
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("Wrong user name or password."));
    assert!(refused.header("set-cookie").is_none());
    let form = "user=alice&password=correct+horse+battery&next=%2Fhosts%2Fweb-1";
    let login = http(addr, "POST", "/login", &[form_type], form).await;
    assert_eq!(login.status, 303);
    assert_eq!(login.header("location"), Some("/hosts/web-1"));
    let set_cookie = login.header("set-cookie").unwrap().to_owned();
    let attributes: Vec<&str> = set_cookie.split("; ").collect();
    assert!(attributes.contains(&"HttpOnly") && attributes.contains(&"SameSite=Strict"));
    assert!(
        !attributes.contains(&"Secure"),
        "plain HTTP: no Secure attribute"
    );
    let cookie = attributes[0].to_owned();
    let reply = http(addr, "GET", "/api/v1/hosts", &[("Cookie", &cookie)], "").await;
    assert_eq!(reply.status, 200);
    let page = http(
        addr,
        "GET",
        "/",
        &[("Cookie", &cookie), ("Accept", "text/html")],
        "",
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(r#"action="/logout""#));

    // Logout ends the session.
    let logout = http(addr, "POST", "/logout", &[("Cookie", &cookie)], "").await;
    assert_eq!(logout.status, 303);
    assert!(logout.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(
        http(addr, "GET", "/api/v1/hosts", &[("Cookie", &cookie)], "")
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn sessions_expire() {
    let dir = tempfile::tempdir().unwrap();
    let users_file = dir.path().join("users");
    users::add(&users_file, "alice", "correct horse battery").unwrap();
    let server = TestServer::start(&[
        "--users-file",
        users_file.to_str().unwrap(),
        "--session-ttl",
        "1s",
    ])
    .await;
    let form_type = ("Content-Type", "application/x-www-form-urlencoded");
    let login = http(
        server.addr,
        "POST",
        "/login",
        &[form_type],
        "user=alice&password=correct+horse+battery",
    )
    .await;
    let cookie = login
        .header("set-cookie")
        .unwrap()
        .split("; ")
        .next()
        .unwrap()
        .to_owned();
    assert!(login.header("set-cookie").unwrap().contains("Max-Age=1"));
    let hosts_with_cookie = || async {
        let headers = [("Cookie", cookie.as_str())];
        http(server.addr, "GET", "/api/v1/hosts", &headers, "")
            .await
            .status
    };
    assert_eq!(hosts_with_cookie().await, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(hosts_with_cookie().await, 401);
}

#[tokio::test]
async fn public_dashboard_is_read_only_and_hides_run_ids() {
    let server = TestServer::start(&["--public-dashboard"]).await;
    let mut edge = common::GoodEdge::connect(&server, "web-1", None).await;
    edge.step().await;
    let reply = http(server.addr, "GET", "/api/v1/hosts/web-1", &[], "").await;
    assert_eq!(reply.status, 200);
    let view: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert!(view["edge"]["run_id"].is_null());
    let delete = http(server.addr, "DELETE", "/api/v1/hosts/web-1", &[], "").await;
    assert_eq!(delete.status, 401);
}

/// `text` without terminal colour codes (`ESC [ ... m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Reads `child`'s stderr until a line contains `words`; returns that line.
async fn stderr_line(child: &mut tokio::process::Child, words: &str) -> String {
    let stderr = child.stderr.as_mut().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    tokio::time::timeout(DEADLINE, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(words) {
                return line;
            }
        }
        panic!("stderr ended without {words:?}");
    })
    .await
    .unwrap_or_else(|_| panic!("no {words:?} on stderr in time"))
}

#[tokio::test]
async fn beyond_loopback_a_generated_admin_is_required() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(binary("utizmon-server"))
        .args(["--listen", "0.0.0.0:0", "--data-dir"])
        .arg(data.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let line = strip_ansi(&stderr_line(&mut child, "created a dashboard login").await);
    let password = line
        .split("password=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = stdout.next_line().await.unwrap().unwrap();
    let port: u16 = first.rsplit(':').next().unwrap().parse().unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let _server = Proc { child };
    assert_eq!(
        http(addr, "GET", "/api/v1/hosts", &[], "").await.status,
        401
    );
    let auth = basic("admin", &password);
    assert_eq!(
        http(
            addr,
            "GET",
            "/api/v1/hosts",
            &[("Authorization", &auth)],
            ""
        )
        .await
        .status,
        200
    );
    let users_file = std::fs::read_to_string(data.path().join("users")).unwrap();
    assert!(users_file.starts_with("admin:$argon2id$") && !users_file.contains(&password));
}

#[tokio::test]
async fn cli_adds_tokens_and_users() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    let output = Command::new(binary("utizmon-server"))
        .args(["edge-token", "add", "web-1", "--tokens-file"])
        .arg(&tokens)
        .output()
        .await
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let token = stdout.lines().last().unwrap();
    assert_eq!(token.len(), 64);
    let text = std::fs::read_to_string(&tokens).unwrap();
    assert!(!text.contains(token));
    assert!(edge_tokens::EdgeTokens::parse(&text)
        .unwrap()
        .admits("web-1", token));
    let revoke = Command::new(binary("utizmon-server"))
        .args(["edge-token", "revoke", "web-1", "--tokens-file"])
        .arg(&tokens)
        .status()
        .await
        .unwrap();
    assert!(revoke.success());

    let users_file = dir.path().join("users");
    let mut child = Command::new(binary("utizmon-server"))
        .args(["user", "add", "alice", "--users-file"])
        .arg(&users_file)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse battery\n")
        .await
        .unwrap();
    assert!(child.wait().await.unwrap().success());
    let parsed = users::Users::parse(&std::fs::read_to_string(&users_file).unwrap()).unwrap();
    assert!(parsed.verify("alice", "correct horse battery"));
}

/// A CA and a leaf for `localhost` / 127.0.0.1 signed by it, as PEM files in `dir`.
struct Pki {
    ca: rcgen::Issuer<'static, rcgen::KeyPair>,
    ca_pem: String,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Pki {
            ca_pem: cert.pem(),
            ca: rcgen::Issuer::new(params, key),
        }
    }

    /// Writes a fresh leaf and key to `cert` and `key`; returns the leaf's DER.
    fn leaf(&self, cert: &Path, key: &Path) -> Vec<u8> {
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        let leaf = params.signed_by(&leaf_key, &self.ca).unwrap();
        std::fs::write(cert, leaf.pem()).unwrap();
        std::fs::write(key, leaf_key.serialize_pem()).unwrap();
        leaf.der().to_vec()
    }
}

/// A TLS client trusting `ca_pem`; returns the stream and the server's leaf certificate.
async fn tls_connect(
    addr: SocketAddr,
    ca_pem: &str,
) -> (tokio_rustls::client::TlsStream<TcpStream>, Vec<u8>) {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let stream = connector.connect(name, tcp).await.unwrap();
    let leaf = stream.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    (stream, leaf)
}

fn start_tls_edge(addr: SocketAddr, ca: &Path, host: &str) -> tokio::process::Child {
    Command::new(binary("utizmon-edge"))
        .args([
            "--master",
            &format!("wss://localhost:{}/ws/edge", addr.port()),
        ])
        .arg("--ca-file")
        .arg(ca)
        .args(["--interval", "200ms", "--host-name", host])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn tls_serves_edges_refuses_wrong_cas_and_reloads_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new("utizmon test CA");
    let (cert, key, ca) = (
        dir.path().join("cert.pem"),
        dir.path().join("key.pem"),
        dir.path().join("ca.pem"),
    );
    let first_leaf = pki.leaf(&cert, &key);
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let data = tempfile::tempdir().unwrap();
    let (server, addr) = start_server(
        "127.0.0.1:0",
        data.path(),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    )
    .await;

    // A good edge over wss:// with the CA pinned.
    let mut good = start_tls_edge(addr, &ca, "tls-1");
    stderr_line(&mut good, "connected to the master").await;
    // The edge says "connected" once its WebSocket is open; its hello may still be on the
    // way, so the host is looked up until it is known.
    let ca_pem = &pki.ca_pem;
    let leaf = wait_for("tls-1 served over https", || async move {
        let (stream, leaf) = tls_connect(addr, ca_pem).await;
        let reply = request(stream, "GET", "/api/v1/hosts/tls-1", &[], "").await;
        (reply.status == 200).then_some(leaf)
    })
    .await;
    assert_eq!(leaf, first_leaf);

    // An edge trusting another CA refuses the server, and says why.
    let other = Pki::new("someone else's CA");
    let other_ca = dir.path().join("other-ca.pem");
    std::fs::write(&other_ca, &other.ca_pem).unwrap();
    let mut wrong = start_tls_edge(addr, &other_ca, "tls-2");
    let line = stderr_line(&mut wrong, "cannot connect to the master").await;
    let line = strip_ansi(&line);
    assert!(
        line.contains("not trusted") && line.contains("UnknownIssuer"),
        "{line}"
    );
    assert!(line.contains("other-ca.pem"), "{line}");
    drop(wrong);

    // Plain HTTP on the TLS port: a clear 400, at once.
    let reply = http(addr, "GET", "/healthz", &[], "").await;
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("speaks TLS"), "{}", reply.body);

    // SIGHUP swaps the certificate for new handshakes; the edge stays connected.
    let seq_before = last_seq_over_tls(addr, &pki.ca_pem, "tls-1").await;
    let second_leaf = pki.leaf(&cert, &key);
    server.signal("-HUP");
    wait_for("the new certificate", || async {
        let (_, leaf) = tls_connect(addr, &pki.ca_pem).await;
        (leaf == second_leaf).then_some(())
    })
    .await;
    wait_for("samples after the reload", || async {
        (last_seq_over_tls(addr, &pki.ca_pem, "tls-1").await > seq_before + 3).then_some(())
    })
    .await;
    // One connection for the whole test: no second "connected" line.
    good.start_kill().unwrap();
    let mut rest = String::new();
    good.stderr
        .take()
        .unwrap()
        .read_to_string(&mut rest)
        .await
        .unwrap();
    assert!(
        !rest.contains("connected to the master"),
        "the edge reconnected: {rest}"
    );
}

async fn last_seq_over_tls(addr: SocketAddr, ca_pem: &str, host: &str) -> u64 {
    let (stream, _) = tls_connect(addr, ca_pem).await;
    let reply = request(stream, "GET", &format!("/api/v1/hosts/{host}"), &[], "").await;
    let view: serde_json::Value = serde_json::from_str(&reply.body).unwrap_or_default();
    view["edge"]["last_seq"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn slowloris_at_a_1024_descriptor_limit_locks_nobody_out() {
    // This process needs more than 3,000 descriptors itself.
    rlimit::increase_nofile_limit(8192).unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new("prlimit")
        .arg("--nofile=1024:1024")
        .arg(binary("utizmon-server"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(DEADLINE, stdout.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let addr: SocketAddr = first
        .strip_prefix("listening on ")
        .unwrap()
        .parse()
        .unwrap();
    let _server = Proc { child };
    let _edge = common::process::start_edge(addr, "200ms", "good-1");
    let seq_of = |addr| async move {
        let reply = http(addr, "GET", "/api/v1/hosts/good-1", &[], "").await;
        let view: serde_json::Value = serde_json::from_str(&reply.body).unwrap_or_default();
        view["edge"]["last_seq"].as_u64().unwrap_or(0)
    };
    wait_for("the good edge", || async {
        (seq_of(addr).await > 0).then_some(())
    })
    .await;

    // 3,000 sockets that start a request and never finish it.
    let mut slow = Vec::new();
    let opening = async {
        for _ in 0..3000 {
            if let Ok(Ok(mut socket)) =
                tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await
            {
                let _ = socket.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await;
                slow.push(socket);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(15), opening)
        .await
        .ok();
    let opened = slow.len();
    let before = seq_of(addr).await;
    for _ in 0..5 {
        for socket in slow.iter_mut().take(200) {
            let _ = socket.write_all(b"X").await; // Trickle: one byte, then silence.
        }
        let started = Instant::now();
        let reply = tokio::time::timeout(
            Duration::from_secs(1),
            http(addr, "GET", "/healthz", &[], ""),
        )
        .await;
        let reply =
            reply.unwrap_or_else(|_| panic!("/healthz took over 1 s with {opened} slow sockets"));
        assert_eq!(reply.status, 200);
        assert!(started.elapsed() < Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let after = seq_of(addr).await;
    assert!(
        after > before,
        "the good edge stalled: {before} -> {after} ({opened} slow sockets)"
    );
    drop(slow);
}

/// `systemctl reload` sends SIGHUP whether or not TLS is on: a plaintext server must take
/// it calmly, keeping its edges, instead of dying of the signal's default action.
#[tokio::test]
async fn sighup_without_tls_keeps_the_server_and_its_edges() {
    let data = tempfile::tempdir().unwrap();
    let (mut server, addr) = start_server("127.0.0.1:0", data.path(), &[]).await;
    let mut ws = common::connect(&format!("ws://{addr}/ws/edge"), None).await;
    common::send_text(&mut ws, common::hello_text("hup-1", "run-1")).await;
    common::send_text(&mut ws, common::sample_text(1)).await;
    common::expect_ack(&mut ws, 1).await;
    server.signal("-HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server died of SIGHUP"
    );
    common::send_text(&mut ws, common::sample_text(2)).await;
    common::expect_ack(&mut ws, 2).await;
    assert_eq!(http(addr, "GET", "/healthz", &[], "").await.status, 200);
}
