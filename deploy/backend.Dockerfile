# The demo backend for deploy/compose.yaml (build context: the repository root).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p pf-demo

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 pf
COPY --from=build /src/target/release/pf-demo /usr/local/bin/pf-demo
USER pf
EXPOSE 3000
ENV PF_DEMO_ADDR=0.0.0.0:3000
ENTRYPOINT ["/usr/local/bin/pf-demo"]
