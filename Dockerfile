# syntax=docker/dockerfile:1
# One image holding every binary of the platform; each workload runs its own:
#   docker run couple-platform gateway serve    (or user-couple, question-answer, ..., each with
#                                                `serve` or `migrate`; the operator: couple-operator run)
# Build:  docker build -t couple-platform:0.1.0 .     (the tag is the chart's appVersion;
#         `make kind-up` builds it and loads it into a kind cluster)

# ---- build ----------------------------------------------------------------------------------
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY services ./services
COPY operator ./operator
# The crate cache and target/ live in BuildKit cache mounts, so a rebuild after a code change only
# compiles the changed crates. target/ is not part of the image: the binaries are copied out.
# couple-registry's binary only serves the development scripts, so it stays out. Every service
# binary is copied, and what one reads at run time is compiled in (question-answer's seed
# questions, schedule-meeting's places catalogue and the trait space are include_str!'d), so the
# runtime stage needs no data files.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --workspace --exclude couple-registry --bins \
    && mkdir -p /out \
    && find target/release -maxdepth 1 -type f -executable -exec cp {} /out/ \; \
    && for bin in gateway user-couple schedule-meeting question-answer chat couple-operator; do \
        test -x "/out/${bin}" || { echo "the image lacks ${bin}" >&2; exit 1; }; \
    done

# ---- runtime --------------------------------------------------------------------------------
# distroless: glibc and CA certificates only, no shell. The workloads run with a read-only root
# filesystem; what they write (/tmp, data) is on volumes the operator and the chart mount.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
# The distroless nonroot user, by number: with a user name the kubelet cannot check
# runAsNonRoot unless the pod also sets runAsUser.
USER 65532:65532
ENV COUPLE_LOG_FORMAT=json
# API ports: gateway 8080, user-couple 8081, schedule-meeting 8082, question-answer 8086, chat
# 8000 (REST and the WebSocket); every platform binary serves /metrics on 9090. The operator
# (couple-operator run) serves /livez, /readyz and /metrics on 8080. The operator and the chart set each container's command; this image has no entrypoint.
EXPOSE 8000 8080 8081 8082 8086 9090
ENTRYPOINT []
CMD ["gateway", "serve"]
