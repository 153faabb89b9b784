#!/usr/bin/env bash
# Create a partner agency's topics and Kafka ACLs from the partner registry.
#
#   deploy/kafka/partner-acl.sh [--dry-run] --registry FILE --partner CODE --principal User:NAME \
#       [--gateway-principal User:gateway] [--bootstrap HOST:PORT] [--command-config FILE] \
#       [--partitions 6] [--replication-factor 1]
#
# The partner's principal may WRITE only its own request topic and READ its reply and
# notification topics (and use consumer groups prefixed "partner.<CODE>."); the gateway's
# principal READs the request topic and WRITEs the other two. The gateway trusts the topic a
# request arrived on as the partner's identity, so these ACLs are what make that trust sound.
# --dry-run prints the commands instead of running them. The commands are Kafka's own
# TopicCommand and AclCommand (run through kafka.sh tool, i.e. the Maven Central jars).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

dry_run=0 registry="" partner="" principal="" gateway_principal="User:gateway"
bootstrap="127.0.0.1:19092" command_config="" partitions=6 replication=1
while (($#)); do
    case "$1" in
        --dry-run) dry_run=1 ;;
        --registry) registry="$2"; shift ;;
        --partner) partner="$2"; shift ;;
        --principal) principal="$2"; shift ;;
        --gateway-principal) gateway_principal="$2"; shift ;;
        --bootstrap) bootstrap="$2"; shift ;;
        --command-config) command_config="$2"; shift ;;
        --partitions) partitions="$2"; shift ;;
        --replication-factor) replication="$2"; shift ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
[[ -n "$registry" && -n "$partner" && -n "$principal" ]] || {
    sed -n '2,13p' "$0" >&2; exit 2; }
[[ "$principal" == User:* && "$gateway_principal" == User:* ]] || {
    echo "principals look like User:NAME" >&2; exit 2; }

# The partner's three topics, from the same registry file the gateway validates.
read -r request_topic reply_topic notification_topic < <(python3 - "$registry" "$partner" <<'PY'
import sys, tomllib
registry, code = sys.argv[1], sys.argv[2]
with open(registry, "rb") as f:
    partners = {p["code"]: p for p in tomllib.load(f).get("partner", [])}
if code not in partners:
    sys.exit(f"partner {code} is not in {registry}")
p = partners[code]
print(p["request_topic"], p["reply_topic"], p["notification_topic"])
PY
)

connection=(--bootstrap-server "$bootstrap")
[[ -n "$command_config" ]] && connection+=(--command-config "$command_config")

run() {
    if ((dry_run)); then
        printf 'kafka.sh tool'; printf ' %q' "$@"; printf '\n'
    else
        bash "$here/kafka.sh" tool "$@" >/dev/null
    fi
}

for topic in "$request_topic" "$reply_topic" "$notification_topic"; do
    run TopicCommand "${connection[@]}" --create --if-not-exists --topic "$topic" \
        --partitions "$partitions" --replication-factor "$replication"
done

acl() { run AclCommand "${connection[@]}" --add --allow-principal "$@"; }
acl "$principal" --operation Write --operation Describe --topic "$request_topic"
acl "$principal" --operation Read --operation Describe --topic "$reply_topic" \
    --topic "$notification_topic"
acl "$principal" --operation Read --resource-pattern-type prefixed --group "partner.$partner."
acl "$gateway_principal" --operation Read --operation Describe --topic "$request_topic"
acl "$gateway_principal" --operation Write --operation Describe --topic "$reply_topic" \
    --topic "$notification_topic"

((dry_run)) || echo "topics and ACLs for $partner ($principal) are in place"
