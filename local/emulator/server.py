"""The local AWS API emulator: moto in server mode, with DynamoDB made atomic and fast.

moto's DynamoDB backend has no locking, so concurrent conditional writes can both
succeed and a transaction that fails half-way can undo other clients' writes. Real
DynamoDB applies every request atomically; serializing DynamoDB requests (the
`X-Amz-Target` header starts with `DynamoDB_`) inside this process gives the same
guarantee. The other services keep their concurrency.

moto's server also lists its own package directory on every request to find the service
that answers it (`speed_up_dispatch` reads that list once), and computes every attribute of
a queue for each message it receives from it (`speed_up_sqs` reads the retention period).

Two of moto's DynamoDB operations cost time in proportion to the whole table, which
makes a table of a few thousand items answer in seconds; `speed_up_dynamodb` replaces
them (behaviour unchanged, and only safe because requests are serialized):
- a transaction backed up a deep copy of its table once per item, to roll back on
  failure; it now backs up the items it touches (and the stream's length) only;
- a query sorted every item of the table before looking at any; a query of the table
  now reads its partition only, and a query of an index reads its partition of the index,
  from a map of the index's partitions built once per version of the table (every write
  moves the version on).

It also keeps what would have left AWS, for people and tests to read (`Mailbox`):
- `GET /_local/emails`: every email SES accepted (v2 `SendEmail`, simple or raw content, and
  v1 `SendEmail` / `SendRawEmail`), oldest first, with its message id, time, sender,
  recipients, subject, and text and HTML bodies as sent (moto itself keeps one body only);
- `GET /_local/sms`: every SMS sent through SNS `Publish` with a `PhoneNumber`, oldest first;
- `GET /_local/emails/count`: how many emails SES accepted since the start (a cheap poll).
Each keeps the last `MAILBOX_LIMIT` messages. SES identities are verified as soon as they are
created (`verify_identities`), as moto already treats them.

Usage: server.py [--host 127.0.0.1] [--port 0]
Prints one JSON line `{"port": N}` on stdout once it accepts connections, and exits
when its standard input closes, so it never outlives the process that started it.
"""

import argparse
import base64
import collections
import datetime
import email
import email.policy
import email.utils
import io
import json
import os
import re
import sys
import threading
import urllib.parse

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server


def speed_up_dispatch():
    """moto's server lists its own package directory on every request to find the backend;
    the list never changes while it runs, so it is read once."""
    import functools

    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = functools.cache(lambda: modules)


def speed_up_sqs():
    """moto checks each message it hands out against its queue's retention period by computing
    every attribute of the queue (counts over all its messages): it now reads the one it needs."""
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    def is_message_valid_based_on_retention_period(self, queue_name, message):
        queue = self.get_queue(queue_name)
        return int(queue.message_retention_period) + message.sent_timestamp / 1000 > unix_time()

    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period


