# The image jobs/kubernetes/cronjobs.yaml runs: opik-store and its maintenance jobs.
#   docker build -t opik-store:latest .
#   docker run --rm -e OPIK_STORE_URL=clickhouse://ops:secret@ch:9000/ opik-store:latest status
FROM python:3.11-slim
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY opik_store ./opik_store
COPY ddl ./ddl
COPY migrations ./migrations
RUN pip install --no-cache-dir . \
    && useradd --system --create-home --uid 10001 opik-store \
    && rm -rf /src
USER opik-store
WORKDIR /home/opik-store
ENTRYPOINT ["opik-store"]
CMD ["--help"]
