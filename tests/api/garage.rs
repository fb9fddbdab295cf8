//! The smoke test against Garage, which `scripts/test` starts when a garage binary is present
//! (`scripts/garage install`). Garage ignores conditional writes (`If-Match` on PUT), so these
//! runs prove that blindvault's compare-and-swap lives in the database, not in the S3 server:
//! concurrent writers still get exactly one winner and a linear history.

use crate::helpers::Deployment;

/// Runs each named `module::test(Deployment)` on Postgres + Garage.
macro_rules! on_garage {
    ($($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(deployment) = Deployment::garage() {
                    crate::$module::$name(deployment).await
                }
            }
        )*
    };
}

on_garage!(
    vaults_json::create_read_list_delete,
    vaults_json::replaces_need_the_current_etag,
    vaults_stream::content_round_trips_with_ranges,
    vaults_stream::an_interrupted_upload_keeps_the_previous_revision,
    vaults_stream::of_concurrent_writers_exactly_one_wins,
    history::concurrent_read_modify_writes_form_a_linear_history,
    blobs::large_objects_stream_as_multipart,
    blobs::a_failing_body_leaves_nothing,
    direct::direct_downloads_bypass_the_gateway,
    direct_uploads::direct_uploads_commit_only_what_was_declared,
    direct_uploads::the_sdk_uploads_directly_and_falls_back,
);