def speed_up_dynamodb():
    """Replaces moto's whole-table transaction backup and query pre-sort (see the module docs)."""
    import copy

    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    def transact_write_items(self, transact_items):
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        # Back up what the transaction may change: its items and its tables' streams.
        touched = {}
        streams = {}
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            try:
                if "Key" in op:
                    key = op["Key"]
                else:
                    key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = op["Item"][table.range_key_attr]
                hash_value, range_value = self.get_keys_value(table, key)
            except Exception:  # noqa: BLE001 - the loop below reports the malformed item
                continue
            if table.stream_shard is not None:
                streams.setdefault(table.name, len(table.stream_shard.items))
            touched.setdefault(
                (table.name, hash_value, range_value),
                copy.deepcopy(table.get_item(hash_value, range_value)),
            )

        def roll_back():
            for (table_name, hash_value, range_value), original in touched.items():
                table = self.tables[table_name]
                if table.range_key_attr is not None:
                    partition = table.items[hash_value]
                    if original is None:
                        partition.pop(range_value, None)
                        if not partition:
                            del table.items[hash_value]
                    else:
                        partition[range_value] = original
                elif original is None:
                    table.items.pop(hash_value, None)
                else:
                    table.items[hash_value] = original
            for table_name, length in streams.items():
                del self.tables[table_name].stream_shard.items[length:]
            for table_name, _, _ in touched:
                changed(self.tables[table_name])

        target_items = set()
        errors = []
        for item in transact_items:
            original_item = None
            if len(list(item.keys())) > 1:
                raise TransactWriteSingleOpException
            try:
                op_type, op = next(iter(item.items()))
                if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                    raise ValueError("Unsupported transaction operation")
                table_name = op["TableName"]
                condition_expression = op.get("ConditionExpression")
                names = op.get("ExpressionAttributeNames")
                values = op.get("ExpressionAttributeValues")
                if op_type == "Put":
                    attrs = op["Item"]
                    table = self.get_table(table_name)
                    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = attrs[table.range_key_attr]
                else:
                    key = op["Key"]
                unique = (str(table_name), str(dict(sorted(key.items()))))
                if unique in target_items:
                    raise MultipleTransactionsException()
                target_items.add(unique)
                current = self.get_item(table_name, key)
                if condition_expression is not None:
                    condition = get_filter_expression(condition_expression, names, values)
                    if not condition.expr(current):
                        if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                            original_item = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=original_item)
                if op_type == "Put":
                    self.put_item(
                        table_name,
                        op["Item"],
                        condition_expression=condition_expression,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                elif op_type == "Delete":
                    self.delete_item(
                        table_name,
                        key,
                        condition_expression=condition_expression,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                elif op_type == "Update":
                    self.update_item(
                        table_name,
                        key,
                        update_expression=op["UpdateExpression"],
                        condition_expression=condition_expression,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                errors.append((None, None, None))
            except (MultipleTransactionsException, MockValidationException):
                roll_back()
                raise
            except ConditionalCheckFailed as e:
                errors.append(("ConditionalCheckFailed", str(e.message), original_item))
            except Exception as e:  # noqa: BLE001 - reported per item, as moto does
                errors.append((type(e).__name__, str(e), original_item))
        if any(code is not None for code, _, _ in errors):
            roll_back()
            raise TransactionCanceledException(errors)

    DynamoDBBackend.transact_write_items = transact_write_items

    original_query = Table.query
    original_put = Table.put_item
    original_delete = Table.delete_item
    original_update = DynamoDBBackend.update_item

    # Every write moves the table's version on; the index partitions below are kept per version.
    def changed(table):
        table.local_version = getattr(table, "local_version", 0) + 1

    def put_item(self, *args, **kwargs):
        changed(self)
        return original_put(self, *args, **kwargs)

    def delete_item(self, *args, **kwargs):
        changed(self)
        return original_delete(self, *args, **kwargs)

    def update_item(self, table_name, *args, **kwargs):
        table = self.tables.get(table_name)
        try:
            return original_update(self, table_name, *args, **kwargs)
        finally:
            if table is not None:
                changed(table)

    Table.put_item = put_item
    Table.delete_item = delete_item
    DynamoDBBackend.update_item = update_item

    def index_partition(table, index_name, attribute, value):
        """The items whose `attribute` is `value`, from a map of the index's partitions built
        once per table version."""
        version = getattr(table, "local_version", 0)
        cache = getattr(table, "local_index_cache", None)
        if cache is None or cache[0] != version:
            cache = (version, {})
            table.local_index_cache = cache
        partitions = cache[1].get(index_name)
        if partitions is None:
            partitions = {}
            parts = table.items.values()
            items = [i for part in parts for i in part.values()] if table.range_key_attr else list(parts)
            for item in items:
                key = item.attrs.get(attribute)
                if key is not None:
                    partitions.setdefault(key, []).append(item)
            cache[1][index_name] = partitions
        return list(partitions.get(value, ()))

    def query(self, hash_key, *args, **kwargs):
        index_name = kwargs.get("index_name")
        if index_name is None and len(args) > 6:
            index_name = args[6]
        conditions = kwargs.get("hash_key_conditions") or []
        if index_name:
            index = next((i for i in self.all_indexes() if i.name == index_name), None)
            hash_attributes = [k["AttributeName"] for k in (index.schema if index else []) if k["KeyType"] == "HASH"]
            if len(conditions) == 1 and hash_attributes == [conditions[0][0]]:
                # One hash key: only its partition of the index can match.
                def candidates():
                    return index_partition(self, index_name, conditions[0][0], conditions[0][1])
            else:
                # An index query filters every item, then sorts only the matches itself.
                def candidates():
                    if self.range_key_attr:
                        return [item for part in self.items.values() for item in part.values()]
                    return list(self.items.values())
        else:
            def candidates():
                part = self.items.get(hash_key)
                if part is None:
                    return []
                return list(part.values()) if self.range_key_attr else [part]
        self.all_items = candidates
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = query


class SerializeDynamoDB:
    """WSGI middleware: one DynamoDB request at a time, response body included."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            body = self.app(environ, start_response)
            try:
                return [b"".join(body)]
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()


class CountCalls:
    """WSGI middleware: counts requests by operation (`X-Amz-Target`, else the `Action` of a
    query-protocol call), and answers `GET /_local/calls` with the counts as JSON, for the
    benchmarks that report AWS calls per request."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.counts = {}

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/_local/calls" and environ.get("REQUEST_METHOD") == "GET":
            with self.lock:
                body = json.dumps(self.counts, sort_keys=True).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        operation = environ.get("HTTP_X_AMZ_TARGET")
        if not operation and "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
            # Query-protocol services (SNS) name the operation in the form body: read it, then
            # hand the same bytes on.
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            for pair in body.split(b"&"):
                if pair.startswith(b"Action="):
                    operation = "SNS." + pair[len(b"Action="):].decode(errors="replace")
                    break
        if not operation:
            operation = environ.get("REQUEST_METHOD", "?") + " " + environ.get("PATH_INFO", "")
        with self.lock:
            self.counts[operation] = self.counts.get(operation, 0) + 1
        return self.app(environ, start_response)


MAILBOX_LIMIT = 5000

# Sent SMS (moto's `sms_messages` of each SNS backend) are read and trimmed under this lock.
SMS_LOCK = threading.RLock()
SMS_TIMES = {}


def now():
    """The current time in RFC 3339, UTC, to the millisecond."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def verify_identities():
    """moto lets an SES identity send as soon as it is created, yet reports it as not verified
    for sending; it now reports what it does."""
    from moto.ses.models import EmailIdentity

    original_init = EmailIdentity.__init__

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.verified_for_sending_status = True

    EmailIdentity.__init__ = __init__


def keep_sms_times():
    """Notes when each SMS is sent, and keeps the last `MAILBOX_LIMIT` per SNS backend."""
    from moto.sns.models import SNSBackend

    original_publish = SNSBackend.publish

    def publish(self, message, arn, phone_number=None, *args, **kwargs):
        if not phone_number:
            return original_publish(self, message, arn, phone_number, *args, **kwargs)
        with SMS_LOCK:
            message_id = original_publish(self, message, arn, phone_number, *args, **kwargs)
            SMS_TIMES[message_id] = now()
            while len(self.sms_messages) > MAILBOX_LIMIT:
                oldest = next(iter(self.sms_messages))
                del self.sms_messages[oldest]
                self.sms_message_objects.pop(oldest, None)
                SMS_TIMES.pop(oldest, None)
        return message_id

    SNSBackend.publish = publish


def sent_sms():
    """Every SMS the SNS backends hold, oldest first."""
    from moto.sns.models import sns_backends

    found = []
    with SMS_LOCK:
        for account_id, regions in list(sns_backends.items()):
            for region, backend in list(regions.items()):
                for message_id, (phone_number, message) in backend.sms_messages.items():
                    found.append(
                        {
                            "messageId": message_id,
                            "sentAt": SMS_TIMES.get(message_id),
                            "phoneNumber": phone_number,
                            "message": message,
                            "accountId": account_id,
                            "region": region,
                        }
                    )
    found.sort(key=lambda sms: sms["sentAt"] or "")
    return found


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


class Mailbox:
    """WSGI middleware: keeps the emails SES accepted and answers `GET /_local/emails` and
    `GET /_local/sms` (see the module docs)."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.emails = collections.deque(maxlen=MAILBOX_LIMIT)
        self.accepted = 0

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        path = environ.get("PATH_INFO", "")
        if method == "GET" and path == "/_local/emails":
            with self.lock:
                return json_response(start_response, list(self.emails))
        if method == "GET" and path == "/_local/emails/count":
            with self.lock:
                return json_response(start_response, {"count": self.accepted})
        if method == "GET" and path == "/_local/sms":
            return json_response(start_response, sent_sms())
        if method != "POST":
            return self.app(environ, start_response)
        if path == "/v2/email/outbound-emails":
            request = read_body(environ)
            return self.record(environ, start_response, lambda: sesv2_email(request), json_message_id)
        if "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
            request = read_body(environ)
            if b"Action=SendEmail" in request or b"Action=SendRawEmail" in request:
                form = dict(urllib.parse.parse_qsl(request.decode("utf-8", errors="replace")))
                if form.get("Action") in ("SendEmail", "SendRawEmail"):
                    return self.record(environ, start_response, lambda: ses_email(form), xml_message_id)
        return self.app(environ, start_response)

    def record(self, environ, start_response, read_email, read_message_id):
        """Runs the request; once SES accepted it, keeps the email under its message id."""
        status = []

        def start(code, headers, exc_info=None):
            status.append(code)
            return start_response(code, headers, exc_info)

        response = self.app(environ, start)
        try:
            body = b"".join(response)
        finally:
            close = getattr(response, "close", None)
            if close is not None:
                close()
        if status and status[0].startswith("200"):
            try:
                message_id = read_message_id(body)
                sent = read_email() if message_id else None
            except Exception as error:  # noqa: BLE001 - sending went through; only the copy failed
                print(f"mailbox: could not read a sent email: {error!r}", file=sys.stderr, flush=True)
                sent = None
            if sent is not None:
                with self.lock:
                    self.emails.append({"messageId": message_id, "sentAt": now(), **sent})
                    self.accepted += 1
        return [body]


def read_body(environ):
    """The request body, put back for the application to read."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        body = environ["wsgi.input"].read(length)
    elif environ.get("wsgi.input_terminated"):
        # A chunked body: the server ends the stream where the body ends.
        body = environ["wsgi.input"].read()
    else:
        return b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def json_message_id(body):
    return json.loads(body or b"{}").get("MessageId")


def xml_message_id(body):
    found = re.search(rb"<MessageId>([^<]+)</MessageId>", body)
    return found.group(1).decode() if found else None


def json_response(start_response, value):
    body = json.dumps(value).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class QuietRequestHandler(MotoRequestHandler):
    """The local stack logs requests itself; keep werkzeug's access log out of it."""

    def log_request(self, *args, **kwargs):
        pass


def exit_when_stdin_closes():
    try:
        while sys.stdin.buffer.read(65536):
            pass
    finally:
        os._exit(0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    speed_up_dispatch()
    speed_up_sqs()
    speed_up_dynamodb()
    verify_identities()
    keep_sms_times()
    app = Mailbox(CountCalls(SerializeDynamoDB(DomainDispatcherApplication(create_backend_app))))
    server = make_server(
        args.host, args.port, app, threaded=True, request_handler=QuietRequestHandler
    )
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    print(json.dumps({"port": server.server_port}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
