# syntax=docker/dockerfile:1
# Build stage: make the wheel and install it with its dependencies into /opt/venv.
FROM python:3.12-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
COPY fakes ./fakes
RUN /opt/venv/bin/pip install --no-compile . \
    && /opt/venv/bin/pip uninstall --yes pip

# Runtime stage: only the virtualenv, a non-root user and the data volume.
FROM python:3.12-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    IMGURBOT_CONFIG=/app/config.toml \
    IMGURBOT_STORE__PATH=/data/imgurbot.db
RUN groupadd --system --gid 10001 imgurbot \
    && useradd --system --uid 10001 --gid imgurbot --home-dir /app --no-create-home imgurbot \
    && mkdir -p /app /data \
    && chown imgurbot:imgurbot /data
COPY --from=build /opt/venv /opt/venv
COPY config.example.toml /app/config.toml
WORKDIR /app
USER 10001:10001
VOLUME ["/data"]
HEALTHCHECK --interval=60s --timeout=10s --start-period=20s --retries=3 \
    CMD ["imgurbot", "check"]
ENTRYPOINT ["imgurbot"]
CMD ["run"]
