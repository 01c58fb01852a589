# The `claude` preset from the npm registry (`BOTTLE_AGENT_FROM=npm`): the
# same pinned Claude Code version, installed in the build. Building it needs
# the Debian mirror (nodejs, npm) and the npm registry from inside the build.
FROM bottle/base:latest
ARG AGENT_VERSION
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
RUN npm install -g @anthropic-ai/claude-code@${AGENT_VERSION} && npm cache clean --force \
 && mkdir -p /opt/claude && ln -s "$(readlink -f "$(command -v claude)")" /opt/claude/claude
# The same first-run answers as the PyPI recipe (see claude-in-bottle).
COPY claude-in-bottle /usr/local/bin/claude
COPY CLAUDE.md /etc/claude-code/CLAUDE.md
RUN useradd --create-home --uid 1000 --user-group --shell /bin/bash bottle
USER bottle
WORKDIR /home/bottle
ENV HOME=/home/bottle LANG=C.UTF-8 DISABLE_AUTOUPDATER=1
CMD ["claude"]
