#!/usr/bin/env bash
# Records raw kube-apiserver answers for the TokenRequest subsystem into this directory, one file
# per request: the request (method, path, headers we set, body), then the response exactly as curl
# -i shows it over HTTP/1.1 (status line, every header, body), then the decoded JWT header and
# claims when the response carried a token. Every JWT is replaced by <redacted>.
#
# Usage: record.sh SERVER_URL CA_FILE ADMIN_TOKEN_FILE [OUT_DIR]
# Needs: a server started with the flags in ../README.md, namespace/objects created by setup()
# below (it creates them), curl, python3.
set -euo pipefail
SERVER=$1 CA=$2 TOKEN_FILE=$3 OUT=${4:-$(dirname "$0")}
AUTH=$(mktemp); trap 'rm -f "$AUTH" "$TMP"' EXIT; TMP=$(mktemp)
printf 'Authorization: Bearer %s\n' "$(cat "$TOKEN_FILE")" > "$AUTH"
NS=tr
JWT_RE='eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+'

redact() { sed -E "s/$JWT_RE/<redacted>/g"; }
decode_jwts() {
  grep -oE "$JWT_RE" "$1" | sort -u | python3 -c '
import sys, base64, json
for t in sys.stdin.read().split():
    h, p, _ = t.split(".")
    d = lambda x: json.loads(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))
    print("header:", json.dumps(d(h), sort_keys=True))
    print("claims:", json.dumps(d(p), sort_keys=True))' || true
}
# call NAME METHOD PATH [BODY] [extra curl args...]; auth = admin unless AS=none / AS=bearer:<token>
call() {
  local name=$1 method=$2 path=$3 body=${4-} ; shift 4 || shift $#
  local auth=(-H "@$AUTH")
  case "${AS:-admin}" in none) auth=() ;; bearer:*) auth=(-H "Authorization: Bearer ${AS#bearer:}") ;; esac
  local data=()
  [ -n "$body" ] && data=(--data-binary "$body")
  curl -sS -i --http1.1 --cacert "$CA" "${auth[@]}" -X "$method" \
    -H "Content-Type: ${CT:-application/json}" -H "Accept: ${ACCEPT:-application/json}" "${data[@]}" "$@" \
    "$SERVER$path" > "$TMP"
  {
    echo "# request"
    echo "$method $path"
    echo "Authorization: ${AS:-admin}" | sed -E 's/bearer:.*/bearer <redacted>/'
    echo "Content-Type: ${CT:-application/json}"; echo "Accept: ${ACCEPT:-application/json}"
    for a in "$@"; do echo "curl-arg: $a"; done
    [ -n "$body" ] && { echo; echo "$body" | redact | cut -c1-2000; }
    echo
    echo "# response"
    tr -d '\r' < "$TMP" | redact
    echo
    if grep -qE "$JWT_RE" "$TMP"; then echo; echo "# decoded JWTs (signature dropped)"; decode_jwts "$TMP"; fi
  } > "$OUT/$name.txt"
  head -1 "$TMP" | tr -d '\r' | sed "s|^|$name: |"
}
token_of() { grep -oE "$JWT_RE" "$TMP" | head -1; }
uid_of() { curl -sS --cacert "$CA" -H "@$AUTH" "$SERVER$1" | python3 -c 'import sys,json; print(json.load(sys.stdin)["metadata"]["uid"])'; }
TR() { echo "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenRequest\",\"spec\":$1}"; }
TOK=/api/v1/namespaces/$NS/serviceaccounts/sa1/token

setup() {
  local j='-H Content-Type:application/json'
  post() { curl -sS -o /dev/null -w "setup $1: %{http_code}\n" --cacert "$CA" -H "@$AUTH" $j -X POST --data-binary "$2" "$SERVER$1"; }
  post /api/v1/namespaces '{"metadata":{"name":"'$NS'"}}'
  post /api/v1/namespaces/$NS/serviceaccounts '{"metadata":{"name":"sa1"}}'
  post /api/v1/namespaces/$NS/serviceaccounts '{"metadata":{"name":"other"}}'
  post /api/v1/namespaces/$NS/secrets '{"metadata":{"name":"s1"},"stringData":{"a":"b"}}'
  post /api/v1/namespaces/$NS/configmaps '{"metadata":{"name":"cm1"},"data":{"a":"b"}}'
  post /api/v1/nodes '{"metadata":{"name":"node1"}}'
  post /api/v1/namespaces/$NS/pods '{"metadata":{"name":"p1"},"spec":{"serviceAccountName":"sa1","nodeName":"node1","containers":[{"name":"c","image":"example.invalid/x"}]}}'
  post /api/v1/namespaces/$NS/pods '{"metadata":{"name":"p2"},"spec":{"serviceAccountName":"sa1","nodeName":"ghost-node","containers":[{"name":"c","image":"example.invalid/x"}]}}'
  post /api/v1/namespaces/$NS/pods '{"metadata":{"name":"pother"},"spec":{"serviceAccountName":"other","containers":[{"name":"c","image":"example.invalid/x"}]}}'
}
setup
SA_UID=$(uid_of /api/v1/namespaces/$NS/serviceaccounts/sa1)
POD_UID=$(uid_of /api/v1/namespaces/$NS/pods/p1)
SECRET_UID=$(uid_of /api/v1/namespaces/$NS/secrets/s1)
NODE_UID=$(uid_of /api/v1/nodes/node1)
BAD=00000000-0000-0000-0000-000000000000

