//! OpenAPI pieces every service's document shares.
//!
//! The shared extractors and the standard layers answer some errors for any operation, whatever
//! its handler does: a JSON body that does not parse (400), is too large (413), is not JSON (415)
//! or has the wrong shape (422); a missing or invalid token (401); a dependency that is down
//! (503). [`StandardResponses`] documents them on every operation they can happen on, so the
//! document states every status a client can get (the API fuzzer checks exactly that).
//! [`ErrorBodies`] gives every error response of an annotation the envelope body, so annotations
//! state only the status and why; [`BearerAuth`] declares the `bearer` scheme. [`standard`]
//! applies all three, as `server::app` does before serving the document at `/openapi.json`.

use axum::{Json, Router, routing::get};
use utoipa::{
    Modify, PartialSchema, ToSchema,
    openapi::{
        Content, OpenApi, Ref, RefOr, ResponseBuilder,
        path::Operation,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use crate::error::ErrorEnvelope;

/// Name of the error envelope's schema in the components.
pub const ERROR_ENVELOPE_SCHEMA: &str = "ErrorEnvelope";

/// Name of the bearer security scheme operations refer to (`security(("bearer" = []))`).
pub const BEARER_SCHEME: &str = "bearer";

/// Applies [`ErrorBodies`], [`BearerAuth`] and [`StandardResponses`] to a service's document.
pub fn standard(mut openapi: OpenApi) -> OpenApi {
    for modifier in [&ErrorBodies as &dyn Modify, &BearerAuth, &StandardResponses] {
        modifier.modify(&mut openapi);
    }
    openapi
}

/// `GET /openapi.json` serving `openapi` as it is.
pub fn router(openapi: OpenApi) -> Router {
    Router::new().route("/openapi.json", get(move || std::future::ready(Json(openapi.clone()))))
}

/// Declares the `bearer` scheme: a JWT in `Authorization: Bearer`.
pub struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER_SCHEME,
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// Gives every 4xx and 5xx response without a body the error envelope, and adds the envelope's
/// schemas to the components.
pub struct ErrorBodies;

impl Modify for ErrorBodies {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut schemas = vec![(ErrorEnvelope::name().into_owned(), ErrorEnvelope::schema())];
        ErrorEnvelope::schemas(&mut schemas);
        for (name, schema) in schemas {
            components.schemas.entry(name).or_insert(schema);
        }
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                let errors = operation.responses.responses.iter_mut().filter(|(status, _)| status.starts_with(['4', '5']));
                for (_, response) in errors {
                    if let RefOr::T(response) = response
                        && response.content.is_empty()
                    {
                        response
                            .content
                            .insert("application/json".into(), Content::new(Some(Ref::from_schema_name(ERROR_ENVELOPE_SCHEMA))));
                    }
                }
            }
        }
    }
}

/// Adds the responses the shared machinery can give to every operation that lacks them.
pub struct StandardResponses;

impl Modify for StandardResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                add_standard_responses(operation);
            }
        }
    }
}

fn add_standard_responses(operation: &mut Operation) {
    let mut standard = Vec::new();
    if operation.request_body.is_some() {
        standard.extend([
            ("400", "the body is not valid JSON"),
            ("413", "the body is over the size limit"),
            ("415", "the body is not application/json"),
            ("422", "the body has missing or invalid fields"),
        ]);
    }
    if operation.security.as_ref().is_some_and(|requirements| !requirements.is_empty()) {
        standard.push(("401", "no valid bearer token, or the session has been revoked"));
    }
    standard.push(("503", "a dependency is unavailable; retry after `Retry-After` seconds"));
    for (status, description) in standard {
        operation.responses.responses.entry(status.to_owned()).or_insert_with(|| RefOr::T(error_response(description)));
    }
}

/// A response whose body is the error envelope.
pub fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", Content::new(Some(Ref::from_schema_name(ERROR_ENVELOPE_SCHEMA))))
        .build()
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::{
        OpenApiBuilder, PathItem, Required,
        path::{HttpMethod, OperationBuilder, PathsBuilder},
        request_body::RequestBodyBuilder,
        security::SecurityRequirement,
    };

    use super::*;

    #[test]
    fn body_and_token_errors_are_documented_where_they_can_happen() {
        let with_body = OperationBuilder::new()
            .request_body(Some(RequestBodyBuilder::new().required(Some(Required::True)).build()))
            .response("422", ResponseBuilder::new().description("own description"))
            .build();
        let secured = OperationBuilder::new().security(SecurityRequirement::new("bearer", Vec::<String>::new())).build();
        let mut openapi = OpenApiBuilder::new()
            .paths(
                PathsBuilder::new()
                    .path("/body", PathItem::new(HttpMethod::Post, with_body))
                    .path("/secured", PathItem::new(HttpMethod::Get, secured)),
            )
            .build();
        StandardResponses.modify(&mut openapi);
        let statuses = |path: &str, op: fn(&PathItem) -> &Option<Operation>| {
            let responses = &op(&openapi.paths.paths[path]).as_ref().unwrap().responses.responses;
            responses.keys().cloned().collect::<Vec<_>>()
        };
        assert_eq!(statuses("/body", |i| &i.post), ["400", "413", "415", "422", "503"]);
        assert_eq!(statuses("/secured", |i| &i.get), ["401", "503"]);
        let post = openapi.paths.paths["/body"].post.as_ref().unwrap();
        let RefOr::T(kept) = &post.responses.responses["422"] else { panic!("a reference") };
        assert_eq!(kept.description, "own description", "an operation's own response is kept");
    }

    #[test]
    fn error_responses_get_the_envelope_and_the_scheme_is_declared() {
        let op = OperationBuilder::new()
            .response("200", ResponseBuilder::new().description("ok"))
            .response("409", ResponseBuilder::new().description("taken"))
            .build();
        let openapi = standard(OpenApiBuilder::new().paths(PathsBuilder::new().path("/x", PathItem::new(HttpMethod::Post, op))).build());
        let responses = &openapi.paths.paths["/x"].post.as_ref().unwrap().responses.responses;
        let body = |status: &str| match &responses[status] {
            RefOr::T(r) => serde_json::to_value(&r.content).unwrap(),
            RefOr::Ref(_) => panic!("a reference"),
        };
        assert_eq!(body("409")["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorEnvelope");
        assert_eq!(body("503")["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorEnvelope");
        assert_eq!(body("200"), serde_json::json!({}), "a success response is left alone");
        let components = openapi.components.unwrap();
        for schema in ["ErrorEnvelope", "ErrorDetail", "BTreeMap"] {
            assert!(components.schemas.contains_key(schema), "{schema} is missing: the envelope's references would dangle");
        }
        assert!(components.security_schemes.contains_key("bearer"));
    }
}
