#!/usr/bin/env bash
# Check a policy change in a policy repository's CI (GitHub Actions, GitLab CI, anything):
#   1. `validate` the proposed policy file;
#   2. serve the committed (anonymized) snapshot with the sandbox;
#   3. `plan --against`: the base branch's file and the proposed one on the same read.
# Exit 0: no difference; 4: the edit changes what the bot does (the difference is in
# plan-diff.txt and plan-diff.json, for the merge request); anything else: a real failure.
#
# Usage, from the repository's root: check-policies.sh BASE_REF   (e.g. origin/main)
# Settings: SNAPSHOT (default snapshot/site.yaml), CONFIG (default config/policies.yaml),
#           PORT (default 8090), HANDOFF_GUARD (default: handoff-guard).
set -euo pipefail
base_ref=${1:?usage: check-policies.sh BASE_REF}
snapshot=${SNAPSHOT:-snapshot/site.yaml}
config=${CONFIG:-config/policies.yaml}
port=${PORT:-8090}
read -r -a hg <<<"${HANDOFF_GUARD:-handoff-guard}"

"${hg[@]}" validate "$config"

# The base branch's policy folder (the file that runs today, with its templates).
base=$(mktemp -d)
git archive "$base_ref" "$(dirname "$config")" | tar -x -C "$base"

"${hg[@]}" sandbox --site "$snapshot" --port "$port" >sandbox.log 2>&1 &
sandbox=$!
trap 'kill "$sandbox" 2>/dev/null || true; rm -rf "$base"' EXIT

# Wait for the sandbox, then log in as the snapshot's bot (the token is a placeholder).
eval "$(python3 - "$port" <<'PY'
import json, sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}"
for _ in range(200):
    try:
        site = json.load(urllib.request.urlopen(url + "/_sandbox/site", timeout=2))["site"]
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("the sandbox did not start: see sandbox.log")
bot = site["bot"]
print(f"export JIRA_URL={url} JIRA_FLAVOR={site['flavor']} CONFLUENCE_URL={url}/wiki")
if site["flavor"] == "cloud":
    print(f"export JIRA_USERNAME={bot['email']} JIRA_API_TOKEN={bot['api_token']}")
else:
    print(f"export JIRA_PERSONAL_TOKEN={bot['api_token']}")
PY
)"
export HANDOFF_GUARD_STATE="$base/state.db" HANDOFF_GUARD_CONFIG="$base/$config"

code=0
"${hg[@]}" plan --against "$config" >plan-diff.txt || code=$?
if [ "$code" -ne 0 ] && [ "$code" -ne 4 ]; then cat plan-diff.txt; exit "$code"; fi
"${hg[@]}" plan --against "$config" --format json >plan-diff.json || true
cat plan-diff.txt
exit "$code"
