"""The local cloud's AWS emulator: moto's server, with deliberate adjustments and faults.

`cargo dev` starts this script with the project's venv (see requirements.txt), reads the
two lines `listening on http://127.0.0.1:<port>` and `functions on http://127.0.0.1:<port>`
from stdout (or one line `error: <reason>`), and keeps our stdin open.

Two ports, one moto (same process, same state). The first is the local cloud's own: its
pollers, provisioning, tests and tools. The second is for the Lambda functions only, and is
the only one where faults are injected (see Faults below).

Deliberate adjustments to moto, so it behaves like the real services where our code
relies on them and stays fast as the tables grow:

(a) DynamoDB requests are executed one at a time. moto is not thread-safe, and its
    TransactWriteItems applies the items one after the other and, when a condition fails,
    puts back what it saved before: two transactions running at once could undo each
    other's writes (a lost stock decrement). SQS, SNS and DynamoDB Streams stay
    concurrent, so an SQS long poll or a stream poll never holds up a DynamoDB call.
(b) A transaction may hold 100 items, as in DynamoDB since 2022; moto still enforces 25.
(c) A failed transaction is undone item by item. moto's TransactWriteItems deep-copies
    every table it touches before it starts, so each transaction costs time in proportion
    to the table (about 290 ms at 5,000 items) while holding the lock of (a): a few hundred
    orders made every later request time out. We snapshot only the items the transaction
    names and put those back when it fails, which is all moto's copy was for.
(d) Transaction conflicts are modelled, not hidden. With (a) alone, two transactions on one
    item simply queue; DynamoDB cancels one of them instead ("Transaction conflict
    handling" in the DynamoDB developer guide), and code that never sees this here breaks
    in AWS. So before a DynamoDB request waits for the lock of (a), the items it writes
    (table and key; a Put's key is taken from its Item with the table's key schema) are
    registered as in flight, and released once it has executed; checking and registering
    are one step under their own small lock, so of two transactions on one item exactly
    one proceeds. The rules, as in DynamoDB:
    - a TransactWriteItems naming an item that an in-flight TransactWriteItems holds is
      cancelled at once: 400 TransactionCanceledException, one reason per item in order,
      {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
      for the held ones and {"Code": "None"} for the others (the body has exactly the shape
      of moto's own cancellations: "__type", "CancellationReasons" and "Message", capital
      M, the member DynamoDB's model names and the SDKs read into the exception's message);
    - a PutItem, UpdateItem or DeleteItem on such an item: 400 TransactionConflictException;
    - a TransactGetItems naming an item that any in-flight write holds (TransactWriteItems,
      BatchWriteItem, PutItem, UpdateItem, DeleteItem): TransactionCanceledException with
      TransactionConflict reasons;
    - other writes do not conflict with each other (they queue), and GetItem, Query, Scan
      and BatchGetItem never conflict. A TransactWriteItems does not conflict with an
      in-flight PutItem or BatchWriteItem either (the guide lists no such case): it queues.
    The SDKs do not retry either exception: the caller decides. Conflicts are counted
    (`modelled_conflicts` in the fault report below), on both ports.
(e) TransactWriteItems honours ClientRequestToken, as DynamoDB does for 10 minutes after
    the first call completed: the same token with the same request answers the first
    success again without executing, with another request 400
    IdempotentParameterMismatchException, and while the first call is still in flight 400
    TransactionInProgressException (which the SDKs retry as throttling). moto ignores the
    token, and the SDKs send one with every transaction and keep it across their retries:
    without this, a transaction whose answer was lost (see Faults) would be applied twice
    when the SDK retries it, which AWS never does.
(f) DynamoDB Streams records are those AWS writes. moto appends a record as each write
    happens, so (checked by hand with boto3 against moto 5.2.5, see Streams below):
    a cancelled or failed TransactWriteItems left records for every item it had written,
    including the items after the failing one (moto keeps going, then rolls back);
    an UpdateItem or transactional Update that creates its item left two INSERTs, the first
    with only the key; a Put or Update that changed nothing left a MODIFY. Now a write
    request's records are held back until it completes, then written one per item (old
    image before the request, new image after it) and only when the item changed; a request
    that fails writes none. Being written at the end of the request, under the lock of (a),
    sequence numbers stay strictly increasing and a concurrent GetRecords never sees a
    record that is taken back. ApproximateCreationDateTime is rounded down to the second,
    as in AWS (moto keeps milliseconds).
(g) DynamoDB Streams shard iterators expire after 15 minutes, as in AWS. moto keeps every
    iterator it ever handed out, and a stream poller gets a new one with every GetRecords:
    about 1 KB each, forever. Now GetRecords with an iterator older than that is answered
    400 ExpiredIteratorException and the old ones are forgotten.

Streams, as moto keeps them for a table with a stream: DescribeStream, GetShardIterator
(TRIM_HORIZON, LATEST, AT_ and AFTER_SEQUENCE_NUMBER) and GetRecords work, with one shard
that never closes. Records carry eventName INSERT/MODIFY/REMOVE, Keys, NewImage/OldImage as
the view type says, a SequenceNumber (decimal string, strictly increasing) and
ApproximateCreationDateTime (epoch seconds). A DeleteItem of a missing item writes nothing,
as in AWS. Checked by hand (boto3 against the launcher): records for a transaction's Put and
Update; none for a transaction cancelled by a condition, by a conflict of (d) or by an
injected conflict; exactly its own for a transaction whose answer was "lost". The Rust tests
(infra/dev/tests/emulator.rs) check the cancelled case too.

Faults (for the functions' AWS calls, on the second port only). A spec gives rates 0..1:
`throttle`, `error5xx`, `lost` (their sum at most 1) and `conflict`. For each request one
uniform draw r decides: r < throttle answers a throttling error, else r < throttle +
error5xx a server error (5xx), else r < throttle + error5xx + lost executes the request and
answers the server error instead of its result ("lost": applied, but the caller cannot
tell). Independently, a TransactWriteItems is, with probability `conflict`, cancelled
without executing, with a TransactionCanceledException that names one of its items (at
random) as TransactionConflict and the others "None" (this takes precedence over "lost").
Not injected into DynamoDB Streams (read by the local cloud itself) nor into `/_dev/*`.
The errors are those the real services send for the protocol the client used, so that the
SDKs classify them as they would in AWS (both throttling and 5xx are retried by the SDKs'
standard retry; their throttling codes include ThrottlingException, Throttling,
RequestThrottled):
- DynamoDB (JSON 1.0): 400 {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
  "message": "Rate of requests exceeds the allowed throughput."}, 500 {"__type":
  "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": "Internal server
  error"}, with the x-amz-crc32 header DynamoDB sends (botocore checks it);
- SQS over JSON (the Rust SDK): 400 {"__type": "com.amazonaws.sqs#RequestThrottled", ...} and
  500 "com.amazonaws.sqs#InternalFailure", with the `x-amzn-query-error: <code>;Sender` (or
  `;Receiver`) header SQS and moto send; over the query protocol the same codes in XML;
- SNS (query protocol, XML ErrorResponse): 400 Throttling "Rate exceeded" (Sender) and 500
  InternalError (Receiver). SNS also documents a 429 `Throttled` for Publish, but the Rust
  SDK retries neither that code nor status 429, so we send the generic query throttling
  code, which both SDKs retry;
- any other service: ThrottlingException / InternalFailure in its protocol's shape.
The spec is set with `--faults throttle=0.05,error5xx=0.05,lost=0.03,conflict=0.15` (or
`none`) and at run time with `POST /_dev/faults` on either port, JSON
{"throttle": 0.05, "error5xx": 0.05, "lost": 0.03, "conflict": 0.15} (missing keys are 0,
{} turns faults off). `GET /_dev/faults` (and the POST) answer the report: {"spec": {...},
"injected": [{"kind": "throttle", "service": "dynamodb", "operation": "PutItem",
"count": 3}, ...], "modelled_conflicts": N}. Counts only ever grow.

Request counts (for `cargo dev bench`): every request is counted by caller, service and
operation, with the items it names (DynamoDB), its bytes and the time the emulator spent
on it, faulted ones included. `GET /_dev/requests` returns the counts so far as JSON; they
only ever grow, so a caller takes the difference of two reads. The caller is the SDK's app
name (`app/<name>` in the User-Agent), empty for clients that set none (the functions, the
local cloud's pollers). DynamoDB Streams calls are counted as service `dynamodbstreams`
(they are signed as `dynamodb`).

Lifetime: the server stops when stdin reaches end of file, which happens when the process
that started us exits for any reason, crash included, and on SIGTERM or SIGINT.

Usage: python moto_launcher.py [--host 127.0.0.1] [--port 0] [--functions-port 0]
                               [--faults SPEC] [--quiet]          (port 0: any free port)
"""

