# The `codex` preset from the npm registry (`BOTTLE_AGENT_FROM=npm`): the
# same pinned Codex version, installed in the build. Building it needs the
# Debian mirror (nodejs, npm) and the npm registry from inside the build.
FROM bottle/base:latest
ARG AGENT_VERSION
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
RUN npm install -g @openai/codex@${AGENT_VERSION} && npm cache clean --force
RUN useradd --create-home --uid 1000 --user-group --shell /bin/bash bottle \
 && install -d -o bottle -g bottle /home/bottle/.codex
COPY --chown=bottle:bottle AGENTS.md /home/bottle/.codex/AGENTS.md
USER bottle
WORKDIR /home/bottle
ENV HOME=/home/bottle LANG=C.UTF-8
CMD ["codex"]
