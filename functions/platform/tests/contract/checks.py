"""Checks the contract test adds to Schemathesis's own (loaded through SCHEMATHESIS_HOOKS).

Every client error is RFC 9457 problem details with the fields the API promises, except the
answers API Gateway gives itself (an authorizer refusing a token, a throttle), which keep its
`{"message": ...}` format.
"""

import json

import schemathesis

PROBLEM_FIELDS = ("type", "title", "status", "detail", "code", "requestId")
GATEWAY_ANSWERS = {401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests"}


@schemathesis.check
def client_errors_are_problems(ctx, response, case):
    status = response.status_code
    if not 400 <= status < 500:
        return None
    media = response.headers.get("content-type", [""])
    media = (media[0] if isinstance(media, list) else media).split(";")[0].strip()
    try:
        body = json.loads(response.text or "null")
    except ValueError:
        raise AssertionError(f"{status} with a body that is not JSON: {response.text[:200]!r}")
    if media == "application/json" and GATEWAY_ANSWERS.get(status) == (body or {}).get("message"):
        return True
    if media != "application/problem+json":
        raise AssertionError(f"{status} answered as {media!r}, not application/problem+json")
    missing = [field for field in PROBLEM_FIELDS if field not in body]
    if missing:
        raise AssertionError(f"{status} problem without {missing}: {body}")
    if body["status"] != status:
        raise AssertionError(f"{status} problem says status {body['status']}")
    if not body["code"] or body["code"].upper() != body["code"]:
        raise AssertionError(f"{status} problem code {body['code']!r} is not UPPER_SNAKE")
    return True