import argparse
import errno
import hashlib
import io
import json
import logging
import os
import random
import re
import signal
import socket
import sys
import threading
import time
import zlib
from collections import OrderedDict
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

# DynamoDB's documented limit for TransactWriteItems and TransactGetItems.
TRANSACTION_MAX_ITEMS = 100

DYNAMODB_TARGET = "DynamoDB_20120810."
STREAMS_TARGET = "DynamoDBStreams_20120810."
DYNAMODB_ERROR = "com.amazonaws.dynamodb.v20120810#"

# Set by Port on every request: True on the functions' port.
FUNCTIONS_PORT = "dev.functions_port"
# Set by RequestCounts: (service, operation, request body).
CALL = "dev.call"

# How long DynamoDB remembers a ClientRequestToken, and a stream's shard iterator lives.
TOKEN_LIFETIME = 600.0
SHARD_ITERATOR_LIFETIME = 900.0

FAULT_KINDS = ("throttle", "error5xx", "lost", "conflict")
# These three share one draw per request, so their rates add up to at most 1.
SHARED_DRAW = ("throttle", "error5xx", "lost")
CONFLICT_REASON = {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}


def request_id():
    return "".join(random.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", k=52))


def answer(start_response, status, headers, body):
    """Sends a whole response from here (status: the number)."""
    reasons = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error"}
    headers = list(headers) + [("Content-Length", str(len(body)))]
    start_response(f"{status} {reasons.get(status, 'Error')}", headers)
    return [body]


def drained(result):
    """The whole body of a WSGI response iterable, closed afterwards."""
    try:
        return b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def dynamodb_error(start_response, status, name, body):
    """A DynamoDB error (JSON 1.0) with the headers moto and DynamoDB send."""
    payload = json.dumps(body).encode()
    headers = [
        ("Content-Type", "application/x-amz-json-1.0"),
        ("X-Amzn-ErrorType", name),
        ("x-amzn-RequestId", request_id()),
        ("x-amz-crc32", str(zlib.crc32(payload) & 0xFFFFFFFF)),
    ]
    return answer(start_response, status, headers, payload)


def transaction_cancelled(start_response, conflicting):
    """TransactionCanceledException with TransactionConflict for the items flagged True."""
    reasons = [CONFLICT_REASON if flag else {"Code": "None"} for flag in conflicting]
    message = "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]".format(
        ", ".join(reason["Code"] for reason in reasons)
    )
    body = {
        "__type": DYNAMODB_ERROR + "TransactionCanceledException",
        "CancellationReasons": reasons,
        "Message": message,
    }
    return dynamodb_error(start_response, 400, "TransactionCanceledException", body)


# --- Fault specs ---------------------------------------------------------------------------


class FaultSpecError(ValueError):
    pass


def checked_spec(rates):
    """All four kinds, each a rate 0..1, the shared draw at most 1; FaultSpecError otherwise."""
    spec = dict.fromkeys(FAULT_KINDS, 0.0)
    for kind, rate in rates.items():
        if kind not in FAULT_KINDS:
            raise FaultSpecError(f"unknown fault kind {kind!r} (expected one of {', '.join(FAULT_KINDS)})")
        if isinstance(rate, bool) or not isinstance(rate, (int, float)):
            raise FaultSpecError(f"{kind}: {rate!r} is not a number")
        if not 0.0 <= rate <= 1.0:  # NaN fails this too
            raise FaultSpecError(f"{kind}={rate}: a rate must be between 0 and 1")
        spec[kind] = float(rate)
    shared = sum(spec[kind] for kind in SHARED_DRAW)
    if shared > 1.0 + 1e-9:
        raise FaultSpecError(
            f"throttle + error5xx + lost = {shared:g} is over 1 (they share one draw per request)"
        )
    return spec


def parse_spec(text):
    """`throttle=0.05,error5xx=0.05,lost=0.03,conflict=0.15`; empty or `none`: no faults."""
    text = text.strip()
    if text == "" or text.lower() == "none":
        return checked_spec({})
    rates = {}
    for part in text.split(","):
        kind, equals, value = part.strip().partition("=")
        kind = kind.strip()
        if not equals:
            raise FaultSpecError(f"{part.strip()!r} needs a rate, as in throttle=0.05")
        if kind in rates:
            raise FaultSpecError(f"{kind} is given twice")
        try:
            rates[kind] = float(value)
        except ValueError:
            raise FaultSpecError(f"{part.strip()!r}: {value.strip()!r} is not a number") from None
    return checked_spec(rates)


# --- WSGI middleware, outermost first ------------------------------------------------------


class Port:
    """Marks each request with the port it came in on."""

    def __init__(self, app, functions):
        self.app = app
        self.functions = functions

    def __call__(self, environ, start_response):
        environ[FUNCTIONS_PORT] = self.functions
        return self.app(environ, start_response)


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
        path = environ.get("PATH_INFO", "")
        if path == self.PATH:
            return self.report(start_response)
        if path.startswith("/_dev/"):
            return self.app(environ, start_response)  # the local cloud's controls: not counted
        started = time.perf_counter()
        service, operation, body = self.identify(environ)
        environ[CALL] = (service, operation, body)
        response = drained(self.app(environ, start_response))
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
            if target.startswith(STREAMS_TARGET):
                service = "dynamodbstreams"  # signed as dynamodb
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
        return answer(start_response, 200, [("Content-Type", "application/json")], body)


class Faults:
    """The fault spec, the draws and the counts of what was injected."""

    def __init__(self, spec):
        self.lock = threading.Lock()
        self.spec = spec
        self.random = random.Random()
        self.injected = {}

    def set(self, spec):
        with self.lock:
            self.spec = spec

    def draw(self, transaction):
        """The fault for one request: None, or one of FAULT_KINDS."""
        with self.lock:
            spec = self.spec
            throttle, error5xx, lost = (spec[kind] for kind in SHARED_DRAW)
            if not (throttle or error5xx or lost or (transaction and spec["conflict"])):
                return None
            r = self.random.random()
            if r < throttle:
                return "throttle"
            if r < throttle + error5xx:
                return "error5xx"
            if transaction and self.random.random() < spec["conflict"]:
                return "conflict"
            if r < throttle + error5xx + lost:
                return "lost"
            return None

    def pick(self, count):
        with self.lock:
            return self.random.randrange(count)

    def count(self, kind, service, operation):
        with self.lock:
            key = (kind, service, operation)
            self.injected[key] = self.injected.get(key, 0) + 1

    def report(self, modelled_conflicts):
        with self.lock:
            injected = [
                {"kind": kind, "service": service, "operation": operation, "count": count}
                for (kind, service, operation), count in sorted(self.injected.items())
            ]
            return {"spec": dict(self.spec), "injected": injected, "modelled_conflicts": modelled_conflicts}


class FaultInjection:
    """WSGI middleware: `/_dev/faults`, and the faults on the functions' port (module docstring)."""

    PATH = "/_dev/faults"
    XML_NAMESPACES = {
        "sns": "http://sns.amazonaws.com/doc/2010-03-31/",
        "sqs": "http://queue.amazonaws.com/doc/2012-11-05/",
    }
    # (status, code, message) per service and fault, and for any other service.
    ERRORS = {
        ("dynamodb", "throttle"): (400, "ThrottlingException", "Rate of requests exceeds the allowed throughput."),
        ("dynamodb", "error5xx"): (500, "InternalServerError", "Internal server error"),
        ("sqs", "throttle"): (400, "RequestThrottled", "Rate exceeded"),
        ("sqs", "error5xx"): (
            500,
            "InternalFailure",
            "The request processing has failed because of an unknown error, exception or failure.",
        ),
        ("sns", "throttle"): (400, "Throttling", "Rate exceeded"),
        ("sns", "error5xx"): (500, "InternalError", "Internal Error"),
    }
    JSON_ERRORS = {
        "throttle": (400, "ThrottlingException", "Rate exceeded"),
        "error5xx": (500, "InternalFailure", "Internal failure"),
    }
    QUERY_ERRORS = {
        "throttle": (400, "Throttling", "Rate exceeded"),
        "error5xx": (500, "InternalFailure", "Internal failure"),
    }

    def __init__(self, app, faults, conflicts):
        self.app = app
        self.faults = faults
        self.conflicts = conflicts

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == self.PATH:
            return self.control(environ, start_response)
        if not environ.get(FUNCTIONS_PORT) or path.startswith(("/_dev/", "/moto-api")):
            return self.app(environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith(STREAMS_TARGET):
            return self.app(environ, start_response)
        service, operation, body = environ.get(CALL) or ("unknown", "?", b"")
        transaction = target == DYNAMODB_TARGET + "TransactWriteItems"
        kind = self.faults.draw(transaction)
        if kind is None:
            return self.app(environ, start_response)
        if kind == "conflict":
            try:
                request = json.loads(body)
                items = len(request["TransactItems"])
                replay = self.conflicts.completed(request.get("ClientRequestToken"))
            except (ValueError, KeyError, TypeError, AttributeError):
                items, replay = 0, False
            if items == 0 or replay:  # malformed (moto says why), or answered by (e)
                return self.app(environ, start_response)
            self.faults.count(kind, service, operation)
            victim = self.faults.pick(items)
            return transaction_cancelled(start_response, [i == victim for i in range(items)])
        self.faults.count(kind, service, operation)
        if kind == "lost":
            drained(self.app(environ, lambda status, headers, exc_info=None: None))
            kind = "error5xx"
        return self.error(environ, start_response, service, kind)

    def error(self, environ, start_response, service, kind):
        """The error the service sends for `kind`, in the protocol the client used."""
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        rid = request_id()
        if target.startswith(DYNAMODB_TARGET):
            status, code, message = self.ERRORS[("dynamodb", kind)]
            return dynamodb_error(start_response, status, code, {"__type": DYNAMODB_ERROR + code, "message": message})
        status, code, message = self.ERRORS.get((service, kind)) or (
            self.JSON_ERRORS[kind] if target else self.QUERY_ERRORS[kind]
        )
        fault = "Sender" if status < 500 else "Receiver"
        if target:
            # JSON protocols; SQS (AmazonSQS.*) is JSON 1.0 with query-compatible errors.
            namespace = "com.amazonaws.sqs#" if target.startswith("AmazonSQS.") else ""
            headers = [
                ("Content-Type", environ.get("CONTENT_TYPE") or "application/x-amz-json-1.0"),
                ("X-Amzn-ErrorType", namespace + code),
                ("x-amzn-RequestId", rid),
            ]
            if namespace:
                headers.append(("x-amzn-query-error", f"{code};{fault}"))
            body = json.dumps({"__type": namespace + code, "message": message}).encode()
            return answer(start_response, status, headers, body)
        if self.query_protocol(environ):
            xmlns = self.XML_NAMESPACES.get(service)
            opening = f'<ErrorResponse xmlns="{xmlns}">' if xmlns else "<ErrorResponse>"
            body = (
                f"{opening}<Error><Type>{fault}</Type><Code>{code}</Code>"
                f"<Message>{escape(message)}</Message></Error>"
                f"<RequestId>{rid}</RequestId></ErrorResponse>"
            ).encode()
            return answer(start_response, status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)], body)
        # REST protocols: restJson1 reads the code from this header.
        body = json.dumps({"message": message}).encode()
        headers = [("Content-Type", "application/json"), ("X-Amzn-ErrorType", code), ("x-amzn-RequestId", rid)]
        return answer(start_response, status, headers, body)

    @staticmethod
    def query_protocol(environ):
        if "Action" in parse_qs(environ.get("QUERY_STRING", "")):
            return True
        return "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", "")

    def control(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if length > 0 else b""
            try:
                rates = json.loads(raw or b"{}")
                if not isinstance(rates, dict):
                    raise FaultSpecError("expected a JSON object of rates, as in {\"throttle\": 0.05}")
                self.faults.set(checked_spec(rates))
            except ValueError as error:  # FaultSpecError and JSON errors
                body = json.dumps({"error": str(error)}).encode()
                return answer(start_response, 400, [("Content-Type", "application/json")], body)
        elif method != "GET":
            body = json.dumps({"error": "GET or POST"}).encode()
            return answer(start_response, 405, [("Content-Type", "application/json"), ("Allow", "GET, POST")], body)
        report = self.faults.report(self.conflicts.count)
        return answer(start_response, 200, [("Content-Type", "application/json")], json.dumps(report).encode())


class TransactionConflicts:
    """WSGI middleware: adjustments (d) and (e) of the module docstring."""

    SINGLE_WRITES = ("PutItem", "UpdateItem", "DeleteItem")
    WATCHED = SINGLE_WRITES + ("BatchWriteItem", "TransactWriteItems", "TransactGetItems")
    SCOPE = re.compile(r"Credential=([^/]*)/[^/]*/([^/]*)/")

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        # item -> [in-flight TransactWriteItems, other in-flight writes]
        self.held = {}
        self.count = 0
        self.running_tokens = set()
        # token -> (request digest, response body, monotonic time it completed)
        self.done_tokens = OrderedDict()

    def __call__(self, environ, start_response):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        operation = target[len(DYNAMODB_TARGET) :] if target.startswith(DYNAMODB_TARGET) else None
        if operation not in self.WATCHED:
            return self.app(environ, start_response)
        try:
            request = json.loads((environ.get(CALL) or (None, None, b""))[2] or b"{}")
            items = self.items(environ, operation, request)
        except (ValueError, AttributeError, TypeError, KeyError, IndexError):
            return self.app(environ, start_response)  # malformed: moto says why

        token = request.get("ClientRequestToken") if operation == "TransactWriteItems" else None
        digest = None
        with self.lock:
            if token is not None:
                digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
                replay = self.check_token(start_response, token, digest)
                if replay is not None:
                    return replay
            slot = 0 if operation == "TransactWriteItems" else 1
            if operation == "TransactGetItems":
                conflicting = [item in self.held for item in items]
            elif operation == "BatchWriteItem":
                conflicting = []
            else:
                conflicting = [item is not None and self.held.get(item, (0, 0))[0] > 0 for item in items]
            if any(conflicting):
                self.count += 1
            elif operation != "TransactGetItems":
                for item in items:
                    if item is not None:
                        self.held.setdefault(item, [0, 0])[slot] += 1
                if token is not None:
                    self.running_tokens.add(token)
        if any(conflicting):
            if operation in self.SINGLE_WRITES:
                body = {
                    "__type": DYNAMODB_ERROR + "TransactionConflictException",
                    "message": CONFLICT_REASON["Message"],
                }
                return dynamodb_error(start_response, 400, "TransactionConflictException", body)
            return transaction_cancelled(start_response, conflicting)
        if operation == "TransactGetItems":
            return self.app(environ, start_response)

        status = []

        def remember_status(line, headers, exc_info=None):
            status.append(line)
            return start_response(line, headers, exc_info)

        try:
            body = drained(self.app(environ, remember_status))
        finally:
            with self.lock:
                for item in items:
                    if item is not None:
                        entry = self.held[item]
                        entry[slot] -= 1
                        if entry == [0, 0]:
                            del self.held[item]
                if token is not None:
                    self.running_tokens.discard(token)
        if token is not None and status and status[0].startswith("200"):
            with self.lock:
                self.done_tokens[token] = (digest, body, time.monotonic())
        return [body]

    def completed(self, token):
        """Whether (e) would answer this token from memory (if the request is the same)."""
        with self.lock:
            return token is not None and token in self.done_tokens

    def check_token(self, start_response, token, digest):
        """Adjustment (e), under self.lock: an answer, or None to go on."""
        now = time.monotonic()
        while self.done_tokens:
            oldest = next(iter(self.done_tokens.values()))
            if now - oldest[2] < TOKEN_LIFETIME:
                break
            self.done_tokens.popitem(last=False)
        done = self.done_tokens.get(token)
        if done is not None:
            if done[0] == digest:
                headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", request_id())]
                headers.append(("x-amz-crc32", str(zlib.crc32(done[1]) & 0xFFFFFFFF)))
                return answer(start_response, 200, headers, done[1])
            body = {
                "__type": DYNAMODB_ERROR + "IdempotentParameterMismatchException",
                "message": "The request uses the same client token as a previous, but non-identical request.",
            }
            return dynamodb_error(start_response, 400, "IdempotentParameterMismatchException", body)
        if token in self.running_tokens:
            body = {
                "__type": DYNAMODB_ERROR + "TransactionInProgressException",
                "message": "The transaction with the given request token is already in progress.",
            }
            return dynamodb_error(start_response, 400, "TransactionInProgressException", body)
        return None

    def items(self, environ, operation, request):
        """The items a request names, in order: (account, region, table, key) or None."""
        scope = self.SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        access_key, region = scope.groups() if scope else ("", "us-east-1")
        tables = self.tables(environ, access_key, region)

        def key(table_name, attributes, whole_key):
            return self.item(tables, region, table_name, attributes, whole_key)

        if operation == "PutItem":
            return [key(request["TableName"], request["Item"], False)]
        if operation in ("UpdateItem", "DeleteItem"):
            return [key(request["TableName"], request["Key"], True)]
        if operation == "BatchWriteItem":
            found = []
            for table_name, writes in request["RequestItems"].items():
                for write in writes:
                    if "PutRequest" in write:
                        found.append(key(table_name, write["PutRequest"]["Item"], False))
                    elif "DeleteRequest" in write:
                        found.append(key(table_name, write["DeleteRequest"]["Key"], True))
            return found
        found = []
        for entry in request["TransactItems"]:
            (kind, parameters), = entry.items()
            if kind == "Put":
                found.append(key(parameters["TableName"], parameters["Item"], False))
            else:  # Update, Delete, ConditionCheck; Get
                found.append(key(parameters["TableName"], parameters["Key"], True))
        return found

    @staticmethod
    def tables(environ, access_key, region):
        """moto's tables for the caller's account and region, as moto finds the account."""
        from moto.dynamodb.models import dynamodb_backends
        from moto.iam.models import get_account_id_from

        account = os.environ.get("MOTO_ACCOUNT_ID") or environ.get("HTTP_X_MOTO_ACCOUNT_ID")
        if not account:
            account = get_account_id_from(access_key)
        return account, dynamodb_backends[account][region].tables

    @staticmethod
    def item(tables, region, table_name, attributes, whole_key):
        account, by_name = tables
        name = table_name.split(":table/", 1)[1] if table_name.startswith("arn:") else table_name
        table = by_name.get(name)
        if table is None:
            if not whole_key:
                return None  # moto refuses the request
            key = attributes
        else:
            names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
            if any(n not in attributes for n in names):
                return None  # moto refuses the request
            key = {n: attributes[n] for n in names}
        return (account, region, name, json.dumps(key, sort_keys=True))


class SerializedDynamoDB:
    """WSGI middleware: one DynamoDB request at a time, everything else concurrently."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith(DYNAMODB_TARGET):
            return self.app(environ, start_response)
        with self.lock:
            # The response iterable may still do work lazily: drain it inside the lock.
            body = drained(self.app(environ, start_response))
        return [body]


# --- Patches to moto's models --------------------------------------------------------------


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


def stream_records_per_request():
    """Adjustment (f): see the module docstring. Applied after (c), so it wraps it."""
    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models.table import StreamShard

    local = threading.local()
    add = StreamShard.add

    def held_back(shard, old, new):
        pending = getattr(local, "pending", None)
        if pending is None:
            write(shard, old, new)
        else:
            pending.append((shard, old, new))

    def write(shard, old, new):
        if old is None and new is None:
            return
        if old is not None and new is not None and old.to_json() == new.to_json():
            return  # nothing changed: AWS writes no record
        before = len(shard.items)
        add(shard, old, new)
        if len(shard.items) > before:
            record = shard.items[-1].record["dynamodb"]
            created = record.get("ApproximateCreationDateTime")
            if hasattr(created, "replace"):
                record["ApproximateCreationDateTime"] = created.replace(microsecond=0)

    def item_key(shard, item):
        range_key = item.range_key.to_json() if item.range_key is not None else None
        return id(shard), json.dumps(item.hash_key.to_json(), sort_keys=True), json.dumps(range_key, sort_keys=True)

    def per_item(pending):
        """One (shard, first old, last new) per item, in the order of first writes."""
        merged = OrderedDict()
        for shard, old, new in pending:
            key = item_key(shard, old if old is not None else new)
            if key in merged:
                merged[key][2] = new
            else:
                merged[key] = [shard, old, new]
        return merged.values()

    def whole_request(method):
        def wrapper(self, *args, **kwargs):
            if getattr(local, "pending", None) is not None:
                return method(self, *args, **kwargs)  # part of an outer write
            local.pending = []
            try:
                result = method(self, *args, **kwargs)
                pending = local.pending
            finally:
                local.pending = None
            for shard, old, new in per_item(pending):
                write(shard, old, new)
            return result

        return wrapper

    StreamShard.add = held_back
    backend = dynamodb_models.DynamoDBBackend
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        setattr(backend, name, whole_request(getattr(backend, name)))


def expire_shard_iterators():
    """Adjustment (g): see the module docstring."""
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    lock = threading.Lock()
    handed_out = OrderedDict()  # iterator -> (backend, monotonic time)
    get_shard_iterator = DynamoDBStreamsBackend.get_shard_iterator
    get_records = DynamoDBStreamsBackend.get_records

    def remember(backend, iterator, now):
        with lock:
            handed_out[iterator] = (backend, now)
            while handed_out:
                iterator, (owner, since) = next(iter(handed_out.items()))
                if now - since < SHARD_ITERATOR_LIFETIME:
                    break
                handed_out.popitem(last=False)
                owner.shard_iterators.pop(iterator, None)

    def get_shard_iterator_expiring(self, *args, **kwargs):
        iterator = get_shard_iterator(self, *args, **kwargs)
        remember(self, iterator.arn, time.monotonic())
        return iterator

    def get_records_expiring(self, iterator_arn, limit):
        if iterator_arn not in self.shard_iterators:
            raise JsonRESTError(
                "com.amazonaws.dynamodb.v20120810#ExpiredIteratorException",
                "Iterator expired. Shard iterators are valid for 15 minutes: get a new one.",
            )
        result = get_records(self, iterator_arn, limit)
        remember(self, result["NextShardIterator"], time.monotonic())
        return result

    DynamoDBStreamsBackend.get_shard_iterator = get_shard_iterator_expiring
    DynamoDBStreamsBackend.get_records = get_records_expiring


# --- Server --------------------------------------------------------------------------------


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
    parser.add_argument("--functions-port", type=int, default=0, help="the functions' port, where faults are injected")
    parser.add_argument(
        "--faults", default="none", help="initial fault spec: throttle=0.05,error5xx=0.05,lost=0.03,conflict=0.15"
    )
    parser.add_argument("--quiet", action="store_true", help="log warnings and errors, not every request")
    args = parser.parse_args()
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        spec = parse_spec(args.faults)
    except FaultSpecError as error:
        fail(f"--faults {args.faults}: {error}")

    import moto.dynamodb.responses as dynamodb_responses
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    dynamodb_responses.TRANSACTION_MAX_ITEMS = TRANSACTION_MAX_ITEMS
    undo_failed_transactions_item_by_item()
    stream_records_per_request()
    expire_shard_iterators()

    conflicts = TransactionConflicts(SerializedDynamoDB(DomainDispatcherApplication(create_backend_app)))
    app = RequestCounts(FaultInjection(conflicts, Faults(spec), conflicts))
    servers = []
    for port, functions in ((args.port, False), (args.functions_port, True)):
        try:
            servers.append(
                make_server(args.host, port, Port(app, functions), threaded=True, request_handler=MotoRequestHandler)
            )
        except (OSError, SystemExit):
            # werkzeug prints its own reason to stderr and exits; say it on our one stdout line.
            fail(bind_failure(args.host, port))

    # Request threads are daemons; os._exit below does not wait for open long polls.
    for server, name in zip(servers, ("moto", "moto-functions")):
        threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
    print(f"listening on http://{args.host}:{servers[0].server_port}", flush=True)
    print(f"functions on http://{args.host}:{servers[1].server_port}", flush=True)

    def stop(_signum, _frame):
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)


if __name__ == "__main__":
    main()
