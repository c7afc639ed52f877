# Parses OpenMetrics text on stdin with prometheus_client's strict parser and prints the
# families as JSON (NaN and infinities as strings), for the conformance tests to compare.
import json, math, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families

def num(v):
    if v is None: return None
    v = float(v)
    if math.isnan(v): return "NaN"
    if math.isinf(v): return "+Inf" if v > 0 else "-Inf"
    return v

out = []
for f in text_string_to_metric_families(sys.stdin.buffer.read().decode("utf-8")):
    samples = []
    for s in f.samples:
        ex = None
        if s.exemplar is not None:
            ex = {"labels": s.exemplar.labels, "value": num(s.exemplar.value)}
        samples.append({"name": s.name, "labels": s.labels, "value": num(s.value), "timestamp": None if s.timestamp is None else str(s.timestamp), "exemplar": ex})
    out.append({"name": f.name, "type": f.type, "unit": f.unit, "help": f.documentation, "samples": samples})
print(json.dumps(out))
