# aiflow worker image: `python worker.py` (same as `aiflow worker`).
#
# The project is installed in editable mode from a copy of the repository because
# data/ (rules, prompts, offline provider data) is read from the source tree at
# run time. Code and data are owned by root and read-only for the app user.
FROM python:3.11.17-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Unprivileged runtime user with a writable home and a scratch dir (var/).
RUN groupadd --system --gid 10001 aiflow \
 && useradd --system --uid 10001 --gid aiflow --create-home --home-dir /home/aiflow \
        --shell /usr/sbin/nologin aiflow

WORKDIR /app

# Dependencies first, read from pyproject.toml with the standard library, so this
# layer is rebuilt only when the dependency list changes, not on every code edit.
COPY pyproject.toml ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(deps))" > /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# Sources and data (.dockerignore keeps this to what the worker needs).
COPY . .
RUN pip install --no-cache-dir -e . \
 && mkdir -p /app/var \
 && chown aiflow:aiflow /app/var

USER aiflow

# The worker drains in-flight tasks on SIGTERM (AIFLOW_SHUTDOWN_GRACE_SECONDS);
# give it a stop timeout above that grace (compose: stop_grace_period).
STOPSIGNAL SIGTERM
CMD ["python", "worker.py"]
