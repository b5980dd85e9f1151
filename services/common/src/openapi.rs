//! OpenAPI pieces every service's document shares.
//!
//! The shared extractors and the standard layers answer some errors for any operation, whatever
//! its handler does: a JSON body that does not parse (400), is too large (413), is not JSON (415)
//! or has the wrong shape (422); a missing or invalid token (401); a dependency that is down
//! (503). [`StandardResponses`] documents them on every operation they can happen on, so the
//! document states every status a client can get (the API fuzzer checks exactly that).

use utoipa::{
    Modify,
    openapi::{Content, OpenApi, Ref, RefOr, ResponseBuilder, path::Operation},
};

/// Name of the error envelope's schema in the components.
pub const ERROR_ENVELOPE_SCHEMA: &str = "ErrorEnvelope";

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
}
