#!/bin/sh
# A minimal mail delivery agent for fetchmail: one file per message in $1.
cat >"$(mktemp "$1/msg.XXXXXX")"
