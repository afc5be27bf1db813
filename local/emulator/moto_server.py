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

It also answers the `/_local/` reads of `recording.py` (emails, SMS and call counts), and
reports SES identities verified as soon as they are created (`verify_identities`), as moto
already treats them.

Usage: moto_server.py [--host 127.0.0.1] [--port 0]
Prints one JSON line `{"port": N}` on stdout once it accepts connections, and exits
when its standard input closes, so it never outlives the process that started it.
"""

import argparse
import io
import json
import os
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from recording import Recorder


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


def verify_identities():
    """moto lets an SES identity send as soon as it is created, yet reports it as not verified
    for sending; it now reports what it does."""
    from moto.ses.models import EmailIdentity

    original_init = EmailIdentity.__init__

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.verified_for_sending_status = True

    EmailIdentity.__init__ = __init__


class Record:
    """WSGI middleware: answers the `/_local/` reads and keeps what the requests sent (see
    `recording.py`)."""

    def __init__(self, app, recorder):
        self.app = app
        self.recorder = recorder

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "?")
        path = environ.get("PATH_INFO", "")
        value = self.recorder.answer(method, path)
        if value is not None:
            body = json.dumps(value).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        target = environ.get("HTTP_X_AMZ_TARGET")
        content_type = environ.get("CONTENT_TYPE", "")
        body = read_body(environ) if self.recorder.wants_body(method, path, target, content_type) else None
        keep = self.recorder.observe(method, path, target, content_type, body)
        if keep is None:
            return self.app(environ, start_response)

        status = []

        def start(code, headers, exc_info=None):
            status.append(code)
            return start_response(code, headers, exc_info)

        response = self.app(environ, start)
        try:
            answer = b"".join(response)
        finally:
            close = getattr(response, "close", None)
            if close is not None:
                close()
        if status and status[0].startswith("200"):
            keep(answer)
        return [answer]


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
    app = Record(SerializeDynamoDB(DomainDispatcherApplication(create_backend_app)), Recorder())
    server = make_server(
        args.host, args.port, app, threaded=True, request_handler=QuietRequestHandler
    )
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    print(json.dumps({"port": server.server_port}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
