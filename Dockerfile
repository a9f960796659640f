# Sampark bot: slim, non-root. Configuration comes from the environment (see README).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY locales ./locales
RUN pip wheel --no-cache-dir --wheel-dir /wheels . \
 && mkdir -p /app && cp -r locales /app/locales

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DATA_DIR=/data LOG_JSON=true \
    LOCALES_DIR=/app/locales MPLCONFIGDIR=/data/.matplotlib WEB_HOST=0.0.0.0 WEB_PORT=8080
RUN apt-get update && apt-get install -y --no-install-recommends fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app sampark \
 && mkdir -p /data && chown sampark /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY --from=build --chown=sampark /app /app
WORKDIR /app
USER sampark
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 CMD ["sampark", "health"]
CMD ["sampark", "run"]
