"""A stand-in Lambda function for the runtime host's tests: a Runtime API client.

Each event is a JSON object whose "action" says what to do:
  echo  (default) answer {"event": <event>, "env": {...}, "deadline_ms": ..., "pid": ...}
  error           report an invocation error
  crash           exit the process without answering
  sleep           sleep longer than any test timeout
"""

import json
import os
import sys
import time
import urllib.request

API = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime"
ENV_KEYS = [
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "CUSTOM",
    "HOME",
]


def post(path, document, headers=None):
    request = urllib.request.Request(
        f"{API}/{path}",
        data=json.dumps(document).encode(),
        headers={"content-type": "application/json", **(headers or {})},
        method="POST",
    )
    urllib.request.urlopen(request).read()


def main():
    print(json.dumps({"msg": "fake function started", "pid": os.getpid()}), flush=True)
    while True:
        with urllib.request.urlopen(f"{API}/invocation/next") as response:
            request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
            deadline_ms = int(response.headers["Lambda-Runtime-Deadline-Ms"])
            arn = response.headers["Lambda-Runtime-Invoked-Function-Arn"]
            trace = response.headers["Lambda-Runtime-Trace-Id"]
            event = json.loads(response.read())
        action = event.get("action", "echo") if isinstance(event, dict) else "echo"
        if action == "crash":
            print("crashing on purpose", file=sys.stderr, flush=True)
            os._exit(3)
        if action == "sleep":
            time.sleep(3600)
        if action == "error":
            post(
                f"invocation/{request_id}/error",
                {"errorType": "FakeError", "errorMessage": "failed on purpose"},
                {"Lambda-Runtime-Function-Error-Type": "FakeError"},
            )
            continue
        post(
            f"invocation/{request_id}/response",
            {
                "event": event,
                "env": {key: os.environ.get(key) for key in ENV_KEYS},
                "deadline_ms": deadline_ms,
                "arn": arn,
                "trace": trace,
                "pid": os.getpid(),
            },
        )


if __name__ == "__main__":
    main()
