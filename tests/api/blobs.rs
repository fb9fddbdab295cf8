//! The object store layer on its own: local files and a real S3 server.

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};

use blindvault::Settings;
use blindvault::domain::BoxError;
use blindvault::store::{BlobStore, BlobStoreError};

use crate::helpers::{Deployment, on_both_deployments, rand_bytes};

on_both_deployments!(
    small_objects_round_trip_with_ranges,
    large_objects_stream_as_multipart,
    an_oversized_body_leaves_nothing,
    a_failing_body_leaves_nothing,
    the_probe_answers,
);

async fn open(d: &Deployment) -> (BlobStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = d.fresh_storage(dir.path()).await;
    args.retain(|a| !a.starts_with("--database-url") && !a.starts_with("postgres://"));
    let settings = Settings::from_args(&args).unwrap();
    (BlobStore::open(&settings.storage().unwrap()).unwrap(), dir)
}

fn chunks(data: &[u8], size: usize) -> impl futures::Stream<Item = Result<Bytes, BoxError>> + Send + 'static {
    let parts: Vec<Result<Bytes, BoxError>> =
        data.chunks(size).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    stream::iter(parts)
}

async fn read_all(store: &BlobStore, key: &str, range: Option<std::ops::Range<u64>>) -> Vec<u8> {
    let read = store.get(key, range).await.unwrap();
    let parts: Vec<Bytes> = read.body.try_collect().await.unwrap();
    parts.concat()
}

async fn small_objects_round_trip_with_ranges(d: Deployment) {
    let (store, _dir) = open(&d).await;
    let data = rand_bytes(100_000);
    let put = store.put_stream("vaults/u1/a", chunks(&data, 7_000), 1 << 20).await.unwrap();
    assert_eq!(put.size, 100_000);
    assert_eq!(put.digest, <[u8; 32]>::from(blake3::hash(&data)));
    assert_eq!(store.size("vaults/u1/a").await.unwrap(), 100_000);
    assert_eq!(read_all(&store, "vaults/u1/a", None).await, data);

    let read = store.get("vaults/u1/a", Some(10..20)).await.unwrap();
    assert_eq!((read.size, read.range.clone()), (100_000, 10..20));
    let part: Vec<Bytes> = read.body.try_collect().await.unwrap();
    assert_eq!(part.concat(), &data[10..20]);
    assert!(matches!(store.get("vaults/u1/a", Some(5..5)).await, Err(BlobStoreError::RangeNotSatisfiable)));

    let empty = store.put_stream("vaults/u1/empty", chunks(&[], 1), 10).await.unwrap();
    assert_eq!(empty.size, 0);
    assert!(read_all(&store, "vaults/u1/empty", None).await.is_empty());

    let mut keys = store.list("vaults/u1").await.unwrap();
    keys.sort();
    assert_eq!(keys, ["vaults/u1/a", "vaults/u1/empty"]);
    store.delete("vaults/u1/a").await.unwrap();
    store.delete("vaults/u1/a").await.unwrap();
    assert!(matches!(store.get("vaults/u1/a", None).await, Err(BlobStoreError::NotFound)));
    assert_eq!(store.list("vaults/u1").await.unwrap(), ["vaults/u1/empty"]);
}

pub(crate) async fn large_objects_stream_as_multipart(d: Deployment) {
    let (store, _dir) = open(&d).await;
    let data = rand_bytes(21 * 1024 * 1024 + 123);
    let put = store.put_stream("big/one", chunks(&data, 64 * 1024), 1 << 30).await.unwrap();
    assert_eq!(put.size, data.len() as u64);
    assert_eq!(put.digest, <[u8; 32]>::from(blake3::hash(&data)));

    let read = store.get("big/one", None).await.unwrap();
    assert_eq!(read.size, data.len() as u64);
    let mut hasher = blake3::Hasher::new();
    let mut total = 0usize;
    let mut body = read.body;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        total += chunk.len();
        hasher.update(&chunk);
    }
    assert_eq!(total, data.len());
    assert_eq!(<[u8; 32]>::from(hasher.finalize()), put.digest);
    let tail = 9 * 1024 * 1024..(data.len() as u64);
    assert_eq!(read_all(&store, "big/one", Some(tail.clone())).await, &data[tail.start as usize..]);
}

async fn an_oversized_body_leaves_nothing(d: Deployment) {
    let (store, _dir) = open(&d).await;
    for (len, limit) in [(3_000, 2_000), (12 * 1024 * 1024, 10 * 1024 * 1024)] {
        let data = rand_bytes(len);
        let result = store.put_stream("over/x", chunks(&data, 256 * 1024), limit).await;
        assert!(matches!(result, Err(BlobStoreError::TooLarge { limit: l }) if l == limit), "{result:?}");
        assert!(store.list("over").await.unwrap().is_empty());
        assert!(matches!(store.get("over/x", None).await, Err(BlobStoreError::NotFound)));
    }
}

pub(crate) async fn a_failing_body_leaves_nothing(d: Deployment) {
    let (store, _dir) = open(&d).await;
    let good: Vec<Result<Bytes, BoxError>> =
        (0..40).map(|_| Ok(Bytes::from(rand_bytes(256 * 1024)))).collect();
    let failing =
        stream::iter(good).chain(stream::once(async { Err::<Bytes, BoxError>("client went away".into()) }));
    let result = store.put_stream("broken/x", failing, 1 << 30).await;
    assert!(matches!(result, Err(BlobStoreError::Body(_))), "{result:?}");
    assert!(store.list("broken").await.unwrap().is_empty());
}

async fn the_probe_answers(d: Deployment) {
    let (store, _dir) = open(&d).await;
    store.probe().await.unwrap();
    if let Deployment::Production { s3_endpoint, .. } = &d {
        let args = [
            "--storage-url",
            "s3://no-such-bucket-here",
            "--s3-endpoint",
            s3_endpoint,
            "--s3-allow-http",
            "true",
            "--s3-access-key-id",
            "test",
            "--s3-secret-access-key",
            "test",
        ];
        let settings = Settings::from_args(args).unwrap();
        let missing = BlobStore::open(&settings.storage().unwrap()).unwrap();
        assert!(missing.probe().await.is_err());
    }
}
