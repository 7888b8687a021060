"""A real OTLP trace receiver for the tests, over HTTP (protobuf) or gRPC, built on the
official protobuf definitions (opentelemetry-proto). It keeps every span it receives, so
tests assert on what actually arrived, not on what the exporter claims it sent."""

import http.server
import threading
import time
from concurrent import futures

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


def _attrs(kvs):
    out = {}
    for kv in kvs:
        v = kv.value
        kind = v.WhichOneof("value")
        out[kv.key] = getattr(v, kind) if kind else None
    return out


class Span:
    def __init__(self, s, resource):
        self.name = s.name
        self.trace_id = s.trace_id.hex()
        self.span_id = s.span_id.hex()
        self.parent_span_id = s.parent_span_id.hex()
        self.kind = s.kind
        self.attributes = _attrs(s.attributes)
        self.status_code = s.status.code
        self.resource = resource

    def __repr__(self):
        return f"Span({self.name!r}, trace={self.trace_id[:8]}, parent={self.parent_span_id[:8]}, attrs={self.attributes})"


class Receiver:
    def __init__(self):
        self.spans = []
        self.lock = threading.Lock()
        self.requests = 0

    def ingest(self, req):
        with self.lock:
            self.requests += 1
            for rs in req.resource_spans:
                resource = _attrs(rs.resource.attributes)
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        self.spans.append(Span(s, resource))

    def wait_for(self, pred, timeout=30):
        """Waits until some received span satisfies pred; returns it."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                for s in self.spans:
                    if pred(s):
                        return s
            time.sleep(0.2)
        with self.lock:
            raise AssertionError(f"no matching span in {len(self.spans)} received: {self.spans[:20]}")

    def trace(self, trace_id):
        with self.lock:
            return [s for s in self.spans if s.trace_id == trace_id]


class HttpReceiver(Receiver):
    """OTLP/HTTP with protobuf bodies at POST /v1/traces."""

    def __init__(self):
        super().__init__()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                receiver.ingest(trace_service_pb2.ExportTraceServiceRequest.FromString(body))
                out = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class GrpcReceiver(Receiver):
    """OTLP/gRPC: the TraceService.Export call."""

    def __init__(self):
        super().__init__()
        receiver = self

        class Service(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request, context):
                receiver.ingest(request)
                return trace_service_pb2.ExportTraceServiceResponse()

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), self.server)
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.endpoint = f"http://127.0.0.1:{port}"

    def close(self):
        self.server.stop(grace=None)
