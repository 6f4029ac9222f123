#!/usr/bin/env bash
# The HTTP API with curl: upload a video, ask about it, poll a job.
# Usage: O3_SERVER=http://localhost:8000 O3_API_KEY=... ./curl.sh clip.mp4 "What is the man holding?"
set -euo pipefail
SERVER="${O3_SERVER:-http://127.0.0.1:8000}"
VIDEO="${1:?usage: curl.sh VIDEO QUESTION}"
QUESTION="${2:?usage: curl.sh VIDEO QUESTION}"
AUTH=()
[ -n "${O3_API_KEY:-}" ] && AUTH=(-H "Authorization: Bearer ${O3_API_KEY}")

# 1. Upload (streamed; the sha256 of the bytes is the id; re-uploading is free).
VIDEO_ID=$(curl -sS --fail-with-body "${AUTH[@]}" -F "file=@${VIDEO}" "$SERVER/v1/videos" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "video_id: $VIDEO_ID"

# 2. Ask synchronously (JSON body; every field but the question and the video is optional).
BODY=$(python3 -c 'import json,sys; print(json.dumps({"video_id": sys.argv[1], "question": sys.argv[2], "n": 8, "voting": "confidence"}))' "$VIDEO_ID" "$QUESTION")
curl -sS --fail-with-body "${AUTH[@]}" -H "Content-Type: application/json" -d "$BODY" \
  "$SERVER/v1/reason" | python3 -m json.tool

# 3. The same as a job: 202 + job id, then poll until done.
JOB_BODY=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["async"]=True; print(json.dumps(d))' "$BODY")
JOB_ID=$(curl -sS --fail-with-body "${AUTH[@]}" -H "Content-Type: application/json" -d "$JOB_BODY" \
  "$SERVER/v1/reason" | python3 -c 'import json,sys; print(json.load(sys.stdin)["job_id"])')
while :; do
  JOB=$(curl -sS --fail-with-body "${AUTH[@]}" "$SERVER/v1/jobs/$JOB_ID")
  STATUS=$(echo "$JOB" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
  echo "job $JOB_ID: $STATUS"
  case "$STATUS" in done|failed|cancelled) break ;; esac
  sleep 1
done
echo "$JOB" | python3 -c 'import json,sys; r=json.load(sys.stdin)["result"] or {}; print("answer:", r.get("answer"), "confidence:", r.get("confidence"))'

# Or in one request, multipart: the file plus the fields as form fields.
# curl -sS "${AUTH[@]}" -F "file=@${VIDEO}" -F "question=$QUESTION" -F "n=8" "$SERVER/v1/reason"
