//! The alerting rules and the dashboard name only metrics the server exports: every
//! `blindvault_*` series they query is in a live server's `/metrics`, on both deployments,
//! once the server has done what makes each appear (a request, a login, a readiness check, a
//! sweep). That the expressions parse, and link their runbook, is scripts/check-chart's part.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};

use crate::helpers::{Deployment, on_both_deployments, spawn_app_with};

on_both_deployments!(every_metric_the_alerts_and_dashboard_name_is_exported);

const ALERTS: &str = include_str!("../../charts/blindvault/files/alerts.yaml");
const DASHBOARD: &str = include_str!("../../charts/blindvault/files/dashboard.json");

/// Every `blindvault_*` name in `text`.
fn names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("blindvault_") {
        let tail = &rest[at..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

/// The series names of a Prometheus text exposition.
fn series(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

async fn every_metric_the_alerts_and_dashboard_name_is_exported(d: Deployment) {
    let app = spawn_app_with(&d, &["--sweep-interval", "1s"]).await;
    let (creds, _) = app.user().await;
    let wrong = serde_json::json!({ "username": creds.username, "auth_hash": crate::helpers::b64(&[0; 32]) });
    assert_eq!(app.post("/api/v1/auth/login", wrong).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.call(Method::GET, "/health/ready", None, None).await.status(), StatusCode::OK);
    let started = Instant::now();
    let exposition = loop {
        let text = app.call(Method::GET, "/metrics", None, None).await.text().await.unwrap();
        if text.contains("blindvault_sweeper_last_success_timestamp_seconds") {
            break text;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no sweep finished:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let exported = series(&exposition);
    let named: BTreeSet<String> = names_in(ALERTS).into_iter().chain(names_in(DASHBOARD)).collect();
    assert!(named.len() >= 20, "the files were read: {named:?}");
    let missing: Vec<&String> = named.iter().filter(|n| !exported.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "named by the alerts or the dashboard but not exported: {missing:?}\n{exposition}"
    );
    for (gauge, value) in [("blindvault_ready", "1"), ("blindvault_change_feed_following", "1")] {
        let line = exposition.lines().find(|l| l.starts_with(&format!("{gauge} "))).expect(gauge);
        assert!(line.ends_with(&format!(" {value}")), "{line}");
    }
}

#[test]
fn names_and_series_are_read_as_prometheus_writes_them() {
    let text =
        "# TYPE blindvault_logins counter\nblindvault_logins_total{outcome=\"ok\"} 3\nblindvault_ready 1\n";
    assert_eq!(
        series(text),
        BTreeSet::from(["blindvault_logins_total".to_owned(), "blindvault_ready".to_owned()])
    );
    let expr = "rate(blindvault_http_requests_total{status=~\"5..\"}[5m]) / blindvault_ready";
    assert_eq!(
        names_in(expr),
        BTreeSet::from(["blindvault_http_requests_total".to_owned(), "blindvault_ready".to_owned()])
    );
}
