# syntax=docker/dockerfile:1
# The base is python:3.12-slim pinned to one build by digest (its multi-arch index as of
# September 2026): a rebuild gets the same base until the digest is bumped on purpose
# (README, "Updating": docker pull python:3.12-slim, then copy its RepoDigest here, twice).

# Build stage: make the wheel and install it with its dependencies into /opt/venv.
FROM python:3.12-slim@sha256:2fe5997d249a808b8eeea52c58a1dbffbba28754dc11699ef5c029f2d818ce79 AS build
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
FROM python:3.12-slim@sha256:2fe5997d249a808b8eeea52c58a1dbffbba28754dc11699ef5c029f2d818ce79
# IMGURBOT_RUN__SUPERVISED: Docker restarts the bot whenever it exits, so a mistake only the
# admin can fix (no token, a bad setting, an unusable /data) keeps it up and unhealthy with
# the reason in the log, instead of a restart loop. Secrets come from DISCORD_TOKEN_FILE and
# IMGUR_CLIENT_ID_FILE (compose.yaml) or plain variables; settings from /app/config.toml
# (mount yours over it) or IMGURBOT_<SECTION>__<KEY> variables.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    IMGURBOT_CONFIG=/app/config.toml \
    IMGURBOT_STORE__PATH=/data/imgurbot.db \
    IMGURBOT_RUN__SUPERVISED=true
# Meme captions need fonts (bot/memes/fonts.py): DejaVu for the text, Noto Color Emoji for
# emoji, WenQuanYi Micro Hei for Chinese, Japanese and Korean. Fonts are data: the versions
# of the pinned base's Debian release are the ones wanted, so they are not pinned again.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        fonts-dejavu-core fonts-noto-color-emoji fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 imgurbot \
    && useradd --system --uid 10001 --gid imgurbot --home-dir /app --no-create-home imgurbot \
    && mkdir -p /app /data \
    && chown imgurbot:imgurbot /data
COPY --from=build /opt/venv /opt/venv
COPY config.example.toml /app/config.toml
WORKDIR /app
USER 10001:10001
VOLUME ["/data"]
# Healthy only while the bot's heartbeat (every [run] heartbeat_s, 15 s) says the gateway is
# connected and the database took a write; `docker inspect` shows the reason otherwise.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["imgurbot", "check", "--health"]
ENTRYPOINT ["imgurbot"]
CMD ["run"]
