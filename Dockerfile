# One image holding every binary of the platform; each workload runs its own:
#   docker run couple-platform gateway        (or user-couple, ..., each with `serve` or `migrate`)
# Build:  docker build -t couple-platform:0.1.0 .

# ---- build ----------------------------------------------------------------------------------
FROM rust:1-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so code changes do not rebuild them.
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY services ./services
COPY operator ./operator
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bins \
    && mkdir -p /out \
    && find target/release -maxdepth 1 -type f -executable -exec cp {} /out/ \;

# ---- runtime --------------------------------------------------------------------------------
# distroless: glibc and CA certificates only, no shell, runs as an unprivileged user.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
USER nonroot:nonroot
ENV COUPLE_LOG_FORMAT=json
# The API ports: gateway 8080, user-couple 8081 (the operator sets each workload's command);
# the operator (couple-operator run) serves health and metrics on 8080.
EXPOSE 8080 8081
ENTRYPOINT []
CMD ["gateway", "serve"]
