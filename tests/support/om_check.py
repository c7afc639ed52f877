# Reads OpenMetrics text on stdin; exits 0 when prometheus_client's strict parser accepts
# it, 1 (with the reason) when it rejects it. Used by the conformance tests.
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families

text = sys.stdin.buffer.read().decode("utf-8")
try:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            pass
except Exception as error:  # the parser raises ValueError and friends
    print(f"{type(error).__name__}: {error}")
    sys.exit(1)
