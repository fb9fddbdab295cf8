//! The SDK's typed API: in-memory and streamed vaults, conflicts as values, refresh on expiry.

use blindvault::client::{Client, ClientError, Precondition};

use crate::helpers::{Deployment, on_both_deployments, spawn_app_with};

on_both_deployments!(the_sdk_reads_and_writes_vaults_with_typed_errors);

async fn the_sdk_reads_and_writes_vaults_with_typed_errors(d: Deployment) {
    // Access tokens live five seconds, inside the SDK's 30-second margin: every call below
    // refreshes first. (One second is too short to test with: `exp` is counted in whole seconds,
    // so such a token can have a millisecond left when it reaches a loaded server.)
    let app = spawn_app_with(&d, &["--max-json-vault-bytes", "1000", "--access-ttl", "5s"]).await;
    let client = Client::new(&app.address).unwrap();
    client.register("erin", "sdk password", 600_000).await.unwrap();
    let (keys, _) = client.login("erin", "sdk password", &[]).await.unwrap();

    let before = client.refresh_token().await;
    let v1 = client.put(&keys, "small", b"hello", &Precondition::Absent).await.unwrap();
    assert_ne!(client.refresh_token().await, before, "the put refreshed the session first");
    assert_eq!((v1.revision, v1.version), (1, 1));
    let (plain, etag) = client.get(&keys, "small").await.unwrap();
    assert_eq!((plain.as_slice(), etag.as_str()), (&b"hello"[..], v1.etag.as_str()));

    let v2 = client.put(&keys, "small", b"hello again", &Precondition::Etag(v1.etag.clone())).await.unwrap();
    let stale = client.put(&keys, "small", b"lost update", &Precondition::Etag(v1.etag.clone())).await;
    match stale {
        Err(ClientError::Conflict { current_etag }) => {
            assert_eq!(current_etag.as_deref(), Some(v2.etag.as_str()))
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(matches!(
        client.put(&keys, "small", b"x", &Precondition::Absent).await,
        Err(ClientError::Conflict { .. })
    ));

    // Above the JSON limit, `get` follows the content URL and streams.
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 241) as u8).collect();
    client.put_stream(&keys, "big", std::io::Cursor::new(big.clone()), &Precondition::Absent).await.unwrap();
    assert_eq!(client.get(&keys, "big").await.unwrap().0, big);
    let ids: Vec<String> = client.list().await.unwrap().into_iter().map(|v| v.vault_id).collect();
    assert_eq!(ids, ["big", "small"]);

    client.delete("small", Some(&v2.etag)).await.unwrap();
    assert!(matches!(client.get(&keys, "small").await, Err(ClientError::NotFound)));
    let err = client.delete("small", None).await.unwrap_err();
    assert_eq!(err.code(), Some("not_found"));
    client.logout().await.unwrap();
    assert!(matches!(client.list().await, Err(ClientError::NotLoggedIn)));
}
