//! The OpenAPI 3.1 description, generated from the handlers' annotations.

use axum::Json;
use blindvault_wire::Problem;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build();
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The whole API.
#[derive(OpenApi)]
#[openapi(
    info(title = "blindvault", description = "Zero-knowledge encrypted-blob gateway: the HTTP contract, version 1."),
    paths(
        super::health::live,
        super::health::ready,
        super::health::metrics,
        super::health::limits,
        openapi_json,
        super::auth::prelogin,
        super::auth::register,
        super::auth::login,
        super::auth::refresh,
        super::auth::session,
        super::auth::logout,
        super::auth::credentials,
        super::sessions::second_factor,
        super::sessions::list,
        super::sessions::end_one,
        super::sessions::end_others,
        super::sessions::events,
        super::factors::status,
        super::factors::totp_begin,
        super::factors::totp_confirm,
        super::factors::totp_remove,
        super::factors::recovery_renew,
        super::factors::webauthn_begin,
        super::factors::webauthn_finish,
        super::factors::webauthn_remove,
        super::factors::webauthn_rename,
        super::account::read,
        super::account::delete_account,
        super::vaults::create,
        super::vaults::list,
        super::vaults::read,
        super::vaults::replace,
        super::vaults::remove,
        super::content::read,
        super::content::upload,
        super::direct::create,
        super::direct::part,
        super::direct::commit,
        super::direct::cancel,
        super::history::list,
        super::history::read,
        super::history::content,
        super::history::restore,
        super::trash::list,
        super::trash::restore,
        super::trash::purge,
        super::feed::changes,
        super::feed::stream,
        super::uploads::options,
        super::uploads::create,
        super::uploads::status,
        super::uploads::patch,
        super::uploads::terminate,
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth),
    tags(
        (name = "service", description = "Health, readiness, metrics, limits"),
        (name = "auth", description = "Accounts and sessions; the server never sees a password"),
        (name = "second factors", description = "TOTP, WebAuthn authenticators and recovery codes (beyond the v1 contract)"),
        (name = "vaults", description = "Encrypted blobs with ETag compare-and-swap"),
        (name = "history", description = "Earlier revisions, the trash and the change feed (beyond the v1 contract)"),
        (name = "uploads", description = "Resumable uploads of vaults (tus 1.0, beyond the v1 contract)"),
    )
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "service",
    responses((status = 200, description = "This description (OpenAPI 3.1)", content_type = "application/json")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
