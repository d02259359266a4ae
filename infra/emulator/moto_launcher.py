"""The local cloud's AWS emulator: moto's server, with three deliberate adjustments.

`cargo dev` starts this script with the project's venv (see requirements.txt), reads the
one line `listening on http://127.0.0.1:<port>` from stdout, and keeps our stdin open.

Deliberate adjustments to moto, so it behaves like the real services where our code
relies on them and stays fast as the tables grow:

(a) DynamoDB requests are served one at a time. moto's TransactWriteItems applies the
    items one after the other and, when a condition fails, puts back what it saved
    before: two concurrent transactions can therefore undo each other's writes (a lost
    stock decrement). Real DynamoDB serializes conflicting transactions. SQS and SNS stay
    concurrent, so an SQS long poll never holds up a DynamoDB call.
(b) A transaction may hold 100 items, as in DynamoDB since 2022; moto still enforces 25.
(c) A failed transaction is undone item by item. moto's TransactWriteItems deep-copies
    every table it touches before it starts, so each transaction costs time in proportion
    to the table (about 290 ms at 5,000 items) while holding the lock of (a): a few hundred
    orders made every later request time out. We snapshot only the items the transaction
    names and put those back when it fails, which is all moto's copy was for.

Request counts (for `cargo dev bench`): every request is counted by caller, service and
operation, with the items it names (DynamoDB), its bytes and the time the emulator spent
on it. `GET /_dev/requests` returns the counts so far as JSON; they only ever grow, so a
caller takes the difference of two reads. The caller is the SDK's app name (`app/<name>` in
the User-Agent), empty for clients that set none (the functions, the local cloud's pollers).

Lifetime: the server stops when stdin reaches end of file, which happens when the process
that started us exits for any reason, crash included, and on SIGTERM or SIGINT.

Usage: python moto_launcher.py [--host 127.0.0.1] [--port 0] [--quiet]   (port 0: any free port)
"""

import argparse
import errno
import io
import json
import logging
import os
import signal
import socket
import re
import sys
import threading
import time
from urllib.parse import parse_qs

# DynamoDB's documented limit for TransactWriteItems and TransactGetItems.
TRANSACTION_MAX_ITEMS = 100