# --- TokenRequest: success
call 01-create-default POST $TOK "$(TR '{}')"
call 02-create-labels-status-echo POST $TOK '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","metadata":{"name":"sa1","namespace":"'$NS'","uid":"'$SA_UID'","labels":{"l":"v"},"annotations":{"a":"v"}},"spec":{"audiences":["vault","vault",""],"expirationSeconds":600},"status":{"token":"client-sent","expirationTimestamp":"2000-01-01T00:00:00Z"}}'
call 03-create-no-apiversion-kind POST $TOK '{"spec":{}}'
call 04-create-audiences-empty-string POST $TOK "$(TR '{"audiences":[""]}')"
call 05-within-max-no-warning POST $TOK "$(TR '{"expirationSeconds":7200}')"
call 06-clamp-warning POST $TOK "$(TR '{"expirationSeconds":172800}')"
call 07-clamp-2pow32 POST $TOK "$(TR '{"expirationSeconds":4294967296}')"
call 08-bound-pod POST $TOK "$(TR '{"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"p1","uid":"'$POD_UID'"}}')"
call 09-bound-pod-3607-extended POST $TOK "$(TR '{"expirationSeconds":3607,"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"p1"}}')"
call 10-bound-pod-3607-foreign-aud POST $TOK "$(TR '{"expirationSeconds":3607,"audiences":["vault"],"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"p1"}}')"
call 11-bound-pod-ghost-node POST $TOK "$(TR '{"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"p2"}}')"
call 12-bound-secret POST $TOK "$(TR '{"boundObjectRef":{"kind":"Secret","apiVersion":"v1","name":"s1"}}')"
call 13-bound-node POST $TOK "$(TR '{"boundObjectRef":{"kind":"Node","apiVersion":"v1","name":"node1"}}')"
call 14-bound-pod-apiversion-v2 POST $TOK "$(TR '{"boundObjectRef":{"kind":"Pod","apiVersion":"v2","name":"p1"}}')"
call 15-bound-pod-apiversion-empty POST $TOK "$(TR '{"boundObjectRef":{"kind":"Pod","name":"p1"}}')"
call 16-dryrun-all POST "$TOK?dryRun=All" "$(TR '{}')"
call 17-fieldmanager-pretty POST "$TOK?fieldManager=x&pretty=true" "$(TR '{}')"
call 18-unknown-field-warning POST $TOK "$(TR '{"foo":1}')"
# --- TokenRequest: errors
call 20-expiration-60 POST $TOK "$(TR '{"expirationSeconds":60}')"
call 21-expiration-0 POST $TOK "$(TR '{"expirationSeconds":0}')"
call 22-expiration-2pow32-plus-1 POST $TOK "$(TR '{"expirationSeconds":4294967297}')"
call 23-expiration-60-and-configmap POST $TOK "$(TR '{"expirationSeconds":60,"boundObjectRef":{"kind":"ConfigMap","apiVersion":"v1","name":"cm1"}}')"
call 24-bound-configmap POST $TOK "$(TR '{"boundObjectRef":{"kind":"ConfigMap","apiVersion":"v1","name":"cm1"}}')"
call 25-bound-kind-lowercase POST $TOK "$(TR '{"boundObjectRef":{"kind":"pod","apiVersion":"v1","name":"p1"}}')"
call 26-bound-pod-apps-group POST $TOK "$(TR '{"boundObjectRef":{"kind":"Pod","apiVersion":"apps/v1","name":"p1"}}')"
call 27-bound-empty-name POST $TOK "$(TR '{"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":""}}')"
call 28-bound-missing-pod POST $TOK "$(TR '{"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"nope"}}')"
call 29-bound-missing-secret POST $TOK "$(TR '{"boundObjectRef":{"kind":"Secret","apiVersion":"v1","name":"nope"}}')"
call 30-bound-missing-node POST $TOK "$(TR '{"boundObjectRef":{"kind":"Node","apiVersion":"v1","name":"nope"}}')"
call 31-bound-pod-other-sa POST $TOK "$(TR '{"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"pother"}}')"
call 32-bound-pod-uid-mismatch POST $TOK "$(TR '{"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"p1","uid":"'$BAD'"}}')"
call 33-bound-secret-uid-mismatch POST $TOK "$(TR '{"boundObjectRef":{"kind":"Secret","apiVersion":"v1","name":"s1","uid":"'$BAD'"}}')"
call 34-bound-node-uid-mismatch POST $TOK "$(TR '{"boundObjectRef":{"kind":"Node","apiVersion":"v1","name":"node1","uid":"'$BAD'"}}')"
call 35-name-mismatch POST $TOK '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","metadata":{"name":"someone-else"},"spec":{}}'
call 36-namespace-mismatch POST $TOK '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","metadata":{"namespace":"elsewhere"},"spec":{}}'
call 37-sa-uid-mismatch POST $TOK '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","metadata":{"uid":"'$BAD'"},"spec":{}}'
call 38-missing-sa POST /api/v1/namespaces/$NS/serviceaccounts/nope/token "$(TR '{}')"
call 39-missing-namespace POST /api/v1/namespaces/nope/serviceaccounts/sa1/token "$(TR '{}')"
call 40-dryrun-invalid POST "$TOK?dryRun=Foo" "$(TR '{}')"
call 41-unknown-field-strict POST "$TOK?fieldValidation=Strict" "$(TR '{"foo":1}')"
call 42-malformed-json POST $TOK '{"spec":'
call 42b-wrong-json-type POST $TOK "$(TR '{"expirationSeconds":"soon"}')"
call 43-wrong-apiversion POST $TOK '{"apiVersion":"authentication.k8s.io/v1beta1","kind":"TokenRequest","spec":{}}'
call 44-wrong-kind POST $TOK '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{}}'
call 45-get-method GET $TOK ""
call 46-put-method PUT $TOK "$(TR '{}')"
CT=text/plain call 47-content-type-text POST $TOK "$(TR '{}')"
ACCEPT=text/html call 48-accept-html POST $TOK "$(TR '{}')"
CT=application/yaml call 48b-content-type-yaml POST $TOK 'apiVersion: authentication.k8s.io/v1
kind: TokenRequest
spec: {}'
python3 -c 'import json; print(json.dumps({"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","metadata":{"annotations":{"x":"y"*3200000}},"spec":{}}))' > "$TMP.big"
call 49-too-large POST $TOK "" --data-binary "@$TMP.big"; rm -f "$TMP.big"
AS=none call 50-anonymous POST $TOK "$(TR '{}')"
AS="bearer:garbage" call 51-bearer-garbage GET /api/v1/namespaces/$NS/serviceaccounts ""
# --- a service-account token used on the API
call 52-mint-for-bearer POST $TOK "$(TR '{}')" >/dev/null; SATOK=$(token_of)
AS="bearer:$SATOK" call 53-sa-forbidden-create-token POST $TOK "$(TR '{}')"
AS="bearer:$SATOK" call 54-sa-reads-discovery GET /.well-known/openid-configuration ""
call 52b-mint-vault POST $TOK "$(TR '{"audiences":["vault"]}')" >/dev/null; VAULTTOK=$(token_of)
AS="bearer:$VAULTTOK" call 55-foreign-audience-bearer GET /api ""
# --- TokenReview
TRV=/apis/authentication.k8s.io/v1/tokenreviews
REV() { echo "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenReview\",\"spec\":$1}"; }
call 52c-mint-pod POST $TOK "$(TR '{"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"p1"}}')" >/dev/null; PODTOK=$(token_of)
call 52d-mint-node POST $TOK "$(TR '{"boundObjectRef":{"kind":"Node","apiVersion":"v1","name":"node1"}}')" >/dev/null; NODETOK=$(token_of)
call 60-review-valid POST $TRV "$(REV '{"token":"'$SATOK'"}')"
call 61-review-pod-bound POST $TRV "$(REV '{"token":"'$PODTOK'"}')"
call 62-review-node-bound POST $TRV "$(REV '{"token":"'$NODETOK'"}')"
call 63-review-audiences POST $TRV "$(REV '{"token":"'$VAULTTOK'","audiences":["x","vault"]}')"
call 64-review-foreign-audience POST $TRV "$(REV '{"token":"'$VAULTTOK'"}')"
call 65-review-garbage POST $TRV "$(REV '{"token":"garbage"}')"
call 66-review-garbage-jwt-shape POST $TRV "$(REV '{"token":"eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln"}')" # synthetic, unsigned: tidy:allow-jwt
call 67-review-empty POST $TRV "$(REV '{"token":""}')"
call 68-review-no-spec POST $TRV '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview"}'
# invalidation: delete the pod, then review its token
curl -sS -o /dev/null --cacert "$CA" -H "@$AUTH" -X DELETE "$SERVER/api/v1/namespaces/$NS/pods/p1?gracePeriodSeconds=0"
sleep 15
call 69-review-after-pod-deleted POST $TRV "$(REV '{"token":"'$PODTOK'"}')"
call 70-bound-deleted-pod POST $TOK "$(TR '{"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"p1"}}')"
# --- OIDC discovery
call 80-openid-configuration GET /.well-known/openid-configuration ""
ACCEPT='*/*' call 81-jwks GET /openid/v1/jwks ""
call 81b-jwks-accept-json GET /openid/v1/jwks ""
ACCEPT='application/jwk-set+json' call 81c-jwks-accept-jwk-set GET /openid/v1/jwks ""
AS=none call 82-openid-configuration-anonymous GET /.well-known/openid-configuration ""
AS=none ACCEPT='*/*' call 83-jwks-anonymous GET /openid/v1/jwks ""
AS=none call 84-readyz-anonymous GET /readyz ""
call 85-version GET /version ""
