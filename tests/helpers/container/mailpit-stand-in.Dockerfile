# A STAND-IN for Mailpit (the mail catcher of docker-compose.yml), not Mailpit itself. The container
# tier builds it under Mailpit's name and tag only when that image is absent and no registry can
# supply it (see container.global-setup.ts): maildev, the development dependency that also serves
# `./quick-start.sh mail`, on Mailpit's ports: SMTP on 1025, the web UI on 8025. Its UI and HTTP
# API are maildev's, not Mailpit's.
ARG NODE_IMAGE=node:24-bookworm-slim
FROM ${NODE_IMAGE}
ARG MAILDEV_VERSION
RUN npm install -g --no-fund --no-audit "maildev@${MAILDEV_VERSION}"
USER node
EXPOSE 1025 8025
CMD ["maildev", "--ip", "0.0.0.0", "--smtp", "1025", "--web", "8025"]