class SerializedDynamoDB:
    """WSGI middleware: one DynamoDB request at a time, everything else concurrently."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            # The response iterable may still do work lazily: drain it inside the lock.
            result = self.app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return [body]


class RequestCounts:
    """WSGI middleware: counts requests by (caller, service, operation); see the module docstring."""

    PATH = "/_dev/requests"
    SCOPE = re.compile(r"Credential=[^/]*/[^/]*/[^/]*/([^/]*)/")
    APP = re.compile(r"(?:^|\s)app/([^\s]+)")
    # DynamoDB requests and where their items are, for capacity estimates.
    ITEM_LISTS = {"TransactWriteItems": "TransactItems", "TransactGetItems": "TransactItems"}

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.counts = {}

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == self.PATH:
            return self.report(start_response)
        started = time.perf_counter()
        service, operation, body = self.identify(environ)
        result = self.app(environ, start_response)
        try:
            chunks = list(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        response = b"".join(chunks)
        seconds = time.perf_counter() - started
        items = self.items(service, operation, body, response)
        agent = environ.get("HTTP_X_AMZ_USER_AGENT", "") + " " + environ.get("HTTP_USER_AGENT", "")
        caller = self.APP.search(agent)
        key = (caller.group(1) if caller else "", service, operation)
        with self.lock:
            entry = self.counts.setdefault(key, [0, 0, 0, 0, 0.0])
            entry[0] += 1
            entry[1] += items
            entry[2] += len(body)
            entry[3] += len(response)
            entry[4] += seconds
        return [response]

    def identify(self, environ):
        """(service, operation, request body); the body is put back for moto."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        scope = self.SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        service = scope.group(1) if scope else "unknown"
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target:
            return service, target.rsplit(".", 1)[-1], body
        action = parse_qs(environ.get("QUERY_STRING", "")).get("Action")
        if not action and "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
            action = parse_qs(body.decode("utf-8", "replace")).get("Action")
        return service, action[0] if action else environ.get("REQUEST_METHOD", "?"), body

    def items(self, service, operation, body, response):
        """Items a DynamoDB request reads or writes (0 for other services)."""
        if service != "dynamodb":
            return 0
        try:
            if operation in ("Query", "Scan"):
                return int(json.loads(response or b"{}").get("Count", 0))
            request = json.loads(body or b"{}")
            if operation in self.ITEM_LISTS:
                return len(request.get(self.ITEM_LISTS[operation], []))
            if operation == "BatchGetItem":
                return sum(len(t.get("Keys", [])) for t in request.get("RequestItems", {}).values())
            if operation == "BatchWriteItem":
                return sum(len(t) for t in request.get("RequestItems", {}).values())
        except (ValueError, AttributeError, TypeError):
            return 0
        return 1

    def report(self, start_response):
        with self.lock:
            rows = [
                {
                    "caller": caller,
                    "service": service,
                    "operation": operation,
                    "requests": entry[0],
                    "items": entry[1],
                    "request_bytes": entry[2],
                    "response_bytes": entry[3],
                    "seconds": entry[4],
                }
                for (caller, service, operation), entry in sorted(self.counts.items())
            ]
        body = json.dumps({"requests": rows}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


def undo_failed_transactions_item_by_item():
    """Adjustment (c): see the module docstring."""
    import copy

    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    class TablesNotCopied:
        """Stands in for the `copy` module inside moto.dynamodb.models: tables are not
        copied (moto's own rollback then restores the same object, a no-op)."""

        def __getattr__(self, name):
            return getattr(copy, name)

        def deepcopy(self, value, memo=None):
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    dynamodb_models.copy = TablesNotCopied()
    transact_write_items = dynamodb_models.DynamoDBBackend.transact_write_items

    def snapshot(backend, transact_items):
        saved = []
        for entry in transact_items:
            for operation, parameters in entry.items():
                table = backend.tables.get(parameters.get("TableName"))
                if table is None:
                    continue
                key = parameters.get("Item") if operation == "Put" else parameters.get("Key")
                attributes = [table.hash_key_attr, table.range_key_attr]
                if not key or any(a and a not in key for a in attributes):
                    continue  # moto rejects it before changing anything
                hash_value = DynamoType(key[table.hash_key_attr])
                range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
                current = table.get_item(hash_value, range_value)
                saved.append((table, hash_value, range_value, copy.deepcopy(current)))
        return saved

    def restore(saved):
        for table, hash_value, range_value, item in reversed(saved):
            items = table.items[hash_value] if range_value is not None else table.items
            slot = range_value if range_value is not None else hash_value
            if item is None:
                items.pop(slot, None)
            else:
                items[slot] = item

    def transact_write_items_undone_by_item(self, transact_items):
        saved = snapshot(self, transact_items)
        try:
            return transact_write_items(self, transact_items)
        except Exception:
            restore(saved)
            raise

    dynamodb_models.DynamoDBBackend.transact_write_items = transact_write_items_undone_by_item


def bind_failure(host, port):
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            return f"port {port} on {host} is already in use"
        return f"cannot listen on {host}:{port}: {error.strerror}"
    finally:
        probe.close()
    return f"cannot listen on {host}:{port}"


def fail(message):
    print(f"error: {message}", flush=True)
    sys.exit(2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="log warnings and errors, not every request")
    args = parser.parse_args()
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    import moto.dynamodb.responses as dynamodb_responses
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    dynamodb_responses.TRANSACTION_MAX_ITEMS = TRANSACTION_MAX_ITEMS
    undo_failed_transactions_item_by_item()

    app = RequestCounts(SerializedDynamoDB(DomainDispatcherApplication(create_backend_app)))
    try:
        server = make_server(
            args.host,
            args.port,
            app,
            threaded=True,
            request_handler=MotoRequestHandler,
        )
    except (OSError, SystemExit):
        # werkzeug prints its own reason to stderr and exits; say it on our one stdout line.
        fail(bind_failure(args.host, args.port))

    # Request threads are daemons; os._exit below does not wait for open long polls.
    threading.Thread(target=server.serve_forever, name="moto", daemon=True).start()
    print(f"listening on http://{args.host}:{server.server_port}", flush=True)

    def stop(_signum, _frame):
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)


if __name__ == "__main__":
    main()
