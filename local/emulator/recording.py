"""What both emulators keep for people and tests to read, taken from the HTTP requests they
serve, so that it reads the same whichever emulator runs (`moto_server.py`, `ministack_server.py`).

- `GET /_local/emails`: every email SES accepted (v2 `SendEmail`, simple or raw content, and
  v1 `SendEmail` / `SendRawEmail`), oldest first, with its message id, time, sender,
  recipients, subject, and text and HTML bodies as sent;
- `GET /_local/emails/count`: how many emails SES accepted since the start (a cheap poll);
- `GET /_local/sms`: every SMS sent through SNS `Publish` with a `PhoneNumber`, oldest first;
- `GET /_local/calls`: how many requests of each operation (`X-Amz-Target`, else the `Action`
  of a query-protocol call, else method and path) were served, for the benchmarks that report
  AWS calls per request.

Emails and SMS are kept only once the emulator answered 200, under the message id it answered;
each list keeps the last `MAILBOX_LIMIT`.
"""

import base64
import collections
import datetime
import email
import email.policy
import email.utils
import json
import re
import sys
import threading
import urllib.parse

MAILBOX_LIMIT = 5000


def now():
    """The current time in RFC 3339, UTC, to the millisecond."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def addresses(value):
    """A list of addresses from a JSON list, or the addresses of a header."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [email.utils.formataddr(pair) for pair in email.utils.getaddresses([str(value)]) if pair[1]]


def parse_mime(raw):
    """Subject, headers' addresses, and text and HTML bodies of a raw (MIME) message."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    bodies = {}
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        kind = part.get_content_type()
        if kind in ("text/plain", "text/html") and kind not in bodies:
            try:
                bodies[kind] = part.get_content()
            except (LookupError, ValueError):
                bodies[kind] = part.get_payload(decode=True).decode("utf-8", errors="replace")
    return {
        "from": str(message.get("From", "")),
        "to": addresses(message.get("To")),
        "cc": addresses(message.get("Cc")),
        "bcc": addresses(message.get("Bcc")),
        "replyTo": addresses(message.get("Reply-To")),
        "subject": str(message.get("Subject", "")),
        "text": bodies.get("text/plain"),
        "html": bodies.get("text/html"),
    }


def sesv2_email(request):
    """The email of an SES v2 `SendEmail` request body (JSON)."""
    params = json.loads(request or b"{}")
    destination = params.get("Destination") or {}
    content = params.get("Content") or {}
    sent = {
        "from": params.get("FromEmailAddress", ""),
        "to": addresses(destination.get("ToAddresses")),
        "cc": addresses(destination.get("CcAddresses")),
        "bcc": addresses(destination.get("BccAddresses")),
        "replyTo": addresses(params.get("ReplyToAddresses")),
        "subject": "",
        "text": None,
        "html": None,
    }
    if "Simple" in content:
        simple = content["Simple"]
        body = simple.get("Body") or {}
        sent["subject"] = (simple.get("Subject") or {}).get("Data", "")
        sent["text"] = (body.get("Text") or {}).get("Data")
        sent["html"] = (body.get("Html") or {}).get("Data")
    elif "Raw" in content:
        parsed = parse_mime(base64.b64decode(content["Raw"].get("Data", "")))
        for key in ("to", "cc", "bcc"):
            sent[key] = sent[key] or parsed[key]
        parsed.update({key: sent[key] for key in ("to", "cc", "bcc")})
        parsed["from"] = sent["from"] or parsed["from"]
        parsed["replyTo"] = sent["replyTo"] or parsed["replyTo"]
        sent = parsed
    return sent


def ses_email(form):
    """The email of an SES v1 `SendEmail` or `SendRawEmail` request (query protocol form)."""

    def members(prefix):
        found = []
        n = 1
        while f"{prefix}.member.{n}" in form:
            found.append(form[f"{prefix}.member.{n}"])
            n += 1
        return found

    if form.get("Action") == "SendRawEmail":
        sent = parse_mime(base64.b64decode(form.get("RawMessage.Data", "")))
        sent["to"] = sent["to"] or members("Destinations")
        sent["from"] = form.get("Source") or sent["from"]
        return sent
    return {
        "from": form.get("Source", ""),
        "to": members("Destination.ToAddresses"),
        "cc": members("Destination.CcAddresses"),
        "bcc": members("Destination.BccAddresses"),
        "replyTo": members("ReplyToAddresses"),
        "subject": form.get("Message.Subject.Data", ""),
        "text": form.get("Message.Body.Text.Data"),
        "html": form.get("Message.Body.Html.Data"),
    }


def json_message_id(body):
    return json.loads(body or b"{}").get("MessageId")


def xml_message_id(body):
    found = re.search(rb"<MessageId>([^<]+)</MessageId>", body)
    return found.group(1).decode() if found else None


def is_form(content_type):
    return "x-www-form-urlencoded" in (content_type or "")


class Recorder:
    """The emails, SMS and call counts of one emulator process, shared by its request threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.emails = collections.deque(maxlen=MAILBOX_LIMIT)
        self.accepted = 0
        self.sms = collections.deque(maxlen=MAILBOX_LIMIT)
        self.counts = {}

    def answer(self, method, path):
        """The JSON value answering one of the `/_local/` reads, or None for any other request."""
        if method != "GET":
            return None
        with self.lock:
            if path == "/_local/emails":
                return list(self.emails)
            if path == "/_local/emails/count":
                return {"count": self.accepted}
            if path == "/_local/sms":
                return list(self.sms)
            if path == "/_local/calls":
                return dict(sorted(self.counts.items()))
        return None

    def wants_body(self, method, path, target, content_type):
        """Whether `observe` needs the request body: for query-protocol calls (their operation
        is in the body) and SES v2 sends."""
        return method == "POST" and (path == "/v2/email/outbound-emails" or (not target and is_form(content_type)))

    def observe(self, method, path, target, content_type, body):
        """Counts the request and returns what to do with the answer: a function taking the
        response body once the emulator answered 200, or None when nothing is to be kept."""
        form = None
        operation = target
        if not operation and body is not None and is_form(content_type):
            form = dict(urllib.parse.parse_qsl(body.decode("utf-8", errors="replace")))
            action = form.get("Action")
            if action:
                operation = "SNS." + action
        if not operation:
            operation = f"{method} {path}"
        with self.lock:
            self.counts[operation] = self.counts.get(operation, 0) + 1

        if method != "POST":
            return None
        if path == "/v2/email/outbound-emails":
            return lambda answer: self.keep_email(lambda: sesv2_email(body), json_message_id(answer))
        if form is None:
            return None
        action = form.get("Action")
        if action in ("SendEmail", "SendRawEmail"):
            return lambda answer: self.keep_email(lambda: ses_email(form), xml_message_id(answer))
        if action == "Publish" and form.get("PhoneNumber"):
            return lambda answer: self.keep_sms(form, xml_message_id(answer))
        return None

    def keep_email(self, read_email, message_id):
        if not message_id:
            return
        try:
            sent = read_email()
        except Exception as error:  # noqa: BLE001 - sending went through; only the copy failed
            print(f"mailbox: could not read a sent email: {error!r}", file=sys.stderr, flush=True)
            return
        with self.lock:
            self.emails.append({"messageId": message_id, "sentAt": now(), **sent})
            self.accepted += 1

    def keep_sms(self, form, message_id):
        if not message_id:
            return
        with self.lock:
            self.sms.append(
                {
                    "messageId": message_id,
                    "sentAt": now(),
                    "phoneNumber": form.get("PhoneNumber", ""),
                    "message": form.get("Message", ""),
                }
            )
