#!/usr/bin/env python3
"""moto's server, answering one request at a time.

moto_server answers each request on a thread of its own, and its DynamoDB
`TransactWriteItems` takes no lock: two transactions on the same items
interleave, and a cancelled one rolls the whole table back to the copy it
took when it began, erasing a transaction that succeeded meanwhile. Real
DynamoDB runs transactions serializably, which is what the router's route
store relies on (and its tests check). Serving one request at a time gives
moto the same isolation; connections are still kept alive and served on
threads, only the requests' handling is serialized.

    moto-venv/bin/python tests/testbeds/moto_serial.py -H 127.0.0.1 -p 5005

Takes moto_server's own arguments.
"""

import sys
import threading

import moto.server as server

_one_at_a_time = threading.Lock()
_dispatch = server.DomainDispatcherApplication.__call__


def _serialized(self, environ, start_response):
    with _one_at_a_time:
        # moto builds the whole response inside the call; the body is
        # materialized before the lock is released.
        return list(_dispatch(self, environ, start_response))


server.DomainDispatcherApplication.__call__ = _serialized

if __name__ == "__main__":
    sys.exit(server.main())
