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

Lifetime: the server stops when stdin reaches end of file, which happens when the process
that started us exits for any reason, crash included, and on SIGTERM or SIGINT.

Usage: python moto_launcher.py [--host 127.0.0.1] [--port 0] [--quiet]   (port 0: any free port)
"""

import argparse
import errno
import logging
import os
import signal
import socket
import sys
import threading

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

    app = SerializedDynamoDB(DomainDispatcherApplication(create_backend_app))
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
