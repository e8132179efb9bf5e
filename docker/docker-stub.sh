#!/bin/sh
# Stand-in for the docker CLI inside the agent: Docker-in-Docker is not offered.
echo "ERROR: Docker-in-Docker support was removed in AWF v0.9.1. The docker command is not available inside the firewall sandbox." >&2
exit 127
